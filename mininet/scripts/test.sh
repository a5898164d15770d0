#!/usr/bin/env bash
# Weft: run the compiled test suite with node's built-in test runner.
#
#   node --test --test-concurrency=1 <every dist/test/**/*.test.js, sorted>
#
# Node 20 takes no glob arguments, so the file list is built with find.
# Env:
#   WEFT_TEST_FILTER      extended regex (grep -E); only matching paths run,
#                         e.g. WEFT_TEST_FILTER='integration/ovs'
#   WEFT_TEST_TIMEOUT_MS  optional per-test timeout (node --test-timeout)
# A compiled test whose test/**/*.test.ts source no longer exists (stale dist/
# output) is skipped. Tests under dist/test/integration need Open vSwitch
# running (mininet/scripts/setup.sh starts it).
# The exit code is the test runner's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

[[ -d dist/test ]] || { echo "[test] dist/test missing: run npm run build first" >&2; exit 1; }

files=()
while IFS= read -r f; do
  src="${f#dist/}"; src="${src%.js}.ts"
  [[ -f $src ]] || { echo "[test] skipping stale $f (no $src)" >&2; continue; }
  if [[ -n ${WEFT_TEST_FILTER:-} ]] && ! grep -Eq -- "$WEFT_TEST_FILTER" <<<"$f"; then
    continue
  fi
  files+=("$f")
done < <(find dist/test -name '*.test.js' | sort)

if ((${#files[@]} == 0)); then
  echo "[test] no test files${WEFT_TEST_FILTER:+ match WEFT_TEST_FILTER=$WEFT_TEST_FILTER}" >&2
  exit 1
fi

args=(--test --test-concurrency=1)
[[ -n ${WEFT_TEST_TIMEOUT_MS:-} ]] && args+=("--test-timeout=$WEFT_TEST_TIMEOUT_MS")
echo "[test] node ${args[*]} (${#files[@]} files)"
exec node "${args[@]}" "${files[@]}"
