#!/usr/bin/env bash
# A private two-shard ClickHouse cluster for mailtrace's tests: ZooKeeper and two
# ClickHouse nodes (tests/clickhouse/start.sh), all on loopback.
#
# Usage: tests/clickhouse/cluster.sh start DIR    # prints node 1's URL
#        tests/clickhouse/cluster.sh stop DIR
#
# ZooKeeper (Debian's `zookeeper` package, installed when missing; needs root
# then) listens on 127.0.0.1:$ZK_PORT (default 21810) with its data in DIR/zk.
# Node N (1, 2) is shard N of the cluster "mailtrace_test": HTTP
# 127.0.0.1:$((CH_CLUSTER_BASE + N)) (default base 18130), native
# $((CH_CLUSTER_BASE + 1000 + N)), interserver $((CH_CLUSTER_BASE + 1100 + N)),
# data in DIR/node-N. Everything is stopped by pid; nothing runs as a service.
set -euo pipefail

export PATH="/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

ZK_PORT="${ZK_PORT:-21810}"
BASE="${CH_CLUSTER_BASE:-18130}"
HERE="$(cd "$(dirname "$0")" && pwd -P)"

log() { printf '[%s] cluster: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[%s] cluster: ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

[[ $# -eq 2 && ( $1 == start || $1 == stop ) ]] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
mkdir -p "$2"
DIR="$(cd "$2" && pwd -P)"

zk_ok() {   # true if ZooKeeper answers "imok"
    [[ "$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$ZK_PORT; printf ruok >&3; cat <&3" 2>/dev/null)" == imok ]]
}

stop() {
    for n in 1 2; do
        "$HERE/stop.sh" "$DIR/node-$n" --kill >/dev/null 2>&1 || true
    done
    if [[ -s "$DIR/zk.pid" ]]; then
        local pid
        pid="$(tr -dc '0-9' <"$DIR/zk.pid")"
        # Its own process group (setsid): the script and the JVM.
        [[ -n "$pid" ]] && kill -KILL -- "-$pid" 2>/dev/null || true
        rm -f "$DIR/zk.pid"
    fi
}

if [[ $1 == stop ]]; then
    stop
    log "stopped"
    exit 0
fi

ZKSERVER=/usr/share/zookeeper/bin/zkServer.sh
if [[ ! -x $ZKSERVER ]]; then
    [[ $EUID -eq 0 ]] || die "ZooKeeper is not installed and installing it needs root"
    log "installing zookeeper (Debian)"
    if ! apt-get install -y -q --no-install-recommends zookeeper >/dev/null 2>&1; then
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends zookeeper >/dev/null || die "apt-get install zookeeper failed"
    fi
fi

trap 'stop' ERR
mkdir -p "$DIR/zk/data"
cat >"$DIR/zk/zoo.cfg" <<CFG
tickTime=2000
dataDir=$DIR/zk/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok
CFG
if ! zk_ok; then
    # JMXDISABLE: no JMX port (it would listen on every interface).
    JMXDISABLE=true ZOO_LOG_DIR="$DIR/zk" setsid "$ZKSERVER" start-foreground "$DIR/zk/zoo.cfg" >"$DIR/zk/out.log" 2>&1 &
    echo $! >"$DIR/zk.pid"
    for _ in $(seq 1 120); do
        zk_ok && break
        sleep 0.5
    done
    zk_ok || { tail -20 "$DIR/zk/out.log" >&2; die "ZooKeeper did not start on 127.0.0.1:$ZK_PORT"; }
fi
log "ZooKeeper up on 127.0.0.1:$ZK_PORT"

SHARDS="$((BASE + 1001)) $((BASE + 1002))"
for n in 1 2; do
    CH_HTTP_PORT=$((BASE + n)) CH_TCP_PORT=$((BASE + 1000 + n)) \
        CH_INTERSERVER_PORT=$((BASE + 1100 + n)) CH_CLUSTER_SHARDS="$SHARDS" CH_SHARD=$n \
        CH_ZOOKEEPER="127.0.0.1:$ZK_PORT" "$HERE/start.sh" "$DIR/node-$n" >/dev/null
done
log "nodes up: http://127.0.0.1:$((BASE + 1)) and http://127.0.0.1:$((BASE + 2)), cluster mailtrace_test"
echo "http://127.0.0.1:$((BASE + 1))"
