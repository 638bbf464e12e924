#!/usr/bin/env bash
# How onnxruntime in an emulated arm64 root behaves with three views of /sys: none, the host's, and a minimal
# one that holds only /sys/devices/system/cpu/{possible,present,online}. Diagnostic, not part of `make test-arm64`.
#
# usage: tests/arm64/probe_sys.sh SUITE   (after `make test-arm64` has built .cache/arm64/SUITE)
set -euo pipefail

SUITE=${1:?usage: probe_sys.sh SUITE}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/arm64/lib.sh
source "$HERE/lib.sh"
ROOT="$REPO/.cache/arm64/$SUITE/root"
MODEL=/home/pi/bundle/model.fp32.onnx

require_root
[[ -f "$REPO/.cache/arm64/$SUITE/venv.done" && -f "$ROOT$MODEL" ]] || die "run \`make test-arm64\` first"
ensure_host_tools
trap 'unmount_all "$ROOT"' EXIT
trap 'exit 130' INT TERM
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"

probe() {
    local view=$1 code=0
    (chroot --userspec=pi:pi "$ROOT" env -i PATH=/usr/bin:/bin HOME=/home/pi /home/pi/agent-venv/bin/python -c \
        "import onnxruntime as ort; ort.InferenceSession('$MODEL', providers=['CPUExecutionProvider']); print('session created')") \
        > "$REPO/.cache/arm64/$SUITE/probe-sys-$view.log" 2>&1 || code=$?
    local signal=""
    (( code > 128 )) && signal=" (signal $(kill -l $((code - 128))))"
    say "$SUITE, /sys $view: exit $code$signal, $(grep -c 'Error in cpuinfo' "$REPO/.cache/arm64/$SUITE/probe-sys-$view.log") cpuinfo errors, $(grep -v -e '^$' -e 'core dumped' "$REPO/.cache/arm64/$SUITE/probe-sys-$view.log" | tail -n 1)"
}

probe absent
mount --bind /sys "$ROOT/sys"
probe host
umount "$ROOT/sys"
mount -t tmpfs -o size=1m,mode=755 sysfs-minimal "$ROOT/sys"
mkdir -p "$ROOT/sys/devices/system/cpu"
for list in possible present online; do echo "0-$(( $(nproc) - 1 ))" > "$ROOT/sys/devices/system/cpu/$list"; done
probe minimal
umount "$ROOT/sys"
