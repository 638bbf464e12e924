#!/usr/bin/env bash
# `make test-arm64`: the device agent on the userland of Raspberry Pi OS 64-bit (Debian arm64 under
# qemu-user-static), judged against the x86_64 run of the same bundle.
#
# 1. On the host: a resnet8 trained as the demo trains it (12 epochs, one-cycle, above 95 % on the digits) and a
#    bundle with every precision of both formats (onnx fp32/int8, tflite fp32/fp16/dynamic/int8), cached under
#    .cache/arm64/host/; the x86_64 run of it and per-image predictions of every artifact with .venv-agent.
# 2. Per suite (ARM64_SUITES, default "bookworm bullseye"): the cached root (build_root.sh), the agent and the
#    bundle copied in, /proc and /dev mounted (not /sys), then as the unprivileged user `pi`, without psutil:
#    agent_selfcheck.py, `python -m device_agent run BUNDLE` and predictions.py per artifact; check_result.py
#    judges the result: every artifact runs, marked emulated, top-1 agreement with x86_64 of at least 99.5 %
#    image by image (the images that differ listed with their margins).
# Exits non-zero when any suite fails. Needs root. Logs and results: .cache/arm64/<suite>/.
# ARM64_SUITES, ARM64_EVAL_LIMIT, ARM64_MIRROR (Debian mirror) and ARM64_INDEX_URL (package index) override.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/arm64/lib.sh
source "$HERE/lib.sh"

SUITES=${ARM64_SUITES:-bookworm bullseye}
HOST="$REPO/.cache/arm64/host-demo"
BUNDLE="$HOST/bundle"
# Scoring is most of the emulated run (each image is scored twice: the agent's accuracy pass and the per-image
# predictions). 200 of the 360 bundled images by default: 99.5 % agreement then allows one differing image;
# ARM64_EVAL_LIMIT=0 scores all of them.
EVAL_LIMIT=${ARM64_EVAL_LIMIT:-200}
TIMING=(--warmup-runs 2 --warmup-seconds 0 --min-runs 5 --min-seconds 0.05 --rounds 3)
[[ "$EVAL_LIMIT" == 0 ]] || TIMING+=(--eval-limit "$EVAL_LIMIT")
X86_RESULT="$HOST/x86_64.limit$EVAL_LIMIT.json"
X86_PREDICTIONS="$HOST/predictions.limit$EVAL_LIMIT"

require_root
[[ -x "$REPO/.venv/bin/edgebench" ]] || die "no host venv: run \`make setup\` first"
[[ -x "$REPO/.venv-agent/bin/python" ]] || die "no .venv-agent: \`make test-arm64\` creates it"
ensure_host_tools

# -- 1. the bundle and its x86_64 run ------------------------------------------------------------------
mkdir -p "$HOST"
if [[ ! -f "$HOST/bundle.done" ]]; then
    if [[ ! -f "$HOST/resnet8.pt" ]]; then
        say "training resnet8 as the demo does (12 epochs, one-cycle) on the embedded digits (minutes)"
        "$REPO/.venv/bin/edgebench" train resnet8 --epochs 12 --schedule onecycle --batch-size 32 --lr 0.05 \
            --augment crop --out "$HOST/resnet8.pt.tmp" > "$HOST/train.log" 2>&1 \
            || { tail -5 "$HOST/train.log" >&2; die "training failed (log: $HOST/train.log)"; }
        mv "$HOST/resnet8.pt.tmp" "$HOST/resnet8.pt"
    fi
    say "exporting every precision of both formats to $BUNDLE"
    "$REPO/.venv/bin/edgebench" export resnet8 --checkpoint "$HOST/resnet8.pt" --precisions fp32,fp16,dynamic,int8 \
        --out "$BUNDLE" --force > "$HOST/export.log" 2>&1 \
        || { tail -5 "$HOST/export.log" >&2; die "export failed (log: $HOST/export.log)"; }
    touch "$HOST/bundle.done"
fi
say "x86_64 run of the bundle with .venv-agent"
(cd "$REPO" && .venv-agent/bin/python -m device_agent run "$BUNDLE" --out "$X86_RESULT" --quiet "${TIMING[@]}") \
    > "$X86_RESULT.log" 2>&1 || { tail -5 "$X86_RESULT.log" >&2; die "the x86_64 run failed (log: $X86_RESULT.log)"; }
ARTIFACTS=$("$REPO/.venv/bin/python" -c 'import json, sys
print(" ".join(a["name"] for a in json.load(open(sys.argv[1]))["artifacts"]))' "$BUNDLE/manifest.json")
mkdir -p "$X86_PREDICTIONS"
for artifact in $ARTIFACTS; do
    (cd "$REPO" && .venv-agent/bin/python "$HERE/predictions.py" "$BUNDLE" "$artifact" \
        "$X86_PREDICTIONS/$artifact.x86_64.json" "$EVAL_LIMIT") || die "x86_64 predictions of $artifact failed"
done

# -- 2. each arm64 suite -------------------------------------------------------------------------------
MOUNTED_ROOT=""
cleanup() { [[ -z "$MOUNTED_ROOT" ]] || unmount_all "$MOUNTED_ROOT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

as_pi() {  # as_pi ROOT COMMAND: a login-less shell of the unprivileged user, in its home, empty environment
    chroot --userspec=pi:pi "$1" env -i PATH=/usr/bin:/bin HOME=/home/pi LANG=C.UTF-8 /bin/sh -c "cd /home/pi && $2"
}

minimal_sys() {  # minimal_sys ROOT: a /sys holding only the CPU lists (unmounted by the caller)
    mount -t tmpfs -o size=1m,mode=755 sysfs-minimal "$1/sys" || return 1
    mkdir -p "$1/sys/devices/system/cpu"
    local list
    for list in possible present online; do echo "0-$(( $(nproc) - 1 ))" > "$1/sys/devices/system/cpu/$list"; done
}

run_suite() {
    local suite=$1 cache="$REPO/.cache/arm64/$1" root="$REPO/.cache/arm64/$1/root" code=0
    bash "$HERE/build_root.sh" "$suite" || return 1
    rm -rf "$root/home/pi/device_agent" "$root/home/pi/bundle" "$root/home/pi/work" "$root/home/pi/checks" \
        "$cache/aarch64.json" "$cache/predictions" "$cache/predictions.log"
    cp -r "$REPO/device_agent" "$root/home/pi/device_agent"
    find "$root/home/pi/device_agent" -name __pycache__ -prune -exec rm -rf {} +
    cp -r "$BUNDLE" "$root/home/pi/bundle"
    mkdir -p "$root/home/pi/checks" "$root/home/pi/work"
    cp "$HERE/agent_selfcheck.py" "$HERE/predictions.py" "$root/home/pi/checks/"
    chroot "$root" chown -R pi:pi /home/pi/device_agent /home/pi/bundle /home/pi/checks /home/pi/work

    # /proc and /dev only: the agent must cope without /sys (what the runtimes do then: docs/devices.md).
    MOUNTED_ROOT=$root
    mount -t proc proc "$root/proc" || return 1
    mount --bind /dev "$root/dev" || return 1

    say "$suite: agent self-checks as user pi, no /sys, no psutil"
    as_pi "$root" "agent-venv/bin/python checks/agent_selfcheck.py bundle work" 2>&1 | tee "$cache/selfcheck.log" \
        || code=1
    say "$suite: device_agent run on every artifact (emulated: minutes)"
    local agent_exit=0
    as_pi "$root" "agent-venv/bin/python -m device_agent run bundle --out work/aarch64.json ${TIMING[*]}" \
        > "$cache/run.log" 2>&1 || agent_exit=$?
    sed 's/^/    /' "$cache/run.log" | grep -v '^    INFO: Created TensorFlow Lite' | tail -25
    [[ -f "$root/home/pi/work/aarch64.json" ]] && cp "$root/home/pi/work/aarch64.json" "$cache/aarch64.json"
    local check=(--suite "$suite" --arm "$cache/aarch64.json" --x86 "$X86_RESULT" --bundle "$BUNDLE"
                 --exit-code "$agent_exit" --predictions "$cache/predictions")

    # A runtime that kills its process without /sys (onnxruntime 1.19.2 aborts when it cannot read
    # /sys/devices/system/cpu/possible): those artifacts again, with a /sys that holds only the CPU lists.
    local crashed
    crashed=$("$REPO/.venv/bin/python" -c 'import json, sys
try:
    runs = json.load(open(sys.argv[1]))["runs"]
except (OSError, ValueError, KeyError):
    runs = []
print(",".join(r["artifact"] for r in runs if "signal" in (r.get("error") or "")))' "$cache/aarch64.json")
    rm -f "$cache/aarch64-minimal-sys.json"
    if [[ -n "$crashed" ]]; then
        say "$suite: $crashed killed without /sys; again with a minimal /sys (CPU lists only)"
        minimal_sys "$root" || return 1
        as_pi "$root" "agent-venv/bin/python -m device_agent run bundle --artifacts $crashed --out work/aarch64-minimal-sys.json ${TIMING[*]}" \
            > "$cache/run-minimal-sys.log" 2>&1 || true
        umount "$root/sys"
        sed 's/^/    /' "$cache/run-minimal-sys.log" | grep -v -e 'INFO: Created TensorFlow Lite' -e 'Error in cpuinfo' | tail -8
        cp "$root/home/pi/work/aarch64-minimal-sys.json" "$cache/" 2> /dev/null || true
        check+=(--minimal-sys "$cache/aarch64-minimal-sys.json")
    fi
    say "$suite: per-image predictions of every artifact"
    mkdir -p "$cache/predictions"
    cp "$X86_PREDICTIONS/"*.x86_64.json "$cache/predictions/"
    local artifact
    for artifact in $ARTIFACTS; do
        local needs_sys=""
        if [[ ",$crashed," == *",$artifact,"* ]]; then  # what the agent needed, its predictions need too
            echo "$artifact: with the minimal /sys" >> "$cache/predictions.log"
            minimal_sys "$root" || return 1
            needs_sys=1
        fi
        as_pi "$root" "agent-venv/bin/python checks/predictions.py bundle $artifact work/$artifact.aarch64.json $EVAL_LIMIT" \
            >> "$cache/predictions.log" 2>&1 || true
        [[ -z "$needs_sys" ]] || umount "$root/sys"
        cp "$root/home/pi/work/$artifact.aarch64.json" "$cache/predictions/" 2> /dev/null || true
    done
    local verdict=0
    "$REPO/.venv/bin/python" "$HERE/check_result.py" "${check[@]}" > "$cache/check.log" 2>&1 || verdict=$?
    cat "$cache/check.log"
    unmount_all "$root"
    MOUNTED_ROOT=""
    [[ $verdict -eq 0 ]] || code=1
    return $code
}

FAILED=()
for suite in $SUITES; do
    started=$(date +%s)
    run_suite "$suite" || FAILED+=("$suite")
    say "$suite: $(( $(date +%s) - started )) s"
done
if (( ${#FAILED[@]} )); then
    die "failed on: ${FAILED[*]} (logs under .cache/arm64/<suite>/)"
fi
say "passed on: $SUITES"
