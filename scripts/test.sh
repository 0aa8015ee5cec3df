#!/usr/bin/env bash
# Runs every test of mailtrace, with all the set-up the tests need:
#   - installs Postfix (and pflogsumm, used by the benchmark) from Debian when missing,
#     without configuring or starting the system's own instance;
#   - installs Chromium from Debian when missing, and the dashboard test's npm packages
#     (tests/web: playwright-core, from package-lock.json) when tests/web/node_modules is missing;
#   - unpacks Exim 4 (tests/mta/exim/install.sh) for the real-Exim tests, and perl for its
#     exigrep and eximstats; unpacks Sendmail 8 (tests/mta/sendmail/install.sh) for the
#     real-Sendmail test;
#   - installs Debian's ClickHouse server when missing and starts a private instance on
#     127.0.0.1:18123 for the ClickHouse store's tests, and (with Debian's ZooKeeper) a
#     two-shard cluster on 127.0.0.1:18131/18132 (all stopped at the end);
#   - runs `cargo test --workspace`; the real-Postfix test (tests/mta/postfix/run.sh) starts a
#     private Postfix instance and smtp-sink servers on loopback and stops them by pid, the
#     real-Exim test (tests/mta/exim/run.sh) a private Exim daemon the same way, the
#     real-Sendmail test (tests/mta/sendmail/run.sh) a private Sendmail daemon in its own
#     mount namespace (unshare: its syslog goes to the run's file).
# Needs root (or sudo) only to install packages and to run Postfix, Exim and Sendmail.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

need=()
[ -x /usr/sbin/postfix ] && [ -x /usr/sbin/smtp-sink ] || need+=(postfix)
command -v pflogsumm >/dev/null || [ -x /usr/sbin/pflogsumm ] || need+=(pflogsumm)
[ -x /usr/bin/chromium ] || need+=(chromium)   # the dashboard test (tests/web) drives it headless
[ -x /usr/bin/perl ] || need+=(perl)           # runs Exim's exigrep and eximstats (tests/mta/exim)
command -v logger >/dev/null || need+=(bsdutils)  # `logger` sends syslog to the receiver (tests/syslog.rs)
if [ ${#need[@]} -gt 0 ]; then
    echo "scripts/test.sh: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # "No configuration": the package must not set up (or start) a system mail server.
    echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Exim 4 for the real-Exim tests, unpacked into /opt/mailtrace-exim (never installed as a
# package: Debian's exim4 conflicts with postfix). Idempotent; root only when something is missing.
tests/mta/exim/install.sh >/dev/null 2>&1 || as_root tests/mta/exim/install.sh >/dev/null

# Sendmail 8 for the real-Sendmail test, unpacked into /opt/mailtrace-sendmail the same way
# (Debian's sendmail conflicts with postfix too), with m4 to build its configuration.
tests/mta/sendmail/install.sh >/dev/null 2>&1 || as_root tests/mta/sendmail/install.sh >/dev/null

# The dashboard test's npm packages (exact versions from tests/web/package-lock.json).
if [ ! -d tests/web/node_modules ]; then
    if command -v npm >/dev/null; then
        echo "scripts/test.sh: installing the npm packages of tests/web"
        (cd tests/web && npm ci --no-audit --no-fund)
    else
        echo "scripts/test.sh: npm not found: the dashboard test needs Node.js >= 20 and npm" >&2
    fi
fi

# ClickHouse for the ClickHouse store's tests (the store suite runs against it): Debian's
# clickhouse-server (tests/clickhouse/install.sh), a private instance on loopback with its data
# in a temporary directory, stopped by pid when the tests end.
tests/clickhouse/install.sh >/dev/null 2>&1 || as_root tests/clickhouse/install.sh >/dev/null
ch_dir=$(mktemp -d)
cluster_dir=$(mktemp -d)
trap 'tests/clickhouse/stop.sh "$ch_dir" --kill >/dev/null 2>&1; tests/clickhouse/cluster.sh stop "$cluster_dir" >/dev/null 2>&1; rm -rf "$ch_dir" "$cluster_dir"' EXIT
CH_HTTP_PORT=18123 CH_TCP_PORT=19000 tests/clickhouse/start.sh "$ch_dir" >/dev/null
export MAILTRACE_TEST_CLICKHOUSE=http://127.0.0.1:18123
# And a two-shard cluster (ZooKeeper and two nodes, tests/clickhouse/cluster.sh) for the
# `migrate --cluster` variant.
if [[ -x /usr/share/zookeeper/bin/zkServer.sh ]]; then
    cluster_url=$(tests/clickhouse/cluster.sh start "$cluster_dir")
else
    cluster_url=$(as_root tests/clickhouse/cluster.sh start "$cluster_dir")
fi
export MAILTRACE_TEST_CLICKHOUSE_CLUSTER="$cluster_url"

# In CI the real-Postfix, real-Exim, real-Sendmail and dashboard tests must run, never skip.
export CI="${CI:-}"
cargo test --workspace --locked "$@"
