# `make demo` and `make test` each create or refresh .venv, install what they need, and run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgebench-installed
# What a device has: numpy and the runtimes, no torch, no edgebench (the agent's own tests run in it).
AGENT_VENV := .venv-agent
AGENT_STAMP := $(AGENT_VENV)/.agent-installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup demo test test-all test-arm64 test-docker bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt requirements/nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c requirements/constraints.txt -e '.[host,convert,dev,server,ray,plots]'
	$(BIN)/python -m pip install -q --no-deps -r requirements/nodeps.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/edgebench demo

$(AGENT_STAMP): requirements/constraints.txt
	test -x $(AGENT_VENV)/bin/python || $(PYTHON) -m venv $(AGENT_VENV)
	$(AGENT_VENV)/bin/python -m pip install -q -c requirements/constraints.txt numpy onnxruntime ai-edge-litert
	touch $(AGENT_STAMP)

test: $(STAMP) $(AGENT_STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP) $(AGENT_STAMP)
	$(BIN)/python -m pytest -q -m "slow or not slow"

# The agent on the userland of Raspberry Pi OS 64-bit (Debian bookworm and bullseye arm64) under
# qemu-user-static, judged against its x86_64 run; as root, roots cached under .cache/arm64/ (docs/devices.md).
test-arm64: $(STAMP) $(AGENT_STAMP)
	bash tests/arm64/run.sh

# docker/host.Dockerfile and docker/agent.Dockerfile built and run: export in the host image, the agent image (amd64,
# then arm64 under qemu, marked emulated) on that bundle; the base from Debian's packages where no image registry
# is reachable; dockerd started when not running and stopped again (docs/devices.md).
test-docker: $(STAMP)
	bash docker/test.sh

bench: $(STAMP)
	@ls bench/*.py | while read script; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(AGENT_VENV) demo-out bundles checkpoints results .pytest_cache
