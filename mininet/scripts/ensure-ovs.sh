#!/usr/bin/env bash
# Weft: make sure the system Open vSwitch is running (idempotent).
#
# This machine has no openvswitch kernel module: OVS runs with the userspace
# datapath, so every bridge must be created with datapath_type=netdev.
# Starts ovsdb-server and ovs-vswitchd with Debian's ovs-ctl
# (/usr/share/openvswitch/scripts/ovs-ctl); if ovs-ctl refuses to start ovs-vswitchd
# (it insists on loading the kernel module when /proc/modules exists), starts
# ovs-vswitchd directly. Succeeds immediately if both are already running.
# Finishes with a smoke check: create and delete a netdev bridge.
set -euo pipefail

OVS_CTL=/usr/share/openvswitch/scripts/ovs-ctl
RUNDIR=${OVS_RUNDIR:-/var/run/openvswitch}
LOGDIR=${OVS_LOGDIR:-/var/log/openvswitch}

log() { printf '[ensure-ovs] %s\n' "$*"; }
die() { printf '[ensure-ovs] ERROR: %s\n' "$*" >&2; exit 1; }

[[ -x $OVS_CTL ]] || die "$OVS_CTL not found: install openvswitch-switch (mininet/scripts/setup.sh)"
command -v ovs-vsctl >/dev/null || die "ovs-vsctl not found"

# The userspace datapath's internal ports are tap devices.
ensure_tun() {
  if [[ ! -c /dev/net/tun ]]; then
    log "creating /dev/net/tun"
    mkdir -p /dev/net
    mknod /dev/net/tun c 10 200
    chmod 0666 /dev/net/tun
  fi
}

db_up() { ovs-vsctl --timeout=5 show >/dev/null 2>&1; }
vswitchd_up() { ovs-appctl --timeout=5 -t ovs-vswitchd version >/dev/null 2>&1; }

start_ovsdb() {
  db_up && return 0
  log "starting ovsdb-server: $OVS_CTL --no-ovs-vswitchd --system-id=random start"
  "$OVS_CTL" --no-ovs-vswitchd --system-id=random start
}

start_vswitchd() {
  vswitchd_up && return 0
  log "starting ovs-vswitchd: $OVS_CTL --no-ovsdb-server --no-monitor --no-mlockall --system-id=random start"
  if "$OVS_CTL" --no-ovsdb-server --no-monitor --no-mlockall --system-id=random start; then
    return 0
  fi
  log "ovs-ctl could not start ovs-vswitchd (kernel module?); starting it directly"
  mkdir -p "$RUNDIR" "$LOGDIR"
  ovs-vswitchd "unix:$RUNDIR/db.sock" -vconsole:emer -vsyslog:err -vfile:info \
    --no-chdir --log-file="$LOGDIR/ovs-vswitchd.log" \
    --pidfile="$RUNDIR/ovs-vswitchd.pid" --detach
}

# Polls "$@" until it succeeds, at most $1 tenths of a second.
retry() {
  local tries=$1; shift
  local i
  for ((i = 0; i < tries; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# Creates a netdev bridge, checks ovs-vswitchd really made it, deletes it.
smoke_check() {
  local br="wtck$$"
  br=${br:0:15}
  if ! ovs-vsctl --timeout=10 add-br "$br" \
      -- set bridge "$br" datapath_type=netdev fail_mode=secure; then
    ovs-vsctl --timeout=5 --if-exists del-br "$br" || true
    die "could not create test bridge $br"
  fi
  if ! retry 50 ovs-ofctl show "$br" >/dev/null 2>&1; then
    ovs-vsctl --timeout=5 --if-exists del-br "$br" || true
    die "ovs-vswitchd did not create bridge $br (see $LOGDIR/ovs-vswitchd.log)"
  fi
  ovs-vsctl --timeout=10 del-br "$br" || die "could not delete test bridge $br"
}

ensure_tun
start_ovsdb
retry 50 db_up || die "ovsdb-server is not answering (see $LOGDIR/ovsdb-server.log)"
start_vswitchd
retry 50 vswitchd_up || die "ovs-vswitchd is not answering (see $LOGDIR/ovs-vswitchd.log)"
ovs-vsctl --timeout=5 show >/dev/null
smoke_check
log "Open vSwitch $(ovs-vsctl --timeout=5 get Open_vSwitch . ovs_version | tr -d '"') is running (userspace datapath)"
