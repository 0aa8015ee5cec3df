#!/usr/bin/env bash
# Smoke test of start.sh / stop.sh: start a private server in a temp dir, write,
# restart (graceful and SIGKILL), check the data survived, stop, clean up.
#
# Usage: tests/clickhouse/selftest.sh
# Environment: CH_HTTP_PORT / CH_TCP_PORT as for start.sh. Takes ~2-4 s.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
PORT="${CH_HTTP_PORT:-8123}"
DIR="$(mktemp -d /tmp/mailtrace-clickhouse.XXXXXX)"
cleanup() {
    local rc=$?
    "$HERE/stop.sh" "$DIR" 2>/dev/null || true
    if [[ $rc -eq 0 ]]; then rm -rf "$DIR"; else echo "selftest: kept $DIR" >&2; fi
    exit "$rc"
}
trap cleanup EXIT

q() { curl -fsS --max-time 30 "http://127.0.0.1:$PORT/" --data-binary "$1"; }
check() {   # check NAME EXPECTED ACTUAL
    if [[ "$2" == "$3" ]]; then echo "ok - $1"; pass=$((pass + 1)); else echo "not ok - $1: want '$2', got '$3'"; fail=$((fail + 1)); fi
}
pass=0 fail=0

pid1="$("$HERE/start.sh" "$DIR")"
pid1b="$("$HERE/start.sh" "$DIR")"
check "start is idempotent" "$pid1" "$pid1b"
q "CREATE DATABASE selftest"
q "CREATE TABLE selftest.t (ts DateTime, s String) ENGINE = MergeTree PARTITION BY toYYYYMMDD(ts) ORDER BY ts"
q "INSERT INTO selftest.t VALUES ('2024-03-01 10:00:00', 'a\\'b')"
"$HERE/stop.sh" "$DIR"
"$HERE/stop.sh" "$DIR"
check "stopped" "" "$(cat "$DIR/pid" 2>/dev/null || true)"
"$HERE/start.sh" "$DIR" >/dev/null
check "data kept across a restart" "612762" "$(q "SELECT hex(s) FROM selftest.t")"   # a'b
q "INSERT INTO selftest.t VALUES ('2024-03-02 10:00:00', 'c')"
"$HERE/stop.sh" "$DIR" --kill
"$HERE/start.sh" "$DIR" >/dev/null
check "data kept across SIGKILL" "2" "$(q "SELECT count() FROM selftest.t")"
"$HERE/stop.sh" "$DIR"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
