#!/usr/bin/env bash
# Weft demo (the README's run command, after setup.sh): everything at once.
#  - the controller on its embedded defaults (OpenFlow 0.0.0.0:6653, REST and
#    the web UI on http://127.0.0.1:8080, ./weft.db, apps "forwarding"); it
#    writes its admin token to ./weft-admin.token (mode 0600, made on the
#    first start, kept after). Logs: readable (pino-pretty) when stdout is a
#    terminal, JSON lines otherwise;
#  - two emulated container hosts with four containers on an overlay and a
#    local network (mininet/scripts/demo-hosts.sh);
#  - a Mininet ring of 4 switches pointed at the same controller.
# It prints the UI's URL and how to log in, then keeps running; Ctrl-C stops
# the lab, the hosts (namespaces, links, daemons) and the controller.
# WEFT_DEMO_TOPO / WEFT_DEMO_PARAMS choose the Mininet topology (ring 4).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
TOKEN_FILE="$ROOT/weft-admin.token"
API=http://127.0.0.1:8080
export WEFT_API="$API" WEFT_TOKEN_FILE="$TOKEN_FILE"

CTL=
stopping=0
cleanup() {
  ((stopping)) && return
  stopping=1
  trap '' INT TERM
  echo "[demo] stopping: container hosts, controller" >&2
  bash "$ROOT/mininet/scripts/demo-hosts.sh" down || true
  if [[ -n $CTL ]]; then kill "$CTL" 2>/dev/null || true; wait "$CTL" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The controller (and its log formatter) run in their own session: Ctrl-C reaches the lab and this
# script, whose cleanup then detaches the containers through the API before it stops the controller.
if [[ -t 1 ]]; then
  setsid node dist/northbound/cli/weft.js controller --admin-token-file "$TOKEN_FILE" \
    > >(setsid node_modules/.bin/pino-pretty --colorize --singleLine --translateTime 'SYS:HH:MM:ss.l' --ignore pid,hostname,app) 2>&1 &
else
  setsid node dist/northbound/cli/weft.js controller --admin-token-file "$TOKEN_FILE" &
fi
CTL=$!
for _ in $(seq 1 100); do
  curl -sf "$API/v1/health" >/dev/null 2>&1 && break
  kill -0 "$CTL" 2>/dev/null || { echo "[demo] the controller exited" >&2; exit 1; }
  sleep 0.2
done
curl -sf "$API/v1/health" >/dev/null || { echo "[demo] the controller's API did not come up at $API" >&2; exit 1; }

bash "$ROOT/mininet/scripts/demo-hosts.sh" up

cat >&2 <<MSG

[demo] Weft's web UI: $API/
[demo]   log in with the admin token:  cat $TOKEN_FILE
[demo]   topology (hosts h1, h2 with their containers, the Mininet ring), endpoints
[demo]   and counters, flows by table, and traces (try web -> api, tcp 80)
[demo]   API: curl -s -H "Authorization: Bearer \$(cat weft-admin.token)" $API/v1/topology
[demo] starting the Mininet lab (${WEFT_DEMO_TOPO:-ring} ${WEFT_DEMO_PARAMS:-4}); Ctrl-C stops everything

MSG
if ! "$ROOT/mininet/lab" "${WEFT_DEMO_TOPO:-ring}" ${WEFT_DEMO_PARAMS:-4} --controller 127.0.0.1:6653 --api "$API" \
  --admin-token-file "$TOKEN_FILE" --keep; then
  echo "[demo] the Mininet lab failed (above); the controller, the UI and the container hosts stay up: Ctrl-C stops them" >&2
  sleep infinity &
  wait $!
fi
