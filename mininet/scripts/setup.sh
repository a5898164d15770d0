#!/usr/bin/env bash
# Weft: prepare this machine to build and test the project.
#
# Idempotent and safe to rerun. Runs as root on a fresh Debian 12 machine with
# Node 20. Steps:
#   1. install missing Debian packages (apt-get update only if something is missing;
#      service starts are blocked during the install, we start OVS ourselves);
#   2. npm ci (only if node_modules is missing or package-lock.json is newer);
#   3. make sure the native module better-sqlite3 is built;
#   4. npm run build;
#   5. start Open vSwitch (mininet/scripts/ensure-ovs.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

PACKAGES=(openvswitch-switch mininet iputils-ping iperf3 ethtool tcpdump iproute2
          python3-os-ken openssl containernetworking-plugins gcc libc6-dev bird2
          golang-go golang-github-appc-cni-dev
          docker.io busybox-static chromium
          etcd-server strongswan-charon strongswan-swanctl libcharon-extra-plugins)

# Prints the packages from PACKAGES that are not fully installed.
missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -qx 'install ok installed'; then
      printf '%s\n' "$p"
    fi
  done
}

# Keeps package maintainer scripts from starting services while installing
# (openvswitch-switch's init script would try to load a kernel module and fail).
POLICY=/usr/sbin/policy-rc.d
POLICY_CREATED=0
block_service_starts() {
  if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\n# temporary, created by weft setup.sh\nexit 101\n' >"$POLICY"
    chmod 0755 "$POLICY"
    POLICY_CREATED=1
  fi
}
restore_service_starts() {
  if [[ $POLICY_CREATED == 1 ]]; then rm -f "$POLICY"; POLICY_CREATED=0; fi
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    log "Debian packages: all present"
    return 0
  fi
  [[ $(id -u) == 0 ]] || die "missing packages (${missing[*]}) and not root"
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  block_service_starts
  trap restore_service_starts EXIT
  apt-get update -q
  # A failing service start in a postinst must not stop us: finish configuring
  # whatever can be configured, then check what is actually installed.
  if ! apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "${missing[@]}" </dev/null; then
    log "apt-get install reported an error; trying dpkg --configure -a"
    dpkg --configure -a </dev/null || true
  fi
  restore_service_starts
  trap - EXIT
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) || die "packages still not installed: ${missing[*]}"
}

# True if node_modules needs (re)installing from package-lock.json.
need_npm_ci() {
  [[ ! -d node_modules ]] && return 0
  [[ ! -f node_modules/.package-lock.json ]] && return 0
  [[ package-lock.json -nt node_modules/.package-lock.json ]] && return 0
  return 1
}

install_node_modules() {
  if need_npm_ci; then
    log "npm ci"
    npm ci --no-audit --no-fund </dev/null
  else
    log "node_modules up to date; skipping npm ci"
  fi
  ensure_better_sqlite3
}

sqlite_loads() {
  node -e "require('better-sqlite3')(':memory:').close()" >/dev/null 2>&1
}

# npm (11.16+ in advisory mode, 12 by default) may skip dependency install
# scripts, leaving the native module better-sqlite3 unbuilt. Make sure it loads.
ensure_better_sqlite3() {
  sqlite_loads && return 0
  log "better-sqlite3 does not load; npm rebuild better-sqlite3"
  npm rebuild better-sqlite3 --ignore-scripts=false </dev/null || true
  sqlite_loads && return 0
  log "still not loading; running better-sqlite3's install script directly"
  (cd node_modules/better-sqlite3 &&
    npm run install --ignore-scripts=false </dev/null) || true
  sqlite_loads || die "better-sqlite3 does not load: $(node -e "require('better-sqlite3')(':memory:')" 2>&1 | head -5)"
}

install_packages
install_node_modules
log "npm run build"
npm run build </dev/null
bash "$ROOT/mininet/scripts/ensure-ovs.sh"
log "done"
