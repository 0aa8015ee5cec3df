#!/usr/bin/env bash
# Exim log harness for mailtrace.
#
# Usage: tests/mta/exim/run.sh OUTDIR
#
# Starts a private, throw-away Exim 4 daemon (the Debian binary unpacked by
# install.sh, own configuration, spool and log directories under a temp dir,
# loopback only, fixed high ports) plus a few smtp-sink(1) instances standing
# in for remote MTAs, runs the scenario in scenario.py (48 messages over SMTP
# and local submission), waits until the expected end state is reached, stops
# everything and leaves
#
#   OUTDIR/exim.log       the real Exim main log (log_file_path), copied as is
#   OUTDIR/truth.jsonl    one JSON object per (message, recipient) with the
#                         outcome the scenario expects (hard-coded, not
#                         derived from the log)
#
# Must run as root. Never touches /etc/exim4 or any system MTA; Postfix may be
# installed and running. Needs smtp-sink (Debian package "postfix"), openssl
# and python3. Takes about 35 seconds.
#
# Environment: KEEP_WORK=1 keeps the temp dir (config, spool, rejectlog,
# mailbox files, sink logs). EXIM_BIN=/path/to/exim4 skips install.sh.
set -euo pipefail

export PATH="/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
export LC_ALL=C

# ---------------------------------------------------------------- settings
# Fixed addresses and ports, so that relay (H=...) values in the truth are
# deterministic. 26025-26031 belong to the Postfix harness, which may run at the
# same time. Every "remote MTA" has its own loopback address (127.0.0.<port-26000>):
# Exim keys its connection re-use ("H=...*") on the host, not the port, and
# would otherwise hand a message for one sink to an open connection to another.
export PORT_EXIM=26040      # the Exim daemon under test, on 127.0.0.1
export PORT_OK=26041        # ok.test        250 for everything
export PORT_TEMPFAIL=26042  # tempfail.test  450 4.2.0 at RCPT, forever
export PORT_REJECT=26043    # reject.test    550 5.1.1 at RCPT
export PORT_DOWN=26044      # down.test      nothing listens: connection refused
export PORT_LATER=26045     # later.test     450 4.7.1 at RCPT, restarted as 250
export PORT_EXPIRE=26046    # expire.test    452 4.2.2 at RCPT, forever (retry rule F,20s,5s)
export PORT_GONE=26047      # gone.test      nothing listens (retry rule F,20s,5s)
export PORT_BADDATA=26048   # baddata.test   554 5.7.1 after end of data
ip_of() { echo "127.0.0.$(($1 - 26000))"; }
export MESSAGE_SIZE_LIMIT=20480
export AUTH_USER=alice AUTH_PASS=secret
GIVE_UP=20s                 # retry cutoff for expire.test/gone.test, ignore_bounce_errors_after
GLOBAL_TIMEOUT=110          # seconds for the whole run

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
SCENARIO="$HERE/scenario.py"

log()  { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die()  { printf '[%s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
[[ $EUID -eq 0 ]] || die "must run as root (exim -C keeps its privileges only for root)"

mkdir -p "$1"
OUTDIR="$(cd "$1" && pwd -P)"

for c in smtp-sink python3 openssl; do
    command -v "$c" >/dev/null 2>&1 || die "required command not found: $c"
done
[[ -f "$SCENARIO" ]] || die "missing $SCENARIO"

if [[ -z "${EXIM_BIN:-}" ]]; then
    EXIM_BIN="$("$HERE/install.sh")" || die "tests/mta/exim/install.sh failed"
fi
[[ -x "$EXIM_BIN" ]] || die "exim binary not found: $EXIM_BIN"
export EXIM_BIN
EXIM_VERSION="$("$EXIM_BIN" -C /dev/null -bV 2>/dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p')"
EXIM_USER=Debian-exim       # compiled into the Debian binary (install.sh creates it)
getent passwd "$EXIM_USER" >/dev/null || die "user $EXIM_USER missing (run tests/mta/exim/install.sh)"
SINK_USER=nobody
getent passwd "$SINK_USER" >/dev/null || SINK_USER=postfix

port_in_use() {   # port_in_use HOST PORT: true if something accepts connections there
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}
for p in "$PORT_EXIM" "$PORT_OK" "$PORT_TEMPFAIL" "$PORT_REJECT" "$PORT_DOWN" "$PORT_LATER" \
         "$PORT_EXPIRE" "$PORT_GONE" "$PORT_BADDATA"; do
    for h in 127.0.0.1 "$(ip_of "$p")"; do
        if port_in_use "$h" "$p"; then
            die "port $h:$p is already in use (leftover harness run? check 'ss -ltnp')"
        fi
    done
done

# ---------------------------------------------------------------- cleanup
WORK=""
EXIM_CONF=""
DAEMON_PID=""
declare -A SINK_PIDS=()

our_exims() {     # pids of exim processes running with our private config
    local d pid
    [[ -n "$EXIM_CONF" ]] || return 0
    for d in /proc/[0-9]*; do
        pid="${d#/proc/}"
        if tr '\0' '\n' <"$d/cmdline" 2>/dev/null | grep -qxF "$EXIM_CONF"; then
            echo "$pid"
        fi
    done
}

stop_exim() {
    local i left
    if [[ -n "$DAEMON_PID" ]]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$DAEMON_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    DAEMON_PID=""
    # queue runners and delivery processes finish on their own; give them a moment
    for ((i = 0; i < 50; i++)); do
        left="$(our_exims)"
        [[ -n "$left" ]] || return 0
        sleep 0.1
    done
    log "exim processes still running, killing them: $(echo $left)"
    for pid in $left; do kill -KILL "$pid" 2>/dev/null || true; done
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
    stop_exim
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
WORK="$(mktemp -d /tmp/mailtrace-exim.XXXXXX)"
chmod 755 "$WORK"             # the exim user must traverse it
EXIM_CONF="$WORK/exim.conf"
mkdir -p "$WORK/spool" "$WORK/log" "$WORK/mail" "$WORK/tls"
chown "$EXIM_USER:$EXIM_USER" "$WORK/spool" "$WORK/log" "$WORK/mail"
chmod 750 "$WORK/spool" "$WORK/log" "$WORK/mail"
rm -f "$OUTDIR/exim.log" "$OUTDIR/truth.jsonl"
export EXIM_CONF EXIM_LOG="$WORK/log/mainlog"

# A self-signed certificate, so that Exim does not log its "no server
# certificate defined" warning (and the STARTTLS case gets X=... items).
if ! out="$(openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -days 30 -subj /CN=mx.harness.test -keyout "$WORK/tls/key.pem" \
        -out "$WORK/tls/cert.pem" 2>&1)"; then
    die "openssl failed: $out"
fi
chown -R "$EXIM_USER:$EXIM_USER" "$WORK/tls"
chmod 700 "$WORK/tls"; chmod 600 "$WORK/tls"/*.pem

cat >"$WORK/aliases" <<EOF
# local.harness.test aliases (generated by run.sh)
alias31: rcpt31@ok.test
postmaster: postmaster@ok.test
EOF

cat >"$EXIM_CONF" <<EOF
# Private Exim instance for the mailtrace harness (generated by run.sh).
# Run as: exim -C $EXIM_CONF ...
exim_path = $EXIM_BIN
spool_directory = $WORK/spool
log_file_path = $WORK/log/%slog
pid_file_path = $WORK/exim.pid
keep_environment =

primary_hostname = mx.harness.test
qualify_domain = harness.test
local_interfaces = <; 127.0.0.1
daemon_smtp_ports = $PORT_EXIM
disable_ipv6 = true
host_lookup =
rfc1413_hosts =
never_users = root
# Remote deliveries only (plus a mailbox owned by the exim user): no need to
# re-exec as root for deliveries. Without this, every re-exec by the daemon
# logs "exim user lost privilege for using -C option".
deliver_drop_privilege = true

tls_advertise_hosts = *
tls_certificate = $WORK/tls/cert.pem
tls_privatekey = $WORK/tls/key.pem
auth_advertise_hosts = \${if def:tls_in_cipher {*}{}}

domainlist local_domains = local.harness.test
domainlist relay_to_domains = ok.test : tempfail.test : reject.test : down.test : \\
                              later.test : expire.test : gone.test : baddata.test
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_data = acl_check_data

message_size_limit = $MESSAGE_SIZE_LIMIT
smtp_accept_queue_per_connection = 4
ignore_bounce_errors_after = $GIVE_UP
timeout_frozen_after = 1d
remote_max_parallel = 4
queue_run_max = 2

log_selector = +received_recipients +received_sender +sender_on_delivery \\
    +return_path_on_delivery +delivery_size +queue_time +queue_time_overall \\
    +deliver_time +smtp_connection +smtp_no_mail +smtp_incomplete_transaction \\
    +smtp_protocol_error +smtp_syntax_error +subject +tls_cipher +tls_peerdn \\
    +incoming_interface +incoming_port +outgoing_interface +outgoing_port \\
    +connection_reject +unknown_in_list

begin acl

acl_check_rcpt:
  accept  hosts = :
  deny    senders = spammer@bad.example
          message = 550 5.7.1 <\$sender_address>: Sender address rejected: Access denied
  deny    recipients = \N^blocked[0-9]+[a-z]?@ok\.test\$\N
          message = 550 5.7.1 <\$local_part@\$domain>: Recipient address rejected: Access denied
  deny    recipients = *@reject-here.test
  require message = relay not permitted
          domains = +local_domains : +relay_to_domains
  require verify = recipient
  accept

acl_check_data:
  deny    condition = \${if match{\$h_subject:}{SPAM}}
          message = 550 5.7.1 Message content rejected: spam
  accept

begin routers

static_route:
  driver = manualroute
  domains = +relay_to_domains
  transport = remote_smtp
  self = send
  route_list = ok.test $(ip_of $PORT_OK)::$PORT_OK ; \\
               tempfail.test $(ip_of $PORT_TEMPFAIL)::$PORT_TEMPFAIL ; \\
               reject.test $(ip_of $PORT_REJECT)::$PORT_REJECT ; \\
               down.test $(ip_of $PORT_DOWN)::$PORT_DOWN ; \\
               later.test $(ip_of $PORT_LATER)::$PORT_LATER ; \\
               expire.test $(ip_of $PORT_EXPIRE)::$PORT_EXPIRE ; \\
               gone.test $(ip_of $PORT_GONE)::$PORT_GONE ; \\
               baddata.test $(ip_of $PORT_BADDATA)::$PORT_BADDATA

system_aliases:
  driver = redirect
  domains = +local_domains
  allow_fail
  allow_defer
  data = \${lookup{\$local_part}lsearch{$WORK/aliases}}

local_user:
  driver = accept
  domains = +local_domains
  local_parts = mbox30
  transport = local_delivery

begin transports

remote_smtp:
  driver = smtp
  allow_localhost
  hosts_avoid_tls = *

local_delivery:
  driver = appendfile
  file = $WORK/mail/\$local_part_data
  user = $EXIM_USER
  group = $EXIM_USER
  mode = 0600
  delivery_date_add
  envelope_to_add
  return_path_add

begin retry

expire.test   *   F,$GIVE_UP,5s
gone.test     *   F,$GIVE_UP,5s
later.test    *   F,1h,5s
*             *   F,1h,15s

begin rewrite

begin authenticators

plain_server:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = \${if and {{eq{\$auth2}{$AUTH_USER}}{eq{\$auth3}{$AUTH_PASS}}}}
  server_set_id = \$auth2
EOF
chmod 644 "$EXIM_CONF" "$WORK/aliases"

log "Exim $EXIM_VERSION ($EXIM_BIN), private instance in $WORK, log $EXIM_LOG"
if ! out="$("$EXIM_BIN" -C "$EXIM_CONF" -bV 2>&1)"; then
    die "exim -bV with the harness config failed: $out"
fi

# ---------------------------------------------------------------- sinks
wait_port() {   # wait_port HOST PORT PID: wait up to ~10s until HOST:PORT accepts (and PID lives)
    local i
    for ((i = 0; i < 100; i++)); do
        if [[ -n "$3" ]] && ! kill -0 "$3" 2>/dev/null; then return 1; fi
        port_in_use "$1" "$2" && return 0
        sleep 0.1
    done
    return 1
}

start_sink() {  # start_sink NAME PORT [smtp-sink options]
    local name="$1" port="$2" host pid
    shift 2
    host="$(ip_of "$port")"
    smtp-sink -u "$SINK_USER" -h "sink-$name.harness.test" "$@" "$host:$port" 100 \
        >>"$WORK/sink-$name.log" 2>&1 &
    pid=$!
    SINK_PIDS[$name]=$pid
    if ! wait_port "$host" "$port" "$pid"; then
        die "smtp-sink '$name' on $host:$port failed to start: $(cat "$WORK/sink-$name.log")"
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
start_sink baddata  "$PORT_BADDATA"  -f . -B "554 5.7.1 Message rejected as spam"
log "smtp-sinks up (pids ${SINK_PIDS[*]})"

# ---------------------------------------------------------------- exim
# -bdf: SMTP daemon in the foreground (so that it stays our child and is
# reaped by us); -q5s: a queue runner every 5 seconds.
"$EXIM_BIN" -C "$EXIM_CONF" -bdf -q5s </dev/null >>"$WORK/daemon.out" 2>&1 &
DAEMON_PID=$!
# Readiness: the daemon logs its "listening" line after binding; no probe
# connection (it would show up in the log).
for ((i = 0; i < 100; i++)); do
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    grep -q "daemon started: pid=$DAEMON_PID.*listening" "$EXIM_LOG" 2>/dev/null && break
    sleep 0.1
done
grep -q "daemon started: pid=$DAEMON_PID.*listening" "$EXIM_LOG" 2>/dev/null ||
    die "exim daemon not listening"$'\n'"$(cat "$WORK/daemon.out" "$WORK/log/paniclog" 2>/dev/null)"$'\n'"$(tail -20 "$EXIM_LOG" 2>/dev/null)"
log "exim daemon started (pid $DAEMON_PID), SMTP on 127.0.0.1:$PORT_EXIM, queue runs every 5s"

remaining() { local r=$((DEADLINE - $(date +%s))); ((r > 0)) || r=1; echo "$r"; }

run_wait() {    # run_wait TARGET TIMEOUT
    local t="$2" r
    r="$(remaining)"; ((t < r)) || t="$r"
    run_child python3 "$SCENARIO" wait "$1" "$t" ||
        die "end state '$1' not reached in time"$'\n'"--- last log lines ---"$'\n'"$(tail -25 "$EXIM_LOG")"
    check_sinks
}

# ---------------------------------------------------------------- scenario
log "sending"
run_child python3 "$SCENARIO" send || die "sending failed"$'\n'"--- last log lines ---"$'\n'"$(tail -15 "$EXIM_LOG")"

log "waiting for the first (greylisted) attempt to later.test"
run_wait later-deferred 30
stop_sink later
start_sink later "$PORT_LATER"
log "later.test sink restarted as 2xx (the queue runner retries after 5s)"

log "waiting for the end state (retry timeout and ignore_bounce_errors_after after $GIVE_UP)"
run_wait final 90

log "stopping exim and sinks"
stop_exim
for name in "${!SINK_PIDS[@]}"; do stop_sink "$name"; done

if [[ -s "$WORK/log/paniclog" ]]; then
    die "exim wrote a panic log:"$'\n'"$(cat "$WORK/log/paniclog")"
fi

# ---------------------------------------------------------------- outputs
cp "$EXIM_LOG" "$OUTDIR/exim.log"
chmod 644 "$OUTDIR/exim.log"
export EXIM_LOG="$OUTDIR/exim.log"
python3 "$SCENARIO" truth >"$OUTDIR/truth.jsonl"
python3 "$SCENARIO" verify "$OUTDIR/truth.jsonl" || die "truth and log disagree"

END_TS=$(date +%s)
log "done in $((END_TS - START_TS))s"
echo "  log:   $OUTDIR/exim.log ($(wc -l <"$OUTDIR/exim.log") lines)"
echo "  truth: $OUTDIR/truth.jsonl"
python3 "$SCENARIO" summary "$OUTDIR/truth.jsonl"
