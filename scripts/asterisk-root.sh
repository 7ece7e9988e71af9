#!/usr/bin/env bash
# Provision and run a real Asterisk 22 on a plain Debian 12 host without Docker.
#
# Debian bookworm ships no asterisk package; sid does. Adding sid to the host's apt
# sources would drag libc and Python into sid, so we build a minimal sid root in a
# folder with debootstrap, install asterisk inside it and run it chrooted in a private
# mount namespace (its /dev and /proc mounts vanish with the process).
#
#   scripts/asterisk-root.sh build     build the cached root if missing (idempotent)
#   scripts/asterisk-root.sh sync      copy dialplan/ and callrec_ari/sounds/ into the root
#   scripts/asterisk-root.sh run       sync, then run asterisk in the foreground (exec)
#   scripts/asterisk-root.sh run-etc DIR   run another asterisk on configuration folder DIR
#   scripts/asterisk-root.sh cli CMD   run an asterisk CLI command on the running instance
#   scripts/asterisk-root.sh path      print the root's path
#
# Environment: CALLREC_ASTERISK_ROOT (default /var/cache/callrec/asterisk-sid),
#              CALLREC_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#              CALLREC_ASTERISK_EXTRA_CONF (a folder of extra .conf files for this run, e.g. bench/asterisk).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=${CALLREC_ASTERISK_ROOT:-/var/cache/callrec/asterisk-sid}
mirror=${CALLREC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Bump when the package set below changes so cached roots are rebuilt.
root_version=3
packages="asterisk asterisk-modules asterisk-core-sounds-en-gsm"

log() { echo "asterisk-root: $*" >&2; }

need_root() {
    if [ "$(id -u)" != 0 ]; then
        log "must run as root (debootstrap, chroot and mount need it)"
        exit 1
    fi
}

built() {
    [ -f "$root/.callrec-root" ] && [ "$(cat "$root/.callrec-root")" = "$root_version" ]
}

build() {
    need_root
    if built; then
        return 0
    fi
    command -v debootstrap >/dev/null || {
        log "installing debootstrap (bookworm)"
        apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null
    }
    local tmp="$root.building"
    rm -rf "$tmp"
    mkdir -p "$(dirname "$root")"
    local attempt
    for attempt in 1 2 3; do
        log "building Debian sid root in $tmp (attempt $attempt; about a minute)"
        if debootstrap --variant=minbase sid "$tmp" "$mirror" >"$tmp.log" 2>&1 \
            && chroot "$tmp" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends $packages >>"$tmp.log" 2>&1; then
            chroot "$tmp" apt-get clean
            echo "$root_version" >"$tmp/.callrec-root"
            rm -rf "$root"
            mv "$tmp" "$root"
            rm -f "$tmp.log"
            log "root ready: $(chroot "$root" asterisk -V)"
            return 0
        fi
        log "building the sid root failed (Debian sid moves daily; retrying). Last lines:"
        tail -n 15 "$tmp.log" >&2 || true
        rm -rf "$tmp"
        sleep $((attempt * 5))
    done
    log "could not build the Asterisk root from $mirror; see the apt output above"
    exit 1
}

# Folder $1 takes the files of folder $2 (on the same file system), each by one rename: an Asterisk
# that starts or plays a sound meanwhile on this root reads every file whole, the old one or the new,
# never a folder emptied and refilled (`make test` starts the integration tier's Asterisk and the soak
# smoke's node at the same moment, and each start syncs: a folder rewritten under the other's start
# once left it without pjsip.conf and ari.conf). Files $2 does not have are removed from $1.
swap_files() {
    local dest="$1" staged="$2" f
    mkdir -p "$dest"
    for f in "$dest"/* "$dest"/.[!.]*; do
        [ -e "$f" ] || continue
        [ -e "$staged/$(basename "$f")" ] || rm -rf "$f"
    done
    for f in "$staged"/*; do
        mv -f "$f" "$dest/"
    done
    rmdir "$staged"
}

sync_config() {
    build
    local etc="$root/etc/asterisk"
    # Our configuration only: the Debian sample files would load modules and bind ports we do not want.
    if [ -d "$etc" ] && [ ! -d "$root/etc/asterisk.debian-sample" ]; then
        mv "$etc" "$root/etc/asterisk.debian-sample"
    fi
    local staged="$root/etc/.asterisk.staged.$$"
    rm -rf "$staged"
    mkdir -p "$staged"
    cp "$here"/dialplan/*.conf "$staged/"
    # Extra files for this run only (make bench's baseline): never part of the shipped dialplan/.
    if [ -n "${CALLREC_ASTERISK_EXTRA_CONF:-}" ]; then
        cp "$CALLREC_ASTERISK_EXTRA_CONF"/*.conf "$staged/"
    fi
    # The dialplan refuses calls before the RTP range runs out (Asterisk crashes when it does): one call
    # per 8 ports of the range in force; Asterisk's maxcalls counts PBX threads, two per call
    # (dialplan/asterisk.conf; callrec_ari/pbx/cluster.py max_calls).
    local calls
    calls=$(awk -F'=' '/^rtpstart/ {s=$2} /^rtpend/ {e=$2} END {c=int((e-s+1)/8); print (c<1?1:c)}' "$staged/rtp.conf")
    sed -i "s/^CALLREC_MAX_CALLS = .*/CALLREC_MAX_CALLS = $calls/" "$staged/extensions.conf"
    sed -i "s/^maxcalls = .*/maxcalls = $((2 * calls))/" "$staged/asterisk.conf"
    swap_files "$etc" "$staged"
    # Language-independent folder: sounds/en is an absolute symlink that only resolves inside the root.
    local sounds="$root/usr/share/asterisk/sounds/callrec"
    staged="$root/usr/share/asterisk/sounds/.callrec.staged.$$"
    rm -rf "$staged"
    mkdir -p "$staged"
    cp "$here"/callrec_ari/sounds/*.wav "$staged/"
    swap_files "$sounds" "$staged"
    # Name lookups must never stall calls: debootstrap leaves no /etc/hosts, so Asterisk asked DNS for
    # its own host name (and the root servers) about once per call leg, and a slow or missing DNS
    # server then held up every call. The root answers its own names itself, and DNS gives up fast.
    local host
    host=$(uname -n)
    printf '127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback %s\n' "$host" "$host" \
        >"$root/etc/hosts"
    printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf.callrec"
    grep -q '^hosts:' "$root/etc/nsswitch.conf" 2>/dev/null \
        && sed -i 's/^hosts:.*/hosts: files dns/' "$root/etc/nsswitch.conf" \
        || cat "$root/etc/nsswitch.conf.callrec" >>"$root/etc/nsswitch.conf"
    rm -f "$root/etc/nsswitch.conf.callrec"
    if [ -f /etc/resolv.conf ]; then
        { grep -v '^options' /etc/resolv.conf; echo 'options timeout:1 attempts:1'; } >"$root/etc/resolv.conf"
    fi
    # Inside the root: /var/run is an absolute symlink that would resolve to the host's /run.
    chroot "$root" /bin/sh -c 'mkdir -p /var/spool/asterisk/recording /run/asterisk /var/log/asterisk \
        /var/lib/asterisk && chown -R asterisk:asterisk /etc/asterisk /var/spool/asterisk /run/asterisk \
        /var/log/asterisk /var/lib/asterisk'
}

run() {
    need_root
    sync_config
    # A stale control socket from a killed instance would make -r talk to nothing.
    rm -f "$root/var/run/asterisk/asterisk.ctl"
    exec unshare --mount --propagation private /bin/sh -c '
        set -e
        mount --rbind /dev "$1/dev"
        mount -t proc proc "$1/proc"
        exec chroot "$1" /usr/sbin/asterisk -f -n -U asterisk -G asterisk
    ' sh "$root"
}

# An Asterisk of the same root on another configuration folder (tests/integration/test_deploy_guide.py:
# Debian's sample /etc/asterisk with our parts merged as docs/deploy.md says). The folder is bind-mounted
# over /etc/asterisk in a private mount namespace, so the root and the instance of `run` are untouched;
# its asterisk.conf must give it its own run, db and log directories (below /run and /var) so that both
# can run at once.
run_etc() {
    need_root
    sync_config
    local etc dirs
    etc=$(readlink -f "$1")
    # The folders its asterisk.conf names (a cluster node's, callrec_ari/pbx/cluster.py, or the
    # deploy guide's), created inside the root for the asterisk user.
    dirs=$(sed -n 's/^\(astrundir\|astdbdir\|astlogdir\|astspooldir\) *=> *//p' "$etc/asterisk.conf" | tr '\n' ' ')
    spool=$(sed -n 's/^astspooldir *=> *//p' "$etc/asterisk.conf")
    chroot "$root" /bin/sh -c "mkdir -p $dirs ${spool:+$spool/recording} && chown -R asterisk:asterisk $dirs"
    chmod -R a+rX "$etc"
    exec unshare --mount --propagation private /bin/sh -c '
        set -e
        mount --rbind /dev "$1/dev"
        mount -t proc proc "$1/proc"
        mount --bind "$2" "$1/etc/asterisk"
        exec chroot "$1" /usr/sbin/asterisk -f -n -U asterisk -G asterisk -C /etc/asterisk/asterisk.conf
    ' sh "$root" "$etc"
}

cli() {
    need_root
    exec chroot "$root" /usr/sbin/asterisk -r -n -x "$*"
}

case "${1:-}" in
    build) build ;;
    sync) sync_config ;;
    run) run ;;
    run-etc) shift; run_etc "$1" ;;
    cli) shift; cli "$@" ;;
    path) echo "$root" ;;
    *) sed -n '2,17p' "$0"; exit 2 ;;
esac
