#!/usr/bin/env bash
# The demo's container hosts (mininet/hostlab) with a few containers, next
# to a running Weft controller:
#   demo-hosts.sh up     two emulated hosts h1, h2 (their br-int connect to
#                        the controller over the underlay), registered with
#                        their own host tokens; networks blue (overlay, VXLAN
#                        between the hosts) and red (local); containers web
#                        (h1, blue), db (h1, red), api (h2, blue), cache (h2,
#                        blue); then web pings api across the tunnel
#   demo-hosts.sh down   detach the containers, unregister and stop the hosts,
#                        delete the two networks, remove every namespace,
#                        link and daemon the lab made
# Env: WEFT_API (http://127.0.0.1:8080), WEFT_TOKEN_FILE (./weft-admin.token),
# WEFT_DEMO_OF (the OpenFlow target the hosts dial, tcp:<underlay .1>:6653),
# WEFT_DEMO_SUBNET (172.31.250.0/24), WEFT_DEMO_UNDERLAY (lab: bridge wfulab),
# WEFT_DEMO_PREFIX (wf-), WEFT_DEMO_DIR (/tmp/weft-emu). Needs root and a build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
API="${WEFT_API:-http://127.0.0.1:8080}"
TOKEN_FILE="${WEFT_TOKEN_FILE:-$ROOT/weft-admin.token}"
SUBNET="${WEFT_DEMO_SUBNET:-172.31.250.0/24}"
GW="${SUBNET%.*}.1"
OF="${WEFT_DEMO_OF:-tcp:$GW:6653}"
LAB=("$ROOT/mininet/hostlab")
OPTS=(--base-dir "${WEFT_DEMO_DIR:-/tmp/weft-emu}" --prefix "${WEFT_DEMO_PREFIX:-wf-}" --underlay "${WEFT_DEMO_UNDERLAY:-lab}")

log() { printf '[demo-hosts] %s\n' "$*" >&2; }
# an admin call to the API; prints the status code, the body goes to $BODY
BODY="$(mktemp)"
trap 'rm -f "$BODY"' EXIT
call() {
  local method=$1 url=$2 data=${3:-}
  curl -s -o "$BODY" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $(cat "$TOKEN_FILE")" \
    ${data:+-H 'Content-Type: application/json' --data "$data"} "$API$url"
}
network() {
  local code
  code=$(call POST /v1/networks "$1")
  [[ $code == 201 || $code == 409 ]] || { log "creating network $1: $code $(cat "$BODY")"; return 1; }
}

case "${1:-}" in
  up)
    [[ -r $TOKEN_FILE ]] || { log "no admin token file $TOKEN_FILE (the controller writes it at its first start)"; exit 1; }
    log "two emulated container hosts on $SUBNET, OpenFlow to $OF"
    "${LAB[@]}" up 2 --controller "$OF" --api "$API" --admin-token-file "$TOKEN_FILE" --subnet "$SUBNET" --mtu 1600 "${OPTS[@]}" >/dev/null
    network '{"name":"blue","cidr":"10.91.0.0/16","mode":"overlay"}'
    network '{"name":"red","cidr":"10.92.0.0/24","mode":"local"}'
    for c in "h1 web blue" "h1 db red" "h2 api blue" "h2 cache blue"; do
      # shellcheck disable=SC2086
      "${LAB[@]}" attach $c "${OPTS[@]}" >/dev/null
    done
    WEB_NS="${WEFT_DEMO_PREFIX:-wf-}c-web"
    API_IP=$(ip -n "${WEFT_DEMO_PREFIX:-wf-}c-api" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
    # the first packet to a new remote host may be lost while OVS resolves the tunnel's neighbour
    if ip netns exec "$WEB_NS" ping -c 3 -i 0.3 -W 2 "$API_IP" >/dev/null 2>&1 || ip netns exec "$WEB_NS" ping -c 2 -W 2 "$API_IP" >/dev/null 2>&1; then
      log "web (h1) reaches api ($API_IP, h2) through the VXLAN tunnel"
    else
      log "web (h1) does not reach api ($API_IP, h2): try a trace in the UI"
    fi
    ;;
  down)
    "${LAB[@]}" down "${OPTS[@]}" >/dev/null || log "hostlab down failed"
    if [[ -r $TOKEN_FILE ]]; then
      for n in blue red; do call DELETE "/v1/networks/$n" >/dev/null 2>&1 || true; done
    fi
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
