# edgebench host toolkit (CPU): train, export (ONNX + TFLite), report.
#   docker build -f docker/host.Dockerfile -t edgebench-host .
#   docker run --rm -v "$PWD:/work" -w /work edgebench-host export --int8 resnet101
# Where no image registry is reachable, build the base from Debian's packages (docker/debian_base.sh) and pass it
# with --build-arg BASE=...; a torch wheel already on disk goes in docker/wheels/ with
# --build-arg "TORCH_FROM=--find-links /tmp/wheels" (`make test-docker` does both).
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

# PIP_CERT: the system's CA bundle, so a TLS-inspecting proxy whose CA the base carries is trusted by pip too.
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3 PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
# Debian security updates replace exact versions; the base image tag pins the release instead.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
WORKDIR /opt/edgebench
COPY pyproject.toml README.md ./
COPY requirements/ requirements/
COPY docker/wheels/ /tmp/wheels/
# The CPU build of torch first, from PyTorch's CPU wheel index: an unpinned torch would pull a multi-GB CUDA
# build. TORCH_INDEX names that index (or a mirror of it); TORCH_FROM replaces the whole choice (a wheel on disk).
ARG TORCH_INDEX=""
ARG TORCH_FROM=""
# TORCH_FROM holds several options: it must split into words.
# hadolint ignore=SC2086,DL3013
RUN if [ -z "${TORCH_FROM}${TORCH_INDEX}" ]; then \
        echo "give --build-arg TORCH_INDEX=URL (PyTorch's CPU wheel index) or TORCH_FROM='--find-links DIR'" >&2; \
        exit 1; \
    fi \
    && pip install torch==2.13.0 ${TORCH_FROM:---index-url ${TORCH_INDEX}} && rm -rf /tmp/wheels
COPY edgebench/ edgebench/
COPY device_agent/ device_agent/
RUN pip install -c requirements/constraints.txt ".[host,convert]" \
    && pip install --no-deps -r requirements/nodeps.txt
# The study's variant files; a user's own go in ./models of the mounted working folder.
COPY models/ /opt/edgebench/models/
ENV EDGEBENCH_MODELS=/opt/edgebench/models
ENTRYPOINT ["edgebench"]
CMD ["--help"]
