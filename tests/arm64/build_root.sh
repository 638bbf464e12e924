#!/usr/bin/env bash
# Build (once) a Debian arm64 root for SUITE under .cache/arm64/SUITE/, the userland of Raspberry Pi OS
# 64-bit (bookworm = Raspberry Pi OS 12, Python 3.11; bullseye = Raspberry Pi OS 11, Python 3.9), with an
# unprivileged user `pi` and the agent's runtimes installed in ~pi/agent-venv the way a Pi user installs them.
# Runs under qemu-user-static through binfmt. Needs root (debootstrap, chroot).
#
# usage: tests/arm64/build_root.sh SUITE
# Reuse: a finished stage leaves a stamp file, written last; a stage without its stamp is rebuilt.
set -euo pipefail

SUITE=${1:?usage: build_root.sh SUITE (bookworm or bullseye)}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/arm64/lib.sh
source "$HERE/lib.sh"

CACHE="$REPO/.cache/arm64/$SUITE"
ROOT="$CACHE/root"
ROOT_STAMP="$CACHE/root.done"
VENV_STAMP="$CACHE/venv.done"
AGENT_PACKAGES="numpy onnxruntime ai-edge-litert"

require_root
ensure_host_tools
mkdir -p "$CACHE"
# One build per suite at a time: a second run (a suite built ahead, then `make test-arm64`) waits for the first
# and reuses its stamps instead of building into the same folder.
exec 9> "$CACHE/.build.lock"
flock 9

if [[ ! -f "$ROOT_STAMP" ]]; then
    if [[ -e "$ROOT" ]]; then
        say "$SUITE: removing an unfinished root at $ROOT"
        unmount_all "$ROOT"
        rm -rf --one-file-system "$ROOT"
    fi
    rm -f "$VENV_STAMP"
    BASE_IMAGE="edgebench-base:$SUITE-arm64"  # the same debootstrap, made by `make test-docker`: reused
    if command -v docker > /dev/null && docker image inspect "$BASE_IMAGE" > /dev/null 2>&1; then
        say "$SUITE: root from the image $BASE_IMAGE (docker/debian_base.sh: the same debootstrap)"
        mkdir -p "$ROOT"
        container=$(docker create --platform linux/arm64 "$BASE_IMAGE" /bin/true)
        docker export "$container" | tar -x -C "$ROOT" || { docker rm "$container" > /dev/null; die "docker export failed"; }
        docker rm "$container" > /dev/null
    else
        MIRROR=$(debian_mirror)
        say "$SUITE: debootstrap arm64 from $MIRROR (about 5 minutes, 330 MB)"
        debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,python3-pip \
            "$SUITE" "$ROOT" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
            || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap $SUITE failed (log: $CACHE/debootstrap.log)"; }
    fi
    # An unprivileged user, as on a Pi: the agent must not need root.
    chroot "$ROOT" /usr/sbin/useradd --create-home --uid 1000 --shell /bin/bash pi
    date -u +%Y-%m-%dT%H:%M:%SZ > "$ROOT_STAMP"
fi

if [[ ! -f "$VENV_STAMP" ]]; then
    # pip inside the root must not inherit this machine's pip settings (find-links, constraints, local
    # indexes): an empty environment, --isolated, and only the CA bundle and index URL carried over.
    cp "$(host_ca_bundle)" "$ROOT/etc/ssl/host-ca.crt"
    chmod 644 "$ROOT/etc/ssl/host-ca.crt"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
    INDEX=$(host_index_url)
    INDEX_ARGS=()
    [[ -n "$INDEX" ]] && INDEX_ARGS=(--index-url "$INDEX")
    say "$SUITE: venv in ~pi/agent-venv with $AGENT_PACKAGES from ${INDEX:-PyPI, pip default}"
    as_pi() { chroot --userspec=pi:pi "$ROOT" env -i PATH=/usr/bin:/bin HOME=/home/pi "$@"; }
    PIP=(/home/pi/agent-venv/bin/python -m pip --isolated --disable-pip-version-check
         --cert /etc/ssl/host-ca.crt)
    rm -rf "$ROOT/home/pi/agent-venv"
    as_pi python3 -m venv /home/pi/agent-venv
    # Debian's venv pip is old (20.3 on bullseye); a Pi user's first step is the same upgrade.
    as_pi "${PIP[@]}" install "${INDEX_ARGS[@]}" -q --no-cache-dir --upgrade pip > "$CACHE/pip.log" 2>&1 \
        || { tail -20 "$CACHE/pip.log" >&2; die "$SUITE: pip upgrade failed (log: $CACHE/pip.log)"; }
    # shellcheck disable=SC2086
    as_pi "${PIP[@]}" install "${INDEX_ARGS[@]}" --no-cache-dir --only-binary=:all: $AGENT_PACKAGES >> "$CACHE/pip.log" 2>&1 \
        || { tail -20 "$CACHE/pip.log" >&2; die "$SUITE: pip install failed (log: $CACHE/pip.log)"; }
    as_pi /home/pi/agent-venv/bin/python -c 'import platform, sys; print("python", platform.python_version())' \
        > "$CACHE/versions.txt"
    as_pi "${PIP[@]}" list --format=freeze >> "$CACHE/versions.txt"
    date -u +%Y-%m-%dT%H:%M:%SZ > "$VENV_STAMP"
fi
say "$SUITE: root ready ($(du -sm --one-file-system "$ROOT" | cut -f1) MB): $(tr '\n' ' ' < "$CACHE/versions.txt")"
