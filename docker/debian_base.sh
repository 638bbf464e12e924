#!/usr/bin/env bash
# Build (once) a Debian bookworm base image from Debian's packages, for machines that reach the package
# registries but no image registry: debootstrap, this machine's CA bundle copied in (a TLS-inspecting proxy's
# CA may be only there), then `docker import`. The Dockerfiles keep their public base by default; pass this one
# with `--build-arg BASE=edgebench-base:bookworm-ARCH`.
#
# usage: docker/debian_base.sh ARCH (amd64 or arm64) -> prints the image name
# Reuse: an image of that name that already exists is kept. Needs root (debootstrap), and binfmt for arm64.
set -euo pipefail

ARCH=${1:?usage: debian_base.sh amd64|arm64}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# shellcheck source=tests/arm64/lib.sh
source "$REPO/tests/arm64/lib.sh"
IMAGE="edgebench-base:bookworm-$ARCH"
CACHE="$REPO/.cache/docker/base-$ARCH"

if docker image inspect "$IMAGE" > /dev/null 2>&1; then
    echo "$IMAGE"
    exit 0
fi
require_root
[[ "$ARCH" == amd64 ]] || ensure_host_tools
command -v debootstrap > /dev/null || die "debootstrap is missing: apt-get install -y debootstrap"
rm -rf --one-file-system "$CACHE"
mkdir -p "$CACHE"
MIRROR=$(debian_mirror)
say "base image $IMAGE: debootstrap bookworm $ARCH from $MIRROR (minutes)"
debootstrap --arch="$ARCH" --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$CACHE/root" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
cp "$(host_ca_bundle)" "$CACHE/root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$CACHE/root/var/cache/apt/archives/"*.deb "$CACHE/root/var/lib/apt/lists/"*
tar -C "$CACHE/root" -c . | docker import --platform "linux/$ARCH" - "$IMAGE" > /dev/null
if [[ $(docker image inspect -f '{{.Architecture}}' "$IMAGE") != "$ARCH" ]]; then
    python3 "$HERE/set_arch.py" "$IMAGE" "$ARCH"  # an import is recorded with the daemon's architecture
fi
rm -rf --one-file-system "$CACHE/root"
echo "$IMAGE"
