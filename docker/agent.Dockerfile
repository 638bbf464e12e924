# edgebench device agent: numpy + onnxruntime + ai-edge-litert, no torch. Multi-arch:
#   docker buildx build --platform linux/arm64,linux/amd64 -f docker/agent.Dockerfile -t edgebench-agent .
#   docker run --rm -v "$PWD/bundles:/bundles" -v "$PWD/results:/results" edgebench-agent \
#       run /bundles/resnet101 --threads 4 --out /results/
# Where no image registry is reachable, build the base from Debian's packages (docker/debian_base.sh) and pass it
# with --build-arg BASE=... (`make test-docker` does, for amd64 and arm64).
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

# PIP_CERT: the system's CA bundle, so a TLS-inspecting proxy whose CA the base carries is trusted by pip too.
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
WORKDIR /opt/agent
COPY requirements/constraints.txt /tmp/constraints.txt
RUN python3 -m venv /opt/venv \
    && pip install -c /tmp/constraints.txt numpy onnxruntime ai-edge-litert psutil
COPY device_agent/ device_agent/
RUN useradd --uid 10001 --create-home agent
USER 10001
ENTRYPOINT ["python", "-m", "device_agent"]
CMD ["--help"]
