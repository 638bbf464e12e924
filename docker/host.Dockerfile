# edgebench host toolkit (CPU): train, export (ONNX + TFLite), report.
#   docker build -f docker/host.Dockerfile -t edgebench-host .
#   docker run --rm -v "$PWD:/work" -w /work edgebench-host export --int8 resnet101
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
# Debian security updates replace exact versions; the base image tag pins the release instead.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/edgebench
COPY pyproject.toml README.md ./
COPY requirements/ requirements/
COPY edgebench/ edgebench/
COPY device_agent/ device_agent/
# The study's variant files; a user's own go in ./models of the mounted working folder.
COPY models/ /opt/edgebench/models/
ENV EDGEBENCH_MODELS=/opt/edgebench/models
# The CPU build of torch first, from PyTorch's CPU index: an unpinned torch would pull a multi-GB CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install -c requirements/constraints.txt ".[host,convert]" \
    && pip install --no-deps -r requirements/nodeps.txt
ENTRYPOINT ["edgebench"]
CMD ["--help"]
