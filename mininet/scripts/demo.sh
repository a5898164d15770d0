#!/usr/bin/env bash
# Weft demo (the README's run command, after setup.sh): the controller on its
# embedded defaults (OpenFlow 6653, REST http://127.0.0.1:8080, ./weft.db,
# apps "forwarding"), and a Mininet ring of 4 switches pointed at it. The
# controller writes its admin token to ./weft-admin.token (mode 0600, next to
# the database; made on the first start, kept after), and the lab reads it.
# The lab reports discovery and pingall, then stays up: try
#   curl -s -H "Authorization: Bearer $(cat weft-admin.token)" localhost:8080/v1/topology | head -c 600
# Ctrl-C stops the lab and the controller.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
TOKEN_FILE="$ROOT/weft-admin.token"

node dist/northbound/cli/weft.js controller --admin-token-file "$TOKEN_FILE" &
CTL=$!
trap 'kill $CTL 2>/dev/null; wait $CTL 2>/dev/null || true' EXIT INT TERM
"$ROOT/mininet/lab" "${WEFT_DEMO_TOPO:-ring}" ${WEFT_DEMO_PARAMS:-4} --controller 127.0.0.1:6653 --api http://127.0.0.1:8080 \
  --admin-token-file "$TOKEN_FILE" --keep
