#!/usr/bin/env bash
# Stop the private ClickHouse server that tests/clickhouse/start.sh DIR started.
#
# Usage: tests/clickhouse/stop.sh DIR [--kill]
#
# Sends SIGTERM to the pid in DIR/pid and waits until the process is gone
# (18.16 needs ~0.5-2 s; after $CH_STOP_TIMEOUT seconds, default 30, it is
# killed with SIGKILL). --kill sends SIGKILL at once (a crash, for restart
# tests). Only the process whose command line names DIR/config.xml is
# signalled: a stale DIR/pid whose number was reused is ignored. Idempotent:
# exits 0 when nothing runs. DIR (data, logs) is kept.
set -euo pipefail

export PATH="/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
export LC_ALL=C

STOP_TIMEOUT="${CH_STOP_TIMEOUT:-30}"

log() { printf '[%s] clickhouse: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[%s] clickhouse: ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 DIR [--kill]" >&2; exit 2; }
SIGNAL=TERM
if [[ $# -eq 2 ]]; then
    [[ "$2" == --kill ]] || { echo "usage: $0 DIR [--kill]" >&2; exit 2; }
    SIGNAL=KILL
fi
[[ "$STOP_TIMEOUT" =~ ^[0-9]+$ ]] || die "CH_STOP_TIMEOUT must be a number of seconds"

if [[ ! -d "$1" ]]; then
    log "no such directory $1: nothing to stop"
    exit 0
fi
DIR="$(cd "$1" && pwd -P)"
PIDFILE="$DIR/pid"

ours() {   # ours PID: true if PID is a live server started with DIR's config
    local pid="$1" cmd
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmd" == *"--config-file=$DIR/config.xml"* ]]
}

pid=""
[[ -s "$PIDFILE" ]] && pid="$(tr -dc '0-9' <"$PIDFILE")"
if ! ours "$pid"; then
    rm -f "$PIDFILE"
    log "not running ($DIR)"
    exit 0
fi

start_ns=$(date +%s%N)
kill -"$SIGNAL" "$pid" 2>/dev/null || true
deadline=$(( $(date +%s) + STOP_TIMEOUT ))
# kill -0 is true for a zombie too; `ours` reads /proc/PID/cmdline, which is
# empty for a zombie, so an exited child of the caller counts as stopped.
while ours "$pid"; do
    if (( $(date +%s) >= deadline )); then
        log "pid $pid did not stop after ${STOP_TIMEOUT}s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$(( $(date +%s) + 10 ))
        while ours "$pid"; do
            (( $(date +%s) < deadline )) || die "pid $pid survives SIGKILL"
            sleep 0.1
        done
        break
    fi
    sleep 0.05
done
rm -f "$PIDFILE"
ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
log "stopped pid $pid (SIG$SIGNAL) in ${ms} ms"
