# Shared shell functions of the arm64 emulation checks (sourced, not run).

say() { printf '[arm64] %s\n' "$*" >&2; }
die() { printf '[arm64] error: %s\n' "$*" >&2; exit 1; }

require_root() {
    [[ $(id -u) -eq 0 ]] || die "run as root: debootstrap, chroot and binfmt need it (sudo make test-arm64)"
}

# qemu-user-static, binfmt-support and debootstrap, installed when missing; aarch64 binaries run through binfmt.
ensure_host_tools() {
    local missing=()
    command -v qemu-aarch64-static > /dev/null || missing+=(qemu-user-static)
    command -v update-binfmts > /dev/null || missing+=(binfmt-support)
    command -v debootstrap > /dev/null || missing+=(debootstrap)
    if (( ${#missing[@]} )); then
        command -v apt-get > /dev/null || die "install ${missing[*]} (apt-get is not available here)"
        say "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" > /dev/null \
            || { apt-get update -q > /dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" > /dev/null; } \
            || die "apt-get install ${missing[*]} failed"
    fi
    if [[ ! -e /proc/sys/fs/binfmt_misc/status ]]; then
        mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc"
    fi
    if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
        update-binfmts --enable qemu-aarch64 || die "update-binfmts --enable qemu-aarch64 failed"
    fi
}

# The Debian mirror this machine's apt uses (deb822 or one-line sources), or ARM64_MIRROR.
debian_mirror() {
    local uri=""
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
        uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^(http|https|ftp):/) {print $i; exit}}' \
            /etc/apt/sources.list)
    fi
    [[ -n "${ARM64_MIRROR:-$uri}" ]] || die "no Debian mirror in apt's sources: set ARM64_MIRROR to one"
    echo "${ARM64_MIRROR:-$uri}"
}

host_ca_bundle() {
    local bundle
    for bundle in "${PIP_CERT:-}" /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
        [[ -n "$bundle" && -f "$bundle" ]] && { echo "$bundle"; return; }
    done
    die "no CA bundle found on this machine (set PIP_CERT)"
}

# The registry this machine's pip uses when it is an http(s) mirror; local file:// indexes do not count.
host_index_url() {
    local url="${ARM64_INDEX_URL:-${PIP_INDEX_URL:-}}"
    if [[ -z "$url" ]] && command -v pip3 > /dev/null; then
        url=$(pip3 config get global.index-url 2> /dev/null || true)
    fi
    [[ "$url" == http* ]] || url=""  # none configured: pip's own default index (PyPI)
    echo "$url"
}

# Unmount everything under a root, deepest first; fail rather than leave /dev or /proc bound into it.
unmount_all() {
    local root target
    root=$(realpath "$1")
    while read -r target; do
        umount "$target" 2> /dev/null || umount -l "$target" || die "cannot unmount $target"
    done < <(awk -v root="$root" '$2 == root || index($2, root "/") == 1 {print $2}' /proc/self/mounts | sort -r)
    if awk -v root="$root" 'index($2, root "/") == 1 {found = 1} END {exit !found}' /proc/self/mounts; then
        die "mounts remain under $root"
    fi
}
