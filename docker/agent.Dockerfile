# edgebench device agent: numpy + onnxruntime + ai-edge-litert, no torch. Multi-arch:
#   docker buildx build --platform linux/arm64,linux/amd64 -f docker/agent.Dockerfile -t edgebench-agent .
#   docker run --rm -v "$PWD/bundles:/bundles" -v "$PWD/results:/results" edgebench-agent \
#       run /bundles/resnet101 --threads 4 --out /results/
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
WORKDIR /opt/agent
COPY requirements/constraints.txt /tmp/constraints.txt
RUN pip install -c /tmp/constraints.txt numpy onnxruntime ai-edge-litert psutil
COPY device_agent/ device_agent/
RUN useradd --uid 10001 --create-home agent
USER 10001
ENTRYPOINT ["python", "-m", "device_agent"]
CMD ["--help"]
