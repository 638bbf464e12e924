"""Typed variant specs, parsed and checked from a YAML/JSON mapping; every error names the file and the field."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from edgebench.errors import EdgebenchError, UnknownNameError
from edgebench.models.variants.kinds import (BLOCK_KINDS, HEAD_OPTIONS, HEAD_TECHNIQUES, LAYER_KINDS,
                                             STEM_TECHNIQUES)
from edgebench.models.variants.techniques import TECHNIQUES

BASES = {"resnet101": "resnet", "vgg19": "vgg"}  # base architecture -> builder family
STUDY_CLASSES = {"resnet101": 10, "vgg19": 100}  # the study's tables: CIFAR-10 for ResNet, CIFAR-100 for VGG
ACTIVATIONS = ("relu", "relu6")


@dataclass(frozen=True, kw_only=True)
class Run:
    """`count` residual blocks of one shape; the first carries the stride."""

    count: int
    out: int
    hidden: int
    stride: int = 1


@dataclass(frozen=True, kw_only=True)
class TailLayer:
    """A 1x1 convolution + BatchNorm (+ activation) between the last block and global average pooling."""

    out: Union[int, str]  # a width, or "classes"
    act: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class ResNetArch:
    stem: str
    stem_width: int
    block: str
    block_options: Dict[str, Any]
    stages: Tuple[Tuple[Run, ...], ...]
    tail: Tuple[TailLayer, ...] = ()
    fc: bool = True
    fc_bias: bool = True


@dataclass(frozen=True, kw_only=True)
class VggArch:
    plan: Tuple[Union[int, str], ...]
    layer: str
    layer_options: Dict[str, Any]
    se: bool
    head: str
    head_options: Dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class StudyFigures:
    """The figures the study published for this variant, kept to compare against."""

    classes: int
    params: Optional[int] = None  # exact, where the study gives it
    mparams: Optional[float] = None  # millions, as rounded in the study's tables
    mflops: Optional[float] = None
    accuracy: Optional[float] = None


@dataclass(frozen=True, kw_only=True)
class VariantSpec:
    name: str
    base: str
    description: str
    techniques: Tuple[str, ...]
    arch: Union[ResNetArch, VggArch]
    index: Optional[int] = None
    input_size: int = 32
    study: Optional[StudyFigures] = None
    source: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return BASES[self.base]

    @property
    def study_classes(self) -> int:
        return self.study.classes if self.study else STUDY_CLASSES[self.base]


class _Reader:
    """Typed access to one mapping with errors that say where the bad value is."""

    def __init__(self, data: Any, where: str):
        if not isinstance(data, Mapping):
            raise EdgebenchError(f"{where}: expected a mapping, got {type(data).__name__}")
        self.data, self.where = data, where

    def fail(self, key: str, message: str):
        raise EdgebenchError(f"{self.where}: '{key}' {message}")

    def get(self, key: str, kind, default: Any = ..., choices=None):
        if key not in self.data:
            if default is ...:
                self.fail(key, "is missing")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            self.fail(key, f"is {value!r}: expected {names}")
        if choices is not None and value not in choices:
            self.fail(key, f"is {value!r}: valid values are {', '.join(map(str, choices))}")
        return value

    def positive(self, key: str, default: Any = ...) -> int:
        value = self.get(key, int, default)
        if value is not None and value < 1:
            self.fail(key, f"is {value}: give a positive integer")
        return value

    def unknown_keys(self, allowed):
        extra = sorted(set(self.data) - set(allowed))
        if extra:
            self.fail(extra[0], f"is not a known field: valid fields are {', '.join(sorted(allowed))}")


def parse_variant(data: Any, source: str = "<variant>") -> VariantSpec:
    top = _Reader(data, source)
    top.unknown_keys({"name", "base", "index", "description", "techniques", "study", "input_size", "stem", "block",
                      "stages", "tail", "head", "plan", "layer", "se"})
    name = top.get("name", str)
    base = top.get("base", str, choices=sorted(BASES))
    techniques = tuple(top.get("techniques", list))
    for technique in techniques:
        if technique not in TECHNIQUES:
            raise UnknownNameError("technique", technique, TECHNIQUES.names())
    arch = _resnet(top) if BASES[base] == "resnet" else _vgg(top)
    spec = VariantSpec(name=name, base=base, description=top.get("description", str, ""), techniques=techniques,
                       arch=arch, index=top.get("index", int, None), input_size=top.positive("input_size", 32),
                       study=_study(top), source=source)
    missing = [t for t in used_techniques(spec.arch) if t not in techniques]
    if missing:
        top.fail("techniques", f"does not list '{missing[0]}', which its blocks use")
    return spec


def used_techniques(arch: Union[ResNetArch, VggArch]) -> Tuple[str, ...]:
    """The techniques an architecture's blocks, stem and head use: what its file must list."""
    if isinstance(arch, ResNetArch):
        used = STEM_TECHNIQUES[arch.stem] + BLOCK_KINDS[arch.block].techniques(arch.block_options)
        return used + (() if arch.fc else ("no-fc",))
    used = LAYER_KINDS[arch.layer].techniques(arch.layer_options) + HEAD_TECHNIQUES[arch.head]
    return used + (("squeeze-excitation",) if arch.se else ())


def _study(top: _Reader) -> Optional[StudyFigures]:
    if "study" not in top.data:
        return None
    study = _Reader(top.data["study"], f"{top.where}: study")
    study.unknown_keys({"classes", "params", "mparams", "mflops", "accuracy"})

    def number(key: str) -> Optional[float]:
        value = study.get(key, (int, float), None)
        return None if value is None else float(value)

    return StudyFigures(classes=study.positive("classes"), params=study.positive("params", None),
                        mparams=number("mparams"), mflops=number("mflops"), accuracy=number("accuracy"))


def _kind_and_options(section: _Reader, kinds: Mapping[str, Any], noun: str):
    """A `kind` from `kinds` and its options, each checked against what that kind accepts."""
    kind = section.get("kind", str, choices=sorted(kinds))
    options = {k: v for k, v in section.data.items() if k != "kind"}
    allowed = kinds[kind].options
    for key, value in options.items():
        if key not in allowed:
            section.fail(key, f"is not an option of '{kind}' {noun}: valid options are "
                              f"{', '.join(sorted(allowed)) or 'none'}")
        if allowed[key] and value not in allowed[key]:
            section.fail(key, f"is {value!r}: valid values are {', '.join(map(str, allowed[key]))}")
    return kind, options


def _resnet(top: _Reader) -> ResNetArch:
    stem = _Reader(top.get("stem", dict), f"{top.where}: stem")
    stem.unknown_keys({"conv", "width"})
    kind, options = _kind_and_options(_Reader(top.get("block", dict), f"{top.where}: block"), BLOCK_KINDS,
                                      "blocks")
    stages = top.get("stages", list)
    if not stages:
        top.fail("stages", "is empty: give at least one stage")
    parsed = tuple(tuple(_run(run, f"{top.where}: stages[{i}][{j}]") for j, run in enumerate(_as_list(stage)))
                   for i, stage in enumerate(stages))
    tail = tuple(_tail(layer, f"{top.where}: tail[{i}]") for i, layer in enumerate(top.get("tail", list, [])))
    head = _Reader(top.get("head", dict, {}), f"{top.where}: head")
    head.unknown_keys({"fc", "bias"})
    fc = head.get("fc", bool, True)
    if not fc and (not tail or tail[-1].out != "classes"):
        head.fail("fc", "is false, so the last tail layer must map to 'classes'")
    return ResNetArch(stem=stem.get("conv", str, choices=sorted(STEM_TECHNIQUES)), stem_width=stem.positive("width"),
                      block=kind, block_options=options, stages=parsed, tail=tail, fc=fc,
                      fc_bias=head.get("bias", bool, True))


def _as_list(stage: Any):
    return stage if isinstance(stage, list) else [stage]


def _run(data: Any, where: str) -> Run:
    run = _Reader(data, where)
    run.unknown_keys({"n", "out", "hidden", "stride"})
    return Run(count=run.positive("n", 1), out=run.positive("out"), hidden=run.positive("hidden"),
               stride=run.get("stride", int, 1, choices=(1, 2)))


def _tail(data: Any, where: str) -> TailLayer:
    layer = _Reader(data, where)
    layer.unknown_keys({"out", "act"})
    out = layer.get("out", (int, str))
    if isinstance(out, str) and out != "classes" or isinstance(out, int) and out < 1:
        layer.fail("out", f"is {out!r}: give a width or 'classes'")
    return TailLayer(out=out, act=layer.get("act", str, None, choices=ACTIVATIONS))


def _vgg(top: _Reader) -> VggArch:
    plan = top.get("plan", list)
    for item in plan:
        if item != "M" and (not isinstance(item, int) or isinstance(item, bool) or item < 1):
            top.fail("plan", f"holds {item!r}: give widths and 'M' for a max-pool")
    kind, options = _kind_and_options(_Reader(top.get("layer", dict), f"{top.where}: layer"), LAYER_KINDS,
                                      "layers")
    head = _Reader(top.get("head", dict), f"{top.where}: head")
    head_kind = head.get("kind", str, choices=sorted(HEAD_OPTIONS))
    head_options = {k: v for k, v in head.data.items() if k != "kind"}
    head.unknown_keys({"kind", *HEAD_OPTIONS[head_kind]})
    return VggArch(plan=tuple(plan), layer=kind, layer_options=options, se=top.get("se", bool, False),
                   head=head_kind, head_options=head_options)


def load_file(path: Path) -> VariantSpec:
    try:
        text = path.read_text()
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml  # PyYAML: optional, loaded only when a YAML file is read

            data = yaml.safe_load(text)
    except (OSError, ValueError) as error:
        raise EdgebenchError(f"{path}: cannot read the variant file ({str(error).splitlines()[0]})") from None
    except Exception as error:  # yaml.YAMLError, without importing yaml at module level
        raise EdgebenchError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    return parse_variant(data, str(path))
