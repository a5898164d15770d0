#!/bin/bash
# stop everything created by topo.sh/host-up.sh (only wfx* things, only our own pids)
W=/tmp/wfx
for n in 1 2 3; do
  [ -f $W/h$n/charon.pid ] && kill $(cat $W/h$n/charon.pid) 2>/dev/null
  [ -f $W/h$n/charon.launcher.pid ] && kill $(cat $W/h$n/charon.launcher.pid) 2>/dev/null
done
sleep 1
for n in 1 2 3; do
  for p in ovs-vswitchd ovsdb-server; do [ -f $W/ovs$n/$p.pid ] && kill $(cat $W/ovs$n/$p.pid) 2>/dev/null; done
done
sleep 1
for ns in $(ip netns list | awk '/^wfx/{print $1}'); do
  pids=$(ip netns pids $ns); [ -n "$pids" ] && kill $pids 2>/dev/null
done
sleep 0.5
for ns in $(ip netns list | awk '/^wfx/{print $1}'); do ip netns del $ns; done
for l in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^wfx'); do ip link del $l 2>/dev/null; done
rm -rf $W/ovs1 $W/ovs2 $W/ovs3
