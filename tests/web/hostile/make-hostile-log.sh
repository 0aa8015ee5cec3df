#!/usr/bin/env bash
# Regenerates testdata/postfix/hostile.log with a real Postfix: runs the harness
# (tests/mta/postfix/run.sh, unchanged, copied to a temp dir) with the hostile scenario in
# tests/web/hostile/scenario.py. Needs root and Postfix, like the harness; about 20 seconds.
# Do not run it while another harness run is going (same loopback ports).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd -P)"
TMP="$(mktemp -d /tmp/mailtrace-hostile.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
cp "$ROOT/tests/mta/postfix/run.sh" "$TMP/run.sh"
cp "$ROOT/tests/web/hostile/scenario.py" "$TMP/scenario.py"
HARNESS_SCENARIO="$ROOT/tests/mta/postfix/scenario.py" bash "$TMP/run.sh" "$TMP/out"
cp "$TMP/out/postfix.log" "$ROOT/testdata/postfix/hostile.log"
echo "wrote testdata/postfix/hostile.log ($(wc -l <"$ROOT/testdata/postfix/hostile.log") lines)"
