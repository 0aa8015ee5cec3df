#!/usr/bin/env bash
# Sendmail log harness for mailtrace.
#
# Usage: tests/mta/sendmail/run.sh OUTDIR
#
# Starts a private, throw-away Sendmail 8 daemon (the Debian binary unpacked by install.sh,
# a sendmail.cf built with m4 from the unpacked sendmail-cf macros, own queue and maps in a
# work dir, loopback only, fixed high ports) plus smtp-sink(1) instances standing in for
# remote MTAs, runs the scenario in scenario.py, waits until the queue is empty, stops
# everything and leaves
#
#   OUTDIR/sendmail.log   the real Sendmail log, as a syslog daemon writes it
#   OUTDIR/truth.jsonl    one JSON object per (message, recipient) with the outcome the
#                         scenario expects (hard-coded, not derived from the log)
#
# Sendmail logs only through syslog(3) to /dev/log. So that its lines land in this run's
# file and nowhere else, the daemon runs in a private mount namespace (unshare -m) whose
# /dev is a fresh tmpfs holding the usual device nodes (bind mounts) and a /dev/log
# symlink to the socket of syslogd.py. Nothing of the host's /dev, /etc or syslog changes.
#
# Must run as root (sendmail, mount namespaces). Needs smtp-sink (Debian package
# "postfix"), unshare (util-linux), m4, openssl and python3. Takes about 60 seconds.
#
# Environment: KEEP_WORK=1 keeps the work dir (config, queue, sink logs).
# SENDMAIL_BIN=/path/to/sendmail skips install.sh.
set -euo pipefail

export PATH="/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
export LC_ALL=C

# ---------------------------------------------------------------- settings
# 26025-26049 belong to the Postfix and Exim harnesses. Sendmail's esmtp mailer connects
# to one port, so every "remote MTA" listens on that port at its own loopback address.
export PORT_SENDMAIL=26050   # the daemon under test, on 127.0.0.1
PORT_SINK=26051              # every sink, on 127.0.0.5x
SINK_OK=127.0.0.51           # ok.test, sender.test: 250 for everything
SINK_LATER=127.0.0.52        # later.test: 451 4.7.1 at RCPT, restarted as 250
SINK_REJECT=127.0.0.54       # reject.test: 550 5.1.1 at RCPT
SINK_FULL=127.0.0.55         # full.test: 452 4.2.2 at RCPT, forever
SINK_DOWN=127.0.0.56         # down.test: nothing listens
QUEUE_RETURN=40s             # Timeout.queuereturn: full.test and down.test expire
QUEUE_WARN=15s               # Timeout.queuewarn: their senders are warned first
GLOBAL_TIMEOUT=150

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
SCENARIO="$HERE/scenario.py"

log()  { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die()  { printf '[%s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
[[ $EUID -eq 0 ]] || die "must run as root (sendmail -C, mount namespaces)"

mkdir -p "$1"
OUTDIR="$(cd "$1" && pwd -P)"

for c in smtp-sink python3 unshare m4 mount openssl; do
    command -v "$c" >/dev/null 2>&1 || die "required command not found: $c"
done

if [[ -z "${SENDMAIL_BIN:-}" ]]; then
    SENDMAIL_BIN="$("$HERE/install.sh")" || die "tests/mta/sendmail/install.sh failed"
fi
[[ -x "$SENDMAIL_BIN" ]] || die "sendmail binary not found: $SENDMAIL_BIN"
ROOT="${SENDMAIL_BIN%/usr/libexec/sendmail/sendmail}"
CFDIR="$ROOT/usr/share/sendmail/cf"
MAKEMAP="$ROOT/usr/sbin/makemap"
SINK_USER=nobody
getent passwd "$SINK_USER" >/dev/null || SINK_USER=postfix

port_in_use() {   # port_in_use HOST PORT
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}
port_in_use 127.0.0.1 "$PORT_SENDMAIL" && die "port 127.0.0.1:$PORT_SENDMAIL is in use (leftover run?)"
for h in "$SINK_OK" "$SINK_LATER" "$SINK_REJECT" "$SINK_FULL" "$SINK_DOWN"; do
    port_in_use "$h" "$PORT_SINK" && die "port $h:$PORT_SINK is in use (leftover run?)"
done

# ---------------------------------------------------------------- cleanup
# The work dir must not be under a world-writable directory such as /tmp: Sendmail
# refuses unsafe paths for its maps and queue.
WORK="$(mktemp -d "$ROOT/run.XXXXXX")"
chmod 755 "$WORK"
SYSLOGD_PID=""
declare -A SINK_PIDS=()

daemon_pid() { [[ -f "$WORK/sendmail.pid" ]] && head -1 "$WORK/sendmail.pid" || true; }

our_sendmails() {   # pids of sendmail processes running with our private config
    local d pid
    for d in /proc/[0-9]*; do
        pid="${d#/proc/}"
        if tr '\0' '\n' 2>/dev/null <"$d/cmdline" | grep -qxF "$WORK/sendmail.cf"; then
            echo "$pid"
        fi
    done
}

stop_sendmail() {
    local i left pid
    pid="$(daemon_pid)"
    [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        left="$(our_sendmails)"
        [[ -n "$left" ]] || return 0
        sleep 0.1
    done
    log "sendmail processes still running, killing them: $(echo $left)"
    for pid in $left; do kill -KILL "$pid" 2>/dev/null || true; done
}

start_sink() {  # start_sink NAME ADDR [smtp-sink options]
    local name="$1" addr="$2"
    shift 2
    smtp-sink -u "$SINK_USER" -h "sink-$name.harness.test" "$@" "$addr:$PORT_SINK" 100 \
        >>"$WORK/sink-$name.log" 2>&1 &
    SINK_PIDS[$name]=$!
    for ((i = 0; i < 50; i++)); do
        port_in_use "$addr" "$PORT_SINK" && return 0
        kill -0 "${SINK_PIDS[$name]}" 2>/dev/null ||
            die "smtp-sink '$name' on $addr:$PORT_SINK failed: $(cat "$WORK/sink-$name.log")"
        sleep 0.1
    done
    die "smtp-sink '$name' on $addr:$PORT_SINK did not start"
}

stop_sink() {
    local pid="${SINK_PIDS[$1]:-}"
    [[ -n "$pid" ]] || return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "SINK_PIDS[$1]"
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    stop_sendmail
    for name in "${!SINK_PIDS[@]}"; do stop_sink "$name"; done
    if [[ -n "$SYSLOGD_PID" ]]; then kill "$SYSLOGD_PID" 2>/dev/null; wait "$SYSLOGD_PID" 2>/dev/null; fi
    if [[ "${KEEP_WORK:-0}" == 1 || $rc -ne 0 ]]; then
        log "work dir kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- configuration
mkdir -p "$WORK/mqueue"
chmod 700 "$WORK/mqueue"
cat >"$WORK/sendmail.mc" <<EOF
divert(-1)
# mailtrace Sendmail harness: loopback only, every domain routed by the mailertable.
divert(0)dnl
include(\`$CFDIR/m4/cf.m4')dnl
VERSIONID(\`mailtrace harness')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mx.harness.test')dnl
define(\`QUEUE_DIR', \`$WORK/mqueue')dnl
define(\`STATUS_FILE', \`$WORK/statistics')dnl
define(\`ALIAS_FILE', \`$WORK/aliases')dnl
define(\`confPID_FILE', \`$WORK/sendmail.pid')dnl
define(\`confCW_FILE', \`$WORK/local-host-names')dnl
define(\`confSERVICE_SWITCH_FILE', \`$WORK/service.switch')dnl
define(\`confHOSTS_FILE', \`$WORK/hosts')dnl
define(\`confLOG_LEVEL', \`9')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confDELIVERY_MODE', \`background')dnl
define(\`confMIN_QUEUE_AGE', \`0s')dnl
define(\`confTO_QUEUERETURN', \`$QUEUE_RETURN')dnl
define(\`confTO_QUEUEWARN', \`$QUEUE_WARN')dnl
define(\`confTO_CONNECT', \`5s')dnl
define(\`confTO_ICONNECT', \`5s')dnl
define(\`confHOST_STATUS_DIRECTORY', \`')dnl
define(\`confDEF_USER_ID', \`8:8')dnl
define(\`confDONT_BLAME_SENDMAIL', \`GroupWritableDirPathSafe')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h $PORT_SINK')dnl
define(\`SMTP_MAILER_ARGS', \`TCP \$h $PORT_SINK')dnl
define(\`LOCAL_MAILER_PATH', \`/bin/true')dnl
define(\`confCACERT_PATH', \`$WORK/tls')dnl
define(\`confCACERT', \`$WORK/tls/cert.pem')dnl
define(\`confSERVER_CERT', \`$WORK/tls/cert.pem')dnl
define(\`confSERVER_KEY', \`$WORK/tls/key.pem')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`mailertable', \`hash $WORK/mailertable')dnl
FEATURE(\`access_db', \`hash -T<TMPF> $WORK/access')dnl
FEATURE(\`blocklist_recipients')dnl
DAEMON_OPTIONS(\`Family=inet, Name=MTA, Port=$PORT_SENDMAIL, Addr=127.0.0.1')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
EOF
# A throw-away certificate, so that the daemon offers STARTTLS (case 21 uses it).
mkdir -p "$WORK/tls"
chmod 700 "$WORK/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mx.harness.test" \
    -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" >"$WORK/openssl.log" 2>&1 ||
    die "openssl: $(cat "$WORK/openssl.log")"
chmod 600 "$WORK/tls/key.pem"
m4 "$WORK/sendmail.mc" >"$WORK/sendmail.cf" 2>"$WORK/m4.err" || die "m4: $(cat "$WORK/m4.err")"
printf 'hosts files\naliases files\n' >"$WORK/service.switch"
printf '127.0.0.1 mx.harness.test localhost\n' >"$WORK/hosts"
printf 'mx.harness.test\n' >"$WORK/local-host-names"
printf 'postmaster: root\n' >"$WORK/aliases"
cat >"$WORK/mailertable.txt" <<EOF
ok.test esmtp:[$SINK_OK]
sender.test esmtp:[$SINK_OK]
later.test esmtp:[$SINK_LATER]
reject.test esmtp:[$SINK_REJECT]
full.test esmtp:[$SINK_FULL]
down.test esmtp:[$SINK_DOWN]
EOF
printf 'To:blocked.test\tREJECT\n' >"$WORK/access.txt"
# The submission program's configuration (Debian's submit.mc with the daemon's port): a
# local `sendmail` relays to the daemon over SMTP, as /usr/sbin/sendmail does by default.
# It refuses to run as root: the system user "mail" (Debian has it) owns its queue.
mkdir -p "$WORK/clientmqueue"
chown mail:mail "$WORK/clientmqueue"
chmod 770 "$WORK/clientmqueue"
cat >"$WORK/submit.mc" <<EOF
divert(-1)
divert(0)dnl
include(\`$CFDIR/m4/cf.m4')dnl
VERSIONID(\`mailtrace harness submit')dnl
define(\`confCF_VERSION', \`Submit')dnl
define(\`__OSTYPE__',\`')dnl
define(\`confDOMAIN_NAME', \`mx.harness.test')dnl
define(\`confRUN_AS_USER', \`mail')dnl
define(\`MSP_QUEUE_DIR', \`$WORK/clientmqueue')dnl
define(\`confPID_FILE', \`$WORK/sm-client.pid')dnl
define(\`STATUS_FILE', \`$WORK/sm-client.st')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $PORT_SENDMAIL')dnl
FEATURE(\`msp', \`[127.0.0.1]')dnl
EOF
m4 "$WORK/submit.mc" >"$WORK/submit.cf" 2>"$WORK/m4.err" || die "m4 submit.mc: $(cat "$WORK/m4.err")"

"$MAKEMAP" -C "$WORK/sendmail.cf" hash "$WORK/mailertable" <"$WORK/mailertable.txt"
"$MAKEMAP" -C "$WORK/sendmail.cf" hash "$WORK/access" <"$WORK/access.txt"

# Runs "$@" in private mount and UTS namespaces (unshare -m -u) whose /dev/log is our
# syslog socket.
cat >"$WORK/ns.sh" <<EOF
#!/bin/bash
set -e
# A private host name too (unshare -u): Sendmail sleeps a minute at start when it cannot
# qualify the machine's own name.
hostname mx.harness.test
mkdir -p "$WORK/hostdev"
mount --rbind /dev "$WORK/hostdev"
mount -t tmpfs -o mode=755 tmpfs /dev
for n in null zero random urandom full tty; do
    [ -e "$WORK/hostdev/\$n" ] || continue
    touch "/dev/\$n"
    mount --bind "$WORK/hostdev/\$n" "/dev/\$n"
done
ln -s "$WORK/log.sock" /dev/log
exec "\$@"
EOF
chmod 755 "$WORK/ns.sh"

"$SENDMAIL_BIN" -C "$WORK/sendmail.cf" -bi >/dev/null 2>"$WORK/newaliases.err" ||
    die "newaliases: $(cat "$WORK/newaliases.err")"

# ---------------------------------------------------------------- syslog, sinks, daemon
export SENDMAIL_LOG="$WORK/maillog" SENDMAIL_QUEUE="$WORK/mqueue" SENDMAIL_CF="$WORK/sendmail.cf"
export SENDMAIL_NS="$WORK/ns.sh" SENDMAIL_BIN SENDMAIL_SUBMIT_CF="$WORK/submit.cf"
python3 "$HERE/syslogd.py" "$WORK/log.sock" "$SENDMAIL_LOG" mx >"$WORK/syslogd.err" 2>&1 &
SYSLOGD_PID=$!
for ((i = 0; i < 50; i++)); do [[ -S "$WORK/log.sock" ]] && break; sleep 0.1; done
[[ -S "$WORK/log.sock" ]] || die "syslogd.py did not start: $(cat "$WORK/syslogd.err")"

start_sink ok     "$SINK_OK"
start_sink later  "$SINK_LATER"  -r RCPT -b "451 4.7.1 Greylisted, please try again later"
start_sink reject "$SINK_REJECT" -f RCPT -B "550 5.1.1 User unknown"
start_sink full   "$SINK_FULL"   -r RCPT -b "452 4.2.2 Mailbox full"
log "smtp-sinks up"

unshare -m -u "$WORK/ns.sh" "$SENDMAIL_BIN" -L sm-mta -C "$WORK/sendmail.cf" -bd -q5s
for ((i = 0; i < 100; i++)); do port_in_use 127.0.0.1 "$PORT_SENDMAIL" && break; sleep 0.1; done
port_in_use 127.0.0.1 "$PORT_SENDMAIL" || die "sendmail did not start: $(cat "$SENDMAIL_LOG")"
log "sendmail $(cat "$ROOT/VERSION") up on 127.0.0.1:$PORT_SENDMAIL (pid $(daemon_pid))"

# ---------------------------------------------------------------- scenario
START=$SECONDS
python3 "$SCENARIO" send
log "scenario sent"
python3 "$SCENARIO" wait later-deferred 30
stop_sink later
start_sink later "$SINK_LATER"
log "later.test sink restarted as 2xx"
python3 "$SCENARIO" wait final $((GLOBAL_TIMEOUT - (SECONDS - START)))
log "queue empty after $((SECONDS - START)) s"
stop_sendmail

cp "$SENDMAIL_LOG" "$OUTDIR/sendmail.log"
python3 "$SCENARIO" truth >"$OUTDIR/truth.jsonl"
log "wrote $OUTDIR/sendmail.log ($(wc -l <"$OUTDIR/sendmail.log") lines) and truth.jsonl ($(wc -l <"$OUTDIR/truth.jsonl") records)"
