"""`--executor local|process:N|ray[:ADDRESS]` as a typed spec, parsed and checked before any work starts."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Optional

from edgebench.errors import EdgebenchError, MissingDependencyError

KINDS = ("local", "process", "ray")
FORMS = "local, process:N (N >= 1 worker processes), ray, ray:auto or ray:ray://HOST:10001"


@dataclass(frozen=True, kw_only=True)
class ExecutorSpec:
    kind: str  # one of KINDS
    workers: int = 1  # process: worker processes
    address: Optional[str] = None  # ray: None starts a local cluster; "auto", "HOST:6379" or "ray://HOST:10001"

    def __str__(self) -> str:
        if self.kind == "process":
            return f"process:{self.workers}"
        if self.kind == "ray" and self.address:
            return f"ray:{self.address}"
        return self.kind


def parse_executor(text: str) -> ExecutorSpec:
    """'local', 'process:4', 'ray', 'ray:auto', 'ray:ray://head:10001' (or 'ray://head:10001')."""
    value = (text or "").strip()
    kind, _, rest = value.partition(":")
    if value == "local":
        return ExecutorSpec(kind="local")
    if kind == "process":
        if not rest.isdigit() or int(rest) < 1:
            raise EdgebenchError(f"executor '{text}' needs a worker count: write process:N with N >= 1, "
                                 "e.g. process:2")
        return ExecutorSpec(kind="process", workers=int(rest))
    if kind == "ray":
        if value.startswith("ray://"):
            address = value
        else:
            address = rest or None
            if value.endswith(":"):
                raise EdgebenchError(f"executor '{text}' has an empty address: write ray, ray:auto or "
                                     "ray:ray://HOST:10001")
        require_ray()
        return ExecutorSpec(kind="ray", address=address)
    raise EdgebenchError(f"unknown executor '{text}': choose {FORMS}")


def require_ray() -> None:
    """Ray is an optional extra: without it, one line with the install command."""
    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules (blocked)
        found = False
    if not found:
        raise MissingDependencyError("ray", "ray")
