#!/bin/bash
# underlay: root-ns Linux bridge wfxbr0; hosts = netns wfxh1..3 with eth0 (veth) on it
set -e
ip link add wfxbr0 type bridge; ip link set wfxbr0 up
for n in 1 2 3; do
  ip netns add wfxh$n
  ip link add wfxh${n}u type veth peer name eth0 netns wfxh$n
  ip link set wfxh${n}u master wfxbr0 up
  ip -n wfxh$n link set lo up
  ip -n wfxh$n link set eth0 up
done
