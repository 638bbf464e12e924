"""Inference backends, one per runtime of the contract table; the interface and registry are in `base`."""

from device_agent.backends.base import BACKENDS, FORMAT_BACKENDS, Backend, backend_for, create_backend, first_line

__all__ = ["BACKENDS", "FORMAT_BACKENDS", "Backend", "backend_for", "create_backend", "first_line"]
