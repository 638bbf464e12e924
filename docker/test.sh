#!/usr/bin/env bash
# `make test-docker`: build docker/host.Dockerfile and docker/agent.Dockerfile, export resnet8 (--int8) in the
# host image, measure that bundle in the agent image (amd64), then in the arm64 agent image under qemu (marked
# emulated), and check each result (docker/check_result.py). Build times and image sizes: .cache/docker/report.txt.
#
# No image registry reachable: the base is built from Debian's packages (docker/debian_base.sh) unless
# DOCKER_BASE names one (e.g. python:3.11-slim-bookworm where a registry is reachable). dockerd is started when it
# is not running, and stopped again at the end. DOCKER_ARM64=0 skips the arm64 image; DOCKER_EVAL_LIMIT (default
# 20) bounds the images scored under emulation. Docker missing or not startable: one line, exit 1.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CACHE="$REPO/.cache/docker"
STARTED_DOCKERD=""

say() { printf '[docker] %s\n' "$*" >&2; }
die() { printf 'make test-docker: %s\n' "$*" >&2; exit 1; }

stop_dockerd() {
    [[ -n "$STARTED_DOCKERD" ]] || return 0
    kill "$STARTED_DOCKERD" 2> /dev/null || true
    for _ in $(seq 1 30); do kill -0 "$STARTED_DOCKERD" 2> /dev/null || break; sleep 1; done
    kill -9 "$STARTED_DOCKERD" 2> /dev/null || true
    STARTED_DOCKERD=""
}
trap stop_dockerd EXIT
trap 'exit 130' INT TERM

ensure_docker() {
    command -v docker > /dev/null || die "docker is not installed (Debian: apt-get install -y docker.io)"
    docker info > /dev/null 2>&1 && return 0
    command -v dockerd > /dev/null || die "docker cannot reach a daemon and dockerd is not installed (Debian: apt-get install -y docker.io)"
    [[ $(id -u) -eq 0 ]] || die "docker cannot reach a daemon and starting dockerd needs root"
    mkdir -p "$CACHE"
    dockerd > "$CACHE/dockerd.log" 2>&1 &
    STARTED_DOCKERD=$!
    for _ in $(seq 1 60); do
        docker info > /dev/null 2>&1 && { say "started dockerd (pid $STARTED_DOCKERD, log $CACHE/dockerd.log)"; return 0; }
        kill -0 "$STARTED_DOCKERD" 2> /dev/null || break
        sleep 1
    done
    die "dockerd did not start: $(tail -1 "$CACHE/dockerd.log" 2> /dev/null | cut -c1-200) (log: $CACHE/dockerd.log)"
}

# A staged build context: only what the Dockerfiles copy, plus a torch wheel already on this machine's disk.
stage_context() {
    local context="$CACHE/context" wheel=""
    rm -rf "$context"
    mkdir -p "$context/docker/wheels"
    cp "$REPO/pyproject.toml" "$REPO/README.md" "$context/"
    cp -r "$REPO/requirements" "$REPO/edgebench" "$REPO/device_agent" "$REPO/models" "$context/"
    find "$context" -name __pycache__ -prune -exec rm -rf {} +
    wheel=$(find_torch_wheel)
    if [[ -n "$wheel" ]]; then
        ln "$wheel" "$context/docker/wheels/" 2> /dev/null || cp "$wheel" "$context/docker/wheels/"
        say "torch from this machine's disk: $(basename "$wheel")"
    fi
    echo "$context"
}

# pip's find-links folders (its own config: pip config list) holding the pinned CPU torch for this Python.
find_torch_wheel() {
    local folders folder
    folders=$("$REPO/.venv/bin/python" -m pip config list 2> /dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p")
    for folder in $folders; do
        folder=${folder#file://}
        ls "$folder"/torch-2.13.0+cpu-cp311-cp311-*x86_64.whl 2> /dev/null | head -1
    done | head -1
}

build() {  # build NAME DOCKERFILE PLATFORM BASE [ARGS...]
    local name=$1 file=$2 platform=$3 base=$4 started size
    shift 4
    say "building $name ($platform) on $base"
    started=$(date +%s)
    docker build --platform "$platform" -f "$REPO/docker/$file" -t "$name" --build-arg "BASE=$base" "$@" \
        "$CONTEXT" > "$CACHE/build-$name.log" 2>&1 \
        || { tail -15 "$CACHE/build-$name.log" >&2; die "building $name failed (log: $CACHE/build-$name.log)"; }
    size=$(docker image inspect -f '{{.Size}}' "$name")
    printf '%s\t%s\tbuild %ss\t%s MB\n' "$name" "$platform" "$(( $(date +%s) - started ))" \
        "$(( size / 1000000 ))" | tee -a "$CACHE/report.txt" >&2
}

ensure_docker
mkdir -p "$CACHE"
: > "$CACHE/report.txt"
BASE_AMD64=${DOCKER_BASE:-$(bash "$HERE/debian_base.sh" amd64)}
CONTEXT=$(stage_context)
TORCH_FROM=$(if ls "$CONTEXT/docker/wheels/"*.whl > /dev/null 2>&1; then echo "--find-links /tmp/wheels";
             elif [[ -n "${TORCH_INDEX:-}" ]]; then echo "--index-url $TORCH_INDEX";
             else die "no torch CPU wheel in docker/wheels/: put one there or set TORCH_INDEX to PyTorch's CPU wheel index"; fi)
build edgebench-host host.Dockerfile linux/amd64 "$BASE_AMD64" --build-arg "TORCH_FROM=$TORCH_FROM"
build edgebench-agent agent.Dockerfile linux/amd64 "$BASE_AMD64"

WORK="$CACHE/work"
rm -rf "$WORK"
mkdir -p "$WORK/results"
chmod 777 "$WORK/results"  # the agent image runs as an unprivileged user
TIMING=(--warmup-runs 2 --warmup-seconds 0 --min-runs 5 --min-seconds 0.05 --rounds 3)
say "edgebench export --int8 resnet8 in the host image"
started=$(date +%s)
docker run --rm -v "$WORK:/work" -w /work edgebench-host export --int8 resnet8 --out /work/bundle \
    > "$WORK/export.log" 2>&1 || { tail -15 "$WORK/export.log" >&2; die "export in the host image failed (log: $WORK/export.log)"; }
printf 'export --int8 resnet8 in edgebench-host\t%ss\n' "$(( $(date +%s) - started ))" | tee -a "$CACHE/report.txt" >&2
say "the agent image (amd64) on that bundle"
docker run --rm -v "$WORK/bundle:/bundle:ro" -v "$WORK/results:/results" edgebench-agent \
    run /bundle --out /results/amd64.json --quiet "${TIMING[@]}" > "$WORK/amd64.log" 2>&1 \
    || { tail -15 "$WORK/amd64.log" >&2; die "the agent image failed on the bundle (log: $WORK/amd64.log)"; }
"$REPO/.venv/bin/python" "$HERE/check_result.py" "$WORK/bundle" "$WORK/results/amd64.json" --machine x86_64

if [[ "${DOCKER_ARM64:-1}" != 0 ]]; then
    bash "$HERE/binfmt_fix.sh" || die "cannot register qemu-aarch64 with binfmt's F flag (needs root)"
    BASE_ARM64=$(bash "$HERE/debian_base.sh" arm64)
    build edgebench-agent-arm64 agent.Dockerfile linux/arm64 "$BASE_ARM64"
    say "the arm64 agent image on that bundle, under qemu"
    started=$(date +%s)
    # an empty /sys: with the host's /sys visible, onnxruntime's and TFLite's cpuinfo crash under qemu-user
    # (SIGSEGV, seen here); without it they warn and run (docs/devices.md)
    docker run --rm --platform linux/arm64 --tmpfs /sys:ro -v "$WORK/bundle:/bundle:ro" -v "$WORK/results:/results" \
        edgebench-agent-arm64 run /bundle --out /results/arm64.json --quiet "${TIMING[@]}" \
        --eval-limit "${DOCKER_EVAL_LIMIT:-20}" > "$WORK/arm64.log" 2>&1 \
        || { tail -15 "$WORK/arm64.log" >&2; die "the arm64 agent image failed on the bundle (log: $WORK/arm64.log)"; }
    printf 'agent run in edgebench-agent-arm64 (emulated)\t%ss\n' "$(( $(date +%s) - started ))" \
        | tee -a "$CACHE/report.txt" >&2
    "$REPO/.venv/bin/python" "$HERE/check_result.py" "$WORK/bundle" "$WORK/results/arm64.json" --machine aarch64 \
        --emulated
fi
say "passed: $(tr '\n' ';' < "$CACHE/report.txt")"
