#!/usr/bin/env bash
# Installs a private, unconfigured Exim 4 for the mailtrace Exim harness.
#
# Usage: tests/mta/exim/install.sh        (idempotent; root when something is missing)
#
# Debian's exim4 packages conflict with postfix (installing them would remove
# Postfix, which the other tests need), so they are never installed with
# apt-get/dpkg -i. Instead the three .debs are fetched with `apt-get download`
# into $CACHE and unpacked with `dpkg -x` into $DEST (default
# /opt/mailtrace-exim). Nothing in /etc is touched and no daemon is started.
#
# System changes this script may make (all only when missing):
#   - apt-get install of the *library* packages exim4-daemon-light depends on
#     (libidn12 is usually the only one not already present);
#   - the system user/group "Debian-exim": the Debian binary has that user
#     name compiled in and refuses to start without it.
#
# Prints the absolute path of the exim binary on stdout (and nothing else);
# progress messages go to stderr. Needs root only when something is missing.
#
# Environment: MAILTRACE_EXIM_ROOT (install dir), MAILTRACE_EXIM_CACHE (.deb cache).
set -euo pipefail

export PATH="/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
export LC_ALL=C

DEST="${MAILTRACE_EXIM_ROOT:-/opt/mailtrace-exim}"
CACHE="${MAILTRACE_EXIM_CACHE:-/var/cache/mailtrace-exim}"
PKGS=(exim4-daemon-light exim4-base exim4-config)
EXIM="$DEST/usr/sbin/exim4"
STAMP="$DEST/.mailtrace-installed"

say() { printf 'exim/install.sh: %s\n' "$*" >&2; }
die() { printf 'exim/install.sh: ERROR: %s\n' "$*" >&2; exit 1; }

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
if [[ ! -f "$STAMP" || ! -x "$EXIM" ]]; then
    need_root "unpack Exim into $DEST"
    mkdir -p "$CACHE"
    have_all=1
    for p in "${PKGS[@]}"; do
        compgen -G "$CACHE/${p}_*.deb" >/dev/null || have_all=0
    done
    if [[ $have_all == 0 ]]; then
        say "downloading ${PKGS[*]} into $CACHE"
        rm -f "$CACHE"/*.deb
        # _apt must be able to write there, or apt-get download warns about
        # an unsandboxed download.
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
    [[ -x "$tmp/usr/sbin/exim4" ]] || die "no usr/sbin/exim4 in the unpacked packages"
    # The harness always runs exim as root; do not leave a setuid-root copy around.
    chmod u-s "$tmp/usr/sbin/exim4"
    dpkg-deb -f "$CACHE/exim4-daemon-light"_*.deb Version >"$tmp/VERSION"
    dpkg-deb -f "$CACHE/exim4-daemon-light"_*.deb Depends >"$tmp/DEPENDS"
    touch "$tmp/.mailtrace-installed"
    rm -rf "$DEST"
    mv "$tmp" "$DEST"
    say "unpacked Exim $(cat "$DEST/VERSION") into $DEST"
fi

# ---------------------------------------------------------------- libraries
# Library packages from the Depends of exim4-daemon-light that are not installed.
missing=()
IFS=',' read -ra deps <"$DEST/DEPENDS"
for d in "${deps[@]}"; do
    d="${d%%|*}"; d="${d%%(*}"; d="${d//[[:space:]]/}"
    [[ "$d" == lib* ]] || continue
    status="$(dpkg-query -W -f='${Status}' "$d" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || missing+=("$d")
done
if ((${#missing[@]})); then
    need_root "install ${missing[*]}"
    say "installing libraries: ${missing[*]}"
    apt_quiet install -y -qq --no-install-recommends "${missing[@]}"
fi
if ldd "$EXIM" | grep -q 'not found'; then
    die "exim still misses shared libraries: $(ldd "$EXIM" | grep 'not found' | tr -s ' \t\n' ' ')"
fi

# ---------------------------------------------------------------- user
if ! getent group Debian-exim >/dev/null; then
    need_root "create the group Debian-exim"
    say "creating system group Debian-exim"
    groupadd --system Debian-exim
fi
if ! getent passwd Debian-exim >/dev/null; then
    need_root "create the user Debian-exim"
    say "creating system user Debian-exim"
    useradd --system --gid Debian-exim --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin Debian-exim
fi

# ---------------------------------------------------------------- checks
out="$("$EXIM" -C /dev/null -bV 2>&1)" || die "exim does not run: $out"
grep -q '^Exim version 4' <<<"$out" || die "unexpected 'exim -bV' output: $out"
for s in exigrep eximstats; do
    [[ -x "$DEST/usr/sbin/$s" ]] || die "$s missing from exim4-base"
    perl -c "$DEST/usr/sbin/$s" >/dev/null 2>&1 || die "$s does not compile with $(command -v perl)"
done

echo "$EXIM"
