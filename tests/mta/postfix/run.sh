#!/usr/bin/env bash
# Postfix log harness for mailtrace.
#
# Usage: tests/mta/postfix/run.sh OUTDIR
#
# Starts a private, throw-away Postfix instance (own config/queue/data
# directories under a temp dir, loopback only, fixed high ports) plus a few
# smtp-sink(1) instances standing in for remote MTAs, runs the scenario in
# scenario.py (38 messages over SMTP and sendmail/pickup), waits until the
# expected end state is reached, stops everything and leaves
#
#   OUTDIR/postfix.log    the real Postfix log (maillog_file via postlogd)
#   OUTDIR/truth.jsonl    one JSON object per (message, recipient) with the
#                         outcome the scenario expects (hard-coded, not
#                         derived from the log)
#
# Must run as root (Postfix master needs it). Never touches /etc/postfix or
# the system Postfix instance. Needs Postfix >= 3.4 (postlogd), smtp-sink
# (Debian package "postfix") and python3. Takes about one minute.
#
# Environment: KEEP_WORK=1 keeps the temp dir (config, queue, sink logs).
set -euo pipefail

export PATH="/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
export LC_ALL=C

# ---------------------------------------------------------------- settings
# Fixed ports, so that relay=... values in the truth are deterministic.
export PORT_SMTPD=26025     # our smtpd (the MTA under test)
export PORT_OK=26026        # ok.test        250 for everything
export PORT_TEMPFAIL=26027  # tempfail.test  450 4.2.0 at RCPT, forever
export PORT_REJECT=26028    # reject.test    550 5.1.1 at RCPT
export PORT_LATER=26029     # later.test     450 4.7.1 at RCPT, restarted as 250
export PORT_EXPIRE=26030    # expire.test    452 4.2.2 at RCPT, forever
export PORT_DOWN=26031      # down.test      nothing listens: connection refused
export MESSAGE_SIZE_LIMIT=20000
QUEUE_LIFETIME=30s          # maximal_queue_lifetime and bounce_queue_lifetime
GLOBAL_TIMEOUT=240          # seconds for the whole run

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
SCENARIO="$HERE/scenario.py"

log()  { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die()  { printf '[%s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
[[ $EUID -eq 0 ]] || die "must run as root (the Postfix master process requires it)"

mkdir -p "$1"
OUTDIR="$(cd "$1" && pwd -P)"
[[ "$OUTDIR" =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "OUTDIR must be a simple path (no spaces/commas): $OUTDIR"

for c in postfix postconf postqueue smtp-sink python3; do
    command -v "$c" >/dev/null 2>&1 || die "required command not found: $c"
done
[[ -f "$SCENARIO" ]] || die "missing $SCENARIO"

MAIL_VERSION="$(postconf -d -h mail_version)"
PF_MAJOR="${MAIL_VERSION%%.*}"; PF_REST="${MAIL_VERSION#*.}"; PF_MINOR="${PF_REST%%.*}"
if (( PF_MAJOR < 3 || (PF_MAJOR == 3 && PF_MINOR < 4) )); then
    die "Postfix $MAIL_VERSION is too old: need >= 3.4 for maillog_file/postlogd"
fi
if (( PF_MAJOR > 3 || PF_MINOR >= 6 )); then
    COMPAT_LEVEL="$PF_MAJOR.$PF_MINOR"
else
    COMPAT_LEVEL=2
fi
DAEMON_DIR="$(postconf -d -h daemon_directory)"
COMMAND_DIR="$(postconf -d -h command_directory)"
[[ -x "$DAEMON_DIR/postlogd" ]] || die "$DAEMON_DIR/postlogd not found"
SINK_USER=nobody
getent passwd "$SINK_USER" >/dev/null || SINK_USER=postfix

port_in_use() {   # true if something accepts connections on 127.0.0.1:$1
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}
for p in "$PORT_SMTPD" "$PORT_OK" "$PORT_TEMPFAIL" "$PORT_REJECT" "$PORT_LATER" "$PORT_EXPIRE" "$PORT_DOWN"; do
    if port_in_use "$p"; then
        die "port 127.0.0.1:$p is already in use (leftover harness run? check 'ss -ltnp')"
    fi
done

# ---------------------------------------------------------------- cleanup
WORK=""
PF_CONF=""
PF_QUEUE=""
declare -A SINK_PIDS=()

master_pid() {
    local f="$PF_QUEUE/pid/master.pid" pid
    [[ -n "$PF_QUEUE" && -s "$f" ]] || return 1
    pid="$(tr -dc '0-9' <"$f")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop_postfix() {
    local pid i
    pid="$(master_pid)" || return 0
    postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "master $pid did not stop, killing it and its children"
        pkill -KILL -P "$pid" 2>/dev/null || true
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

stop_sink() {
    local name="$1" pid="${SINK_PIDS[$1]:-}"
    [[ -n "$pid" ]] || return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "SINK_PIDS[$name]"
}

CHILD=""
run_child() {   # run a command in the background and wait, so that traps fire at once
    local rc=0
    "$@" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [[ -n "$CHILD" ]]; then kill "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null; fi
    stop_postfix
    for name in "${!SINK_PIDS[@]}"; do stop_sink "$name"; done
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if [[ "${KEEP_WORK:-0}" == 1 || $rc -ne 0 ]]; then
            log "work dir kept: $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

START_TS=$(date +%s)
export DEADLINE=$((START_TS + GLOBAL_TIMEOUT))

# ---------------------------------------------------------------- instance
WORK="$(mktemp -d /tmp/mailtrace-postfix.XXXXXX)"
chmod 755 "$WORK"             # postfix daemons (uid postfix) must traverse it
PF_CONF="$WORK/conf"
PF_QUEUE="$WORK/queue"
PF_DATA="$WORK/data"
mkdir -p "$PF_CONF" "$PF_QUEUE" "$PF_DATA"
chown root:root "$PF_CONF" "$PF_QUEUE"
chmod 755 "$PF_CONF" "$PF_QUEUE"
chown postfix:postfix "$PF_DATA"  # postfix creates the queue subdirs itself
chmod 700 "$PF_DATA"
rm -f "$OUTDIR/postfix.log" "$OUTDIR/truth.jsonl"
export PF_CONF PF_LOG="$OUTDIR/postfix.log"
export PF_SENDMAIL="$COMMAND_DIR/sendmail" PF_POSTQUEUE="$COMMAND_DIR/postqueue"

cat >"$PF_CONF/main.cf" <<EOF
# Private Postfix instance for the mailtrace harness (generated by run.sh).
compatibility_level = $COMPAT_LEVEL
config_directory = $PF_CONF
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
maillog_file = $OUTDIR/postfix.log
maillog_file_prefixes = $OUTDIR
myhostname = mx.harness.test
mydomain = harness.test
myorigin = \$myhostname
mydestination =
relayhost =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
readme_directory = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
transport_maps = texthash:$PF_CONF/transport
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_sender_restrictions = check_sender_access texthash:$PF_CONF/sender_access
smtpd_recipient_restrictions =
    check_recipient_access texthash:$PF_CONF/recipient_access,
    permit_mynetworks,
    reject_unauth_destination
header_checks = regexp:$PF_CONF/header_checks
message_size_limit = $MESSAGE_SIZE_LIMIT
maximal_queue_lifetime = $QUEUE_LIFETIME
bounce_queue_lifetime = $QUEUE_LIFETIME
minimal_backoff_time = 5s
maximal_backoff_time = 10s
queue_run_delay = 5s
EOF

cat >"$PF_CONF/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$PORT_SMTPD inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
        -o syslog_name=postfix/\$service_name
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF

cat >"$PF_CONF/transport" <<EOF
ok.test        smtp:[127.0.0.1]:$PORT_OK
tempfail.test  smtp:[127.0.0.1]:$PORT_TEMPFAIL
reject.test    smtp:[127.0.0.1]:$PORT_REJECT
later.test     smtp:[127.0.0.1]:$PORT_LATER
expire.test    smtp:[127.0.0.1]:$PORT_EXPIRE
down.test      smtp:[127.0.0.1]:$PORT_DOWN
nowhere.test   error:5.1.2 Host or domain name not found
EOF

cat >"$PF_CONF/recipient_access" <<'EOF'
blocked11@ok.test   REJECT
unknown12@ok.test   550 5.1.1 User unknown in local recipient table
blocked13b@ok.test  REJECT
blocked27@ok.test   REJECT
EOF

cat >"$PF_CONF/sender_access" <<'EOF'
spammer@bad.example  REJECT
EOF

cat >"$PF_CONF/header_checks" <<'EOF'
/^Subject:/ INFO
EOF
chmod 644 "$PF_CONF"/*

log "Postfix $MAIL_VERSION, private instance in $WORK, log $OUTDIR/postfix.log"
if ! out="$(postfix -c "$PF_CONF" check 2>&1)"; then
    die "postfix check failed: $out"
fi
[[ -z "$out" ]] || log "postfix check says: $out"

# ---------------------------------------------------------------- sinks
wait_port() {   # wait_port PORT PID: wait up to ~10s until PORT accepts (and PID lives)
    local i
    for ((i = 0; i < 100; i++)); do
        if [[ -n "$2" ]] && ! kill -0 "$2" 2>/dev/null; then return 1; fi
        port_in_use "$1" && return 0
        sleep 0.1
    done
    return 1
}

start_sink() {  # start_sink NAME PORT [smtp-sink options]
    local name="$1" port="$2" pid
    shift 2
    smtp-sink -u "$SINK_USER" -h "sink-$name.harness.test" "$@" "127.0.0.1:$port" 100 \
        >>"$WORK/sink-$name.log" 2>&1 &
    pid=$!
    SINK_PIDS[$name]=$pid
    if ! wait_port "$port" "$pid"; then
        die "smtp-sink '$name' on port $port failed to start: $(cat "$WORK/sink-$name.log")"
    fi
}

check_sinks() {
    local name
    for name in "${!SINK_PIDS[@]}"; do
        kill -0 "${SINK_PIDS[$name]}" 2>/dev/null ||
            die "smtp-sink '$name' died: $(cat "$WORK/sink-$name.log")"
    done
}

start_sink ok       "$PORT_OK"
start_sink tempfail "$PORT_TEMPFAIL" -r RCPT -b "450 4.2.0 Mailbox temporarily unavailable"
start_sink reject   "$PORT_REJECT"   -f RCPT -B "550 5.1.1 User unknown in virtual mailbox table"
start_sink later    "$PORT_LATER"    -r RCPT -b "450 4.7.1 Greylisted, try again later"
start_sink expire   "$PORT_EXPIRE"   -r RCPT -b "452 4.2.2 Mailbox full"
log "smtp-sinks up on ports $PORT_OK-$PORT_EXPIRE (pids ${SINK_PIDS[*]})"

# ---------------------------------------------------------------- postfix
if ! out="$(postfix -c "$PF_CONF" start 2>&1)"; then
    die "postfix failed to start: $out"$'\n'"$(tail -20 "$PF_LOG" 2>/dev/null)"
fi
if ! wait_port "$PORT_SMTPD" "" || ! master_pid >/dev/null; then
    die "postfix smtpd not listening on 127.0.0.1:$PORT_SMTPD"$'\n'"$(tail -20 "$PF_LOG" 2>/dev/null)"
fi
log "postfix started (master pid $(master_pid)), smtpd on 127.0.0.1:$PORT_SMTPD"

remaining() { local r=$((DEADLINE - $(date +%s))); ((r > 0)) || r=1; echo "$r"; }

run_wait() {    # run_wait TARGET TIMEOUT
    local t="$2" r
    r="$(remaining)"; ((t < r)) || t="$r"
    run_child python3 "$SCENARIO" wait "$1" "$t" ||
        die "end state '$1' not reached in time"$'\n'"--- last log lines ---"$'\n'"$(tail -25 "$PF_LOG")"
    check_sinks
}

# ---------------------------------------------------------------- scenario
log "phase 1: sending"
run_child python3 "$SCENARIO" send 1 || die "phase 1 sending failed"

log "waiting for the first (greylisted) attempt to later.test"
run_wait later-deferred 60
sleep 3     # let cached SMTP connections (smtp_connection_cache_time_limit=2s) expire
stop_sink later
start_sink later "$PORT_LATER"
log "later.test sink restarted as 2xx; flushing the queue"
postqueue -c "$PF_CONF" -f || die "postqueue -f failed"

log "waiting for phase 1 end state (expiry after $QUEUE_LIFETIME)"
run_wait phase1 150

log "phase 2: sending (these stay deferred)"
run_child python3 "$SCENARIO" send 2 || die "phase 2 sending failed"
log "waiting for phase 2 end state"
run_wait phase2 60

log "stopping postfix and sinks"
stop_postfix
master_pid >/dev/null && die "postfix master still running"
for name in "${!SINK_PIDS[@]}"; do stop_sink "$name"; done

# ---------------------------------------------------------------- outputs
python3 "$SCENARIO" truth >"$OUTDIR/truth.jsonl"
python3 "$SCENARIO" verify "$OUTDIR/truth.jsonl" || die "truth and log disagree"

END_TS=$(date +%s)
log "done in $((END_TS - START_TS))s"
echo "  log:   $OUTDIR/postfix.log ($(wc -l <"$OUTDIR/postfix.log") lines)"
echo "  truth: $OUTDIR/truth.jsonl"
python3 "$SCENARIO" summary "$OUTDIR/truth.jsonl"
