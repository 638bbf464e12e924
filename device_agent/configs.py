"""Configurations: an artifact with one runtime setting. The sweep flags (`--threads 1,2`, `--xnnpack on,off`,
`--ort-graph-optimization`, `--ort-execution-mode`) give lists; each artifact is measured once per combination
of the settings that apply to its format (a TFLite artifact ignores the ONNX Runtime options and vice versa).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from device_agent.errors import UsageError
from device_agent.formats import FORMATS, RUNTIMES

GRAPH_OPTIMIZATIONS = ("disable", "basic", "extended", "all")
EXECUTION_MODES = ("sequential", "parallel")
SWITCHES = {"on": True, "off": False}


@dataclass(frozen=True)
class Setting:
    """How a runtime is set up for one configuration; None where an option does not apply to the format."""

    threads: int = 1
    xnnpack: Optional[bool] = None
    ort_graph_optimization: Optional[str] = None
    ort_execution_mode: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    def backend_options(self, backend: str) -> Dict[str, Any]:
        """Keyword arguments of that backend's `load` beyond the thread count: its runtime's options, when this
        setting gives them (`Runtime.options` in the contract table)."""
        runtime = RUNTIMES.get(backend)
        pairs = [(keyword, getattr(self, field)) for field, keyword in (runtime.options if runtime else ())]
        if not pairs or any(value is None for _, value in pairs):
            return {}
        return dict(pairs)

    def label(self) -> str:
        parts = [f"threads={self.threads}"]
        if self.xnnpack is not None:
            parts.append(f"xnnpack={'on' if self.xnnpack else 'off'}")
        if self.ort_graph_optimization is not None:
            parts += [f"opt={self.ort_graph_optimization}", f"mode={self.ort_execution_mode}"]
        return " ".join(parts)


@dataclass(frozen=True)
class Sweep:
    """The lists given on the command line, in the order given."""

    threads: Tuple[int, ...] = (1,)
    xnnpack: Tuple[bool, ...] = (True,)
    ort_graph_optimization: Tuple[str, ...] = ("all",)
    ort_execution_mode: Tuple[str, ...] = ("sequential",)

    def to_json(self) -> Dict[str, List]:
        return {key: list(value) for key, value in asdict(self).items()}

    def settings_for(self, artifact_format: str) -> List[Setting]:
        """One setting per combination of the thread counts and the options of the format's runtime."""
        row = FORMATS.get(artifact_format)
        fields = [field for field, _ in RUNTIMES[row.runtime].options] if row else []
        return [Setting(threads=combination[0], **dict(zip(fields, combination[1:])))
                for combination in itertools.product(self.threads, *(getattr(self, f) for f in fields))]


@dataclass(frozen=True)
class Configuration:
    label: str  # unique within a run: the artifact's name, `#2` for a repeat, the setting when it varies
    artifact: Dict[str, Any]
    setting: Setting


def configurations(artifacts: Sequence[Dict[str, Any]], sweep: Sweep) -> List[Configuration]:
    """Artifacts (a name given twice is measured twice: `X`, `X#2`) times the settings for each one's format."""
    seen: Dict[str, int] = {}
    found = []
    for artifact in artifacts:
        name = str(artifact.get("name", artifact.get("file", "?")))
        seen[name] = seen.get(name, 0) + 1
        base = name if seen[name] == 1 else f"{name}#{seen[name]}"
        settings = sweep.settings_for(str(artifact.get("format")))
        for setting in settings:
            label = base if len(settings) == 1 else f"{base} {setting.label()}"
            found.append(Configuration(label=label, artifact=artifact, setting=setting))
    return found


def _items(flag: str, text: str) -> List[str]:
    items = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UsageError(f"{flag} '{text}' is not a comma-separated list without empty items")
    if len(set(items)) != len(items):
        raise UsageError(f"{flag} '{text}' names a value twice; give each once")
    return items


def parse_threads(text: str) -> Tuple[int, ...]:
    values = []
    for item in _items("--threads", text):
        if item.lstrip("-").isdigit() and item.startswith("-"):
            raise UsageError(f"--threads {item} is out of range: give 0 (the runtime's choice) or more, "
                             "as one number or a list such as 1,2,4")
        if not item.isdigit():
            raise UsageError(f"--threads '{item}' is not a whole number: give 0 (the runtime's choice) or more, "
                             "as one number or a list such as 1,2,4")
        values.append(int(item))
    return tuple(values)


def parse_xnnpack(text: str) -> Tuple[bool, ...]:
    items = _items("--xnnpack", text)
    for item in items:
        if item not in SWITCHES:
            raise UsageError(f"--xnnpack '{item}' is unknown; valid: on, off")
    return tuple(SWITCHES[item] for item in items)


def parse_choices(flag: str, text: str, valid: Sequence[str]) -> Tuple[str, ...]:
    items = _items(flag, text)
    for item in items:
        if item not in valid:
            raise UsageError(f"{flag} '{item}' is unknown; valid: {', '.join(valid)}")
    return tuple(items)
