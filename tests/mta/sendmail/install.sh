#!/usr/bin/env bash
# Installs a private, unconfigured Sendmail 8 for the mailtrace Sendmail harness.
#
# Usage: tests/mta/sendmail/install.sh        (idempotent; root when something is missing)
#
# Debian's sendmail packages conflict with postfix (installing them would remove Postfix,
# which the other tests need), so they are never installed with apt-get/dpkg -i. Instead
# sendmail-bin, sendmail-base and sendmail-cf (the m4 macros that build a sendmail.cf) are
# fetched with `apt-get download` into $CACHE and unpacked with `dpkg -x` into $DEST
# (default /opt/mailtrace-sendmail). Nothing in /etc is touched and no daemon is started.
#
# System changes this script may make (only when missing): apt-get install of m4 (builds
# the configuration) and of the *library* packages sendmail-bin depends on (libwrap0 is
# usually the only one not already present).
#
# Prints the absolute path of the sendmail binary on stdout (and nothing else); progress
# messages go to stderr.
#
# Environment: MAILTRACE_SENDMAIL_ROOT (install dir), MAILTRACE_SENDMAIL_CACHE (.deb cache).
set -euo pipefail

export PATH="/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
export LC_ALL=C

DEST="${MAILTRACE_SENDMAIL_ROOT:-/opt/mailtrace-sendmail}"
CACHE="${MAILTRACE_SENDMAIL_CACHE:-/var/cache/mailtrace-sendmail}"
PKGS=(sendmail-bin sendmail-base sendmail-cf)
SENDMAIL="$DEST/usr/libexec/sendmail/sendmail"
STAMP="$DEST/.mailtrace-installed"

say() { printf 'sendmail/install.sh: %s\n' "$*" >&2; }
die() { printf 'sendmail/install.sh: ERROR: %s\n' "$*" >&2; exit 1; }

need_root() {
    [[ $EUID -eq 0 ]] || die "must run as root to $1"
}

apt_quiet() {   # apt-get with retry after an index refresh (stale lists -> 404)
    if ! DEBIAN_FRONTEND=noninteractive apt-get "$@" >/dev/null 2>&1; then
        say "apt-get $1 failed, refreshing package lists and retrying"
        apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get "$@" >/dev/null ||
            die "apt-get $* failed"
    fi
}

# ---------------------------------------------------------------- unpack
if [[ ! -f "$STAMP" || ! -x "$SENDMAIL" ]]; then
    need_root "unpack Sendmail into $DEST"
    mkdir -p "$CACHE"
    have_all=1
    for p in "${PKGS[@]}"; do
        compgen -G "$CACHE/${p}_*.deb" >/dev/null || have_all=0
    done
    if [[ $have_all == 0 ]]; then
        say "downloading ${PKGS[*]} into $CACHE"
        rm -f "$CACHE"/*.deb
        chown _apt "$CACHE" 2>/dev/null || true
        (cd "$CACHE" && apt_quiet download "${PKGS[@]}")
    fi
    for p in "${PKGS[@]}"; do
        n=$(compgen -G "$CACHE/${p}_*.deb" | wc -l)
        [[ $n == 1 ]] || die "expected exactly one $p .deb in $CACHE, found $n (remove $CACHE to start over)"
    done
    tmp="$DEST.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    for p in "${PKGS[@]}"; do
        dpkg-deb -x "$CACHE/${p}"_*.deb "$tmp"
    done
    [[ -x "$tmp/usr/libexec/sendmail/sendmail" ]] || die "no usr/libexec/sendmail/sendmail in the unpacked packages"
    # The harness always runs sendmail as root; leave no set-gid copy around.
    chmod g-s "$tmp/usr/libexec/sendmail/sendmail"
    dpkg-deb -f "$CACHE/sendmail-bin"_*.deb Version >"$tmp/VERSION"
    dpkg-deb -f "$CACHE/sendmail-bin"_*.deb Depends >"$tmp/DEPENDS"
    touch "$tmp/.mailtrace-installed"
    rm -rf "$DEST"
    mv "$tmp" "$DEST"
    chmod 755 "$DEST"
    say "unpacked Sendmail $(cat "$DEST/VERSION") into $DEST"
fi

# ---------------------------------------------------------------- libraries and m4
missing=()
IFS=',' read -ra deps <"$DEST/DEPENDS"
for d in "${deps[@]}"; do
    d="${d%%|*}"; d="${d%%(*}"; d="${d//[[:space:]]/}"
    [[ "$d" == lib* ]] || continue
    status="$(dpkg-query -W -f='${Status}' "$d" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || missing+=("$d")
done
command -v m4 >/dev/null 2>&1 || missing+=(m4)
if ((${#missing[@]})); then
    need_root "install ${missing[*]}"
    say "installing: ${missing[*]}"
    apt_quiet install -y -qq --no-install-recommends "${missing[@]}"
fi
if ldd "$SENDMAIL" | grep -q 'not found'; then
    die "sendmail still misses shared libraries: $(ldd "$SENDMAIL" | grep 'not found' | tr -s ' \t\n' ' ')"
fi

# ---------------------------------------------------------------- checks
out="$("$SENDMAIL" -d0.1 -bt -C /dev/null </dev/null 2>&1 || true)"
grep -q '^Version 8\.' <<<"$out" || die "unexpected 'sendmail -d0.1' output: $out"
[[ -f "$DEST/usr/share/sendmail/cf/m4/cf.m4" ]] || die "cf.m4 missing from sendmail-cf"

echo "$SENDMAIL"
