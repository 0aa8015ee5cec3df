#!/usr/bin/env bash
# Start a private, throw-away ClickHouse server for mailtrace's tests.
#
# Usage: tests/clickhouse/start.sh DIR
#
# Everything of the instance lives in DIR: DIR/config.xml and DIR/users.xml
# (generated), DIR/data/ (databases; kept across restarts, so a test can stop
# and start the same instance: delete DIR for a fresh one), DIR/log/ (server
# log, error log, stdout/stderr), DIR/pid and DIR/url. Listens on loopback
# only: 127.0.0.1:$CH_HTTP_PORT (HTTP, default 8123) and 127.0.0.1:$CH_TCP_PORT
# (native protocol, default 9000, used by clickhouse-client and Distributed
# tables); no interserver port. Users (loopback only): "default" without
# password, and "mailtrace" with password "mailtrace-test" (for auth tests).
# Defines a one-shard cluster "mailtrace_test" (this server, by its native
# port) for Distributed tables. Time zone UTC.
#
# Prints the server's pid on stdout when /ping answers "Ok." (~0.2 s for
# Debian's 18.16). Idempotent: if the instance of DIR already runs, prints its
# pid and exits 0. Exits 1 (after killing what it started) if the server does
# not answer within $CH_START_TIMEOUT seconds (default 30), or if the HTTP
# port is taken by another process.
#
# Runs the server as the calling user; as root, as root (18.16 and current
# releases accept that), or as the "clickhouse" user with CH_RUN_AS=clickhouse
# (DIR is then chowned to it). Works with Debian's clickhouse-server (18.16,
# /usr/sbin/clickhouse-server) and with the official single binary
# (`clickhouse server`); CLICKHOUSE_SERVER=/path/to/binary overrides.
#
# A node of a multi-node test cluster: CH_CLUSTER_SHARDS lists the native
# ports of the cluster's shards (one replica each, all on 127.0.0.1), in shard
# order; CH_SHARD is this node's shard number (the {shard} macro; {replica} is
# 127.0.0.1:TCP_PORT); CH_ZOOKEEPER=HOST:PORT the ZooKeeper that replicated
# tables and ON CLUSTER statements need (tests/clickhouse/zookeeper.sh starts
# one); CH_INTERSERVER_PORT the port replicas fetch parts on.
#
# Environment: CH_HTTP_PORT, CH_TCP_PORT, CH_START_TIMEOUT, CH_RUN_AS,
# CLICKHOUSE_SERVER, CH_CLUSTER_SHARDS, CH_SHARD, CH_ZOOKEEPER,
# CH_INTERSERVER_PORT.
set -euo pipefail

export PATH="/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
export LC_ALL=C

HTTP_PORT="${CH_HTTP_PORT:-8123}"
TCP_PORT="${CH_TCP_PORT:-9000}"
START_TIMEOUT="${CH_START_TIMEOUT:-30}"
RUN_AS="${CH_RUN_AS:-}"

log() { printf '[%s] clickhouse: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[%s] clickhouse: ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
[[ "$HTTP_PORT" =~ ^[0-9]+$ && "$TCP_PORT" =~ ^[0-9]+$ ]] || die "ports must be numbers"
[[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || die "CH_START_TIMEOUT must be a number of seconds"

mkdir -p "$1"
DIR="$(cd "$1" && pwd -P)"
[[ "$DIR" =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "DIR must be a simple path (no spaces or XML specials): $DIR"
PIDFILE="$DIR/pid"

# ---------------------------------------------------------------- binary
SERVER=()
if [[ -n "${CLICKHOUSE_SERVER:-}" ]]; then
    SERVER=("$CLICKHOUSE_SERVER")
elif command -v clickhouse-server >/dev/null 2>&1; then
    SERVER=("$(command -v clickhouse-server)")
elif command -v clickhouse >/dev/null 2>&1; then
    SERVER=("$(command -v clickhouse)" server)
else
    die "clickhouse-server not found (Debian: apt-get install --no-install-recommends clickhouse-server)"
fi

# ---------------------------------------------------------------- helpers
ping_ok() {   # true if a server answers Ok. on the HTTP port
    [[ "$(curl -fsS --max-time 2 "http://127.0.0.1:$HTTP_PORT/ping" 2>/dev/null)" == "Ok." ]]
}

port_in_use() {   # true if something accepts connections on 127.0.0.1:$1
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

ours() {   # ours PID: true if PID is a live server started with DIR's config
    local pid="$1" cmd
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmd" == *"--config-file=$DIR/config.xml"* ]]
}

command -v curl >/dev/null 2>&1 || die "curl is required"

# ---------------------------------------------------------------- already running?
if [[ -s "$PIDFILE" ]]; then
    pid="$(tr -dc '0-9' <"$PIDFILE")"
    if ours "$pid"; then
        if ping_ok; then
            log "already running (pid $pid) on 127.0.0.1:$HTTP_PORT"
            echo "$pid"
            exit 0
        fi
        die "instance of $DIR (pid $pid) runs but does not answer on 127.0.0.1:$HTTP_PORT (stop it with stop.sh)"
    fi
    rm -f "$PIDFILE"   # stale
fi

for p in "$HTTP_PORT" "$TCP_PORT"; do
    if port_in_use "$p"; then
        die "port 127.0.0.1:$p is already in use by another process (another ClickHouse? check 'ss -ltnp')"
    fi
done

# ---------------------------------------------------------------- config
mkdir -p "$DIR/data" "$DIR/tmp" "$DIR/user_files" "$DIR/format_schemas" "$DIR/log"

SHARDS=""
for p in ${CH_CLUSTER_SHARDS:-$TCP_PORT}; do
    [[ "$p" =~ ^[0-9]+$ ]] || die "CH_CLUSTER_SHARDS must list port numbers"
    SHARDS+="
            <shard>
                <internal_replication>true</internal_replication>
                <replica>
                    <host>127.0.0.1</host>
                    <port>$p</port>
                </replica>
            </shard>"
done
CLUSTER_EXTRA="
    <macros>
        <shard>${CH_SHARD:-1}</shard>
        <replica>127.0.0.1:$TCP_PORT</replica>
    </macros>"
if [[ -n "${CH_ZOOKEEPER:-}" ]]; then
    [[ "$CH_ZOOKEEPER" =~ ^([0-9.]+):([0-9]+)$ ]] || die "CH_ZOOKEEPER must be IP:PORT"
    CLUSTER_EXTRA+="
    <zookeeper>
        <node>
            <host>${BASH_REMATCH[1]}</host>
            <port>${BASH_REMATCH[2]}</port>
        </node>
    </zookeeper>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>"
fi
if [[ -n "${CH_INTERSERVER_PORT:-}" ]]; then
    CLUSTER_EXTRA+="
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <interserver_http_port>$CH_INTERSERVER_PORT</interserver_http_port>"
fi

cat >"$DIR/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Private ClickHouse instance for mailtrace's tests (generated by tests/clickhouse/start.sh). -->
<yandex>
    <logger>
        <level>information</level>
        <log>$DIR/log/server.log</log>
        <errorlog>$DIR/log/server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$HTTP_PORT</http_port>
    <tcp_port>$TCP_PORT</tcp_port>
    <path>$DIR/data/</path>
    <tmp_path>$DIR/tmp/</tmp_path>
    <user_files_path>$DIR/user_files/</user_files_path>
    <format_schema_path>$DIR/format_schemas/</format_schema_path>
    <users_config>$DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>10</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mlock_executable>false</mlock_executable>
    <max_table_size_to_drop>0</max_table_size_to_drop>
    <max_partition_size_to_drop>0</max_partition_size_to_drop>
    <remote_servers>
        <mailtrace_test>$SHARDS
        </mailtrace_test>
    </remote_servers>$CLUSTER_EXTRA
</yandex>
EOF

cat >"$DIR/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <mailtrace>
            <password>mailtrace-test</password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </mailtrace>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF

# ---------------------------------------------------------------- start
RUN=()
if [[ -n "$RUN_AS" && "$RUN_AS" != "$(id -un)" ]]; then
    [[ $EUID -eq 0 ]] || die "CH_RUN_AS=$RUN_AS needs root"
    getent passwd "$RUN_AS" >/dev/null || die "no such user: $RUN_AS"
    chown -R "$RUN_AS:" "$DIR"
    # setpriv execs (no fork), so that $! below is the server's pid.
    RUN=(setpriv --reuid="$RUN_AS" --regid="$(id -g "$RUN_AS")" --init-groups --)
fi

start_ns=$(date +%s%N)
# setsid: own session, so that the caller's Ctrl-C or process group kill does
# not reach it; it is stopped by pid (stop.sh). No watchdog process (current
# releases fork one when asked to).
CLICKHOUSE_WATCHDOG_ENABLE=0 setsid "${RUN[@]}" "${SERVER[@]}" --config-file="$DIR/config.xml" \
    </dev/null >>"$DIR/log/stdout.log" 2>&1 &
pid=$!
echo "$pid" >"$PIDFILE"

deadline=$(( $(date +%s) + START_TIMEOUT ))
until ping_ok; do
    if ! kill -0 "$pid" 2>/dev/null; then
        rm -f "$PIDFILE"
        die "server exited during startup; last log lines:"$'\n'"$(tail -n 20 "$DIR/log/stdout.log" "$DIR/log/server.err.log" 2>/dev/null)"
    fi
    if (( $(date +%s) >= deadline )); then
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$PIDFILE"
        die "no answer on http://127.0.0.1:$HTTP_PORT/ping after ${START_TIMEOUT}s; last log lines:"$'\n'"$(tail -n 20 "$DIR/log/server.err.log" 2>/dev/null)"
    fi
    sleep 0.05
done
if ! ours "$pid"; then
    rm -f "$PIDFILE"
    die "something else answers on 127.0.0.1:$HTTP_PORT"
fi
echo "http://127.0.0.1:$HTTP_PORT" >"$DIR/url"
ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
version="$(curl -fsS --max-time 5 "http://127.0.0.1:$HTTP_PORT/" --data-binary 'SELECT version()' 2>/dev/null || echo '?')"
log "ClickHouse $version up in ${ms} ms (pid $pid), http://127.0.0.1:$HTTP_PORT, native 127.0.0.1:$TCP_PORT, dir $DIR"
echo "$pid"
