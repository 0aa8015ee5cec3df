#!/usr/bin/env bash
# Install Debian's ClickHouse server and client when missing (for CI and developers).
#
# Usage: tests/clickhouse/install.sh
#
# Idempotent: does nothing when clickhouse-server is already installed. Needs
# root (apt-get). Debian bookworm ships 18.16.1 (about 17 MB to download,
# a few seconds to install). The package's maintainer script would start the
# system-wide instance (/etc/init.d/clickhouse-server, ports 8123 and 9000,
# clashing with start.sh); a policy-rc.d that forbids starting services is put
# in place for the install when the machine has none, and removed afterwards.
set -euo pipefail

export PATH="/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

log() { printf '[%s] clickhouse: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[%s] clickhouse: ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

if command -v clickhouse-server >/dev/null 2>&1 && command -v clickhouse-client >/dev/null 2>&1; then
    exit 0
fi
[[ $EUID -eq 0 ]] || die "clickhouse-server is not installed and installing it needs root"

POLICY=/usr/sbin/policy-rc.d
made_policy=0
cleanup() { if [[ $made_policy == 1 ]]; then rm -f "$POLICY"; fi; }
trap cleanup EXIT
if [[ ! -e "$POLICY" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    made_policy=1
fi

log "installing clickhouse-server and clickhouse-client (Debian)"
if ! apt-get install -y -q --no-install-recommends clickhouse-server clickhouse-client >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends clickhouse-server clickhouse-client >/dev/null ||
        die "apt-get install clickhouse-server clickhouse-client failed"
fi
log "installed: $(dpkg-query -W -f='${Version}' clickhouse-server)"
