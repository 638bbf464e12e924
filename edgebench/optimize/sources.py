"""The models the search starts from: MODEL itself, and with the optional axes its channel-pruned copies
(`--prune channel:0.25,0.5`) or the study's variants from an ablation folder (`--variants 6-14 --variants-from
ablation/resnet101`). Every source's candidates go through the same search; every drop is measured from one
reference (MODEL, or the study's baseline variant).

The axes are parsed and checked here before any work (no torch); a pruned source is made in the host stage by the
pruning package (`edgebench.prune`, Torch-Pruning), once: it is cached by content (MODEL's checkpoint and data,
the pruning and fine-tuning settings, the seed) and never pruned again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from edgebench import __version__
from edgebench.ablation.task import SETTINGS_FILE
from edgebench.errors import BadOptionError, EdgebenchError
from edgebench.fileio import sha256_file
from edgebench.optimize.host import ModelInput
from edgebench.prune.pipeline import SUMMARY_FILE, is_prune_output, prune_checkpoint
from edgebench.prune.spec import PruneSpec

PRUNE_METHODS = ("channel",)  # structured: the network really shrinks, so latency and size follow
PRUNE_FORM = "channel:R[,R...] with each R a fraction of channels in (0, 1), e.g. channel:0.25,0.5"
DEFAULT_FINE_TUNE_EPOCHS = 2
# Channel pruning removes more than the study's unstructured pruning, and the study's fine-tuning rate (the pruning
# package's, 1e-4) recovers little of it in a few epochs: 1e-2 measured better at both ratios (docs/optimize.md).
DEFAULT_FINE_TUNE_LR = 1e-2
PRUNE_CACHE_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class PruneAxis:
    """`--prune channel:0.25,0.5 --fine-tune-epochs N`: one pruned source per ratio."""

    method: str = "channel"
    ratios: Tuple[float, ...] = (0.5,)
    fine_tune_epochs: int = DEFAULT_FINE_TUNE_EPOCHS
    fine_tune_lr: float = DEFAULT_FINE_TUNE_LR
    seed: int = 0

    def __post_init__(self):
        if self.method not in PRUNE_METHODS:
            raise BadOptionError(f"--prune method '{self.method}' is unknown: give {PRUNE_FORM}")
        if not self.ratios or any(not (0.0 < r < 1.0) for r in self.ratios):
            raise BadOptionError(f"--prune ratios {list(self.ratios)} are out of range: give {PRUNE_FORM}")
        if self.fine_tune_epochs < 0:
            raise BadOptionError(f"--fine-tune-epochs {self.fine_tune_epochs} is out of range: give 0 or more")
        if not (self.fine_tune_lr > 0.0 and self.fine_tune_lr != float("inf")):  # NaN fails too
            raise BadOptionError(f"--fine-tune-lr {self.fine_tune_lr} is out of range: give a finite number > 0")

    def prune_spec(self, ratio: float) -> PruneSpec:
        """The pruning package's settings for one ratio: one step to the ratio, then the fine-tuning."""
        return PruneSpec(method=self.method, target=ratio, iterations=1, finetune_epochs=self.fine_tune_epochs,
                         lr=self.fine_tune_lr, seed=self.seed)

    def to_json(self) -> Dict:
        return {"method": self.method, "ratios": list(self.ratios), "fine_tune_epochs": self.fine_tune_epochs,
                "fine_tune_lr": self.fine_tune_lr, "seed": self.seed}


def parse_prune(text: str, *, fine_tune_epochs: int = DEFAULT_FINE_TUNE_EPOCHS,
                fine_tune_lr: float = DEFAULT_FINE_TUNE_LR, seed: int = 0) -> PruneAxis:
    """`channel:0.25,0.5` -> PruneAxis; a BadOptionError naming the value and the valid form otherwise."""
    method, colon, ratios = str(text).strip().partition(":")
    if not colon or method.strip() not in PRUNE_METHODS:
        name = method.strip()
        what = "names no ratio" if name in PRUNE_METHODS else f"unknown method '{name}'" if name else "names no method"
        raise BadOptionError(f"--prune '{text}': {what}: give {PRUNE_FORM}")
    values = []
    for token in (t.strip() for t in ratios.split(",")):
        try:
            value = float(token)
        except ValueError:
            value = float("nan")
        if not (0.0 < value < 1.0):  # NaN fails too
            what = "names no ratio" if not token else f"ratio '{token}' is not a fraction in (0, 1)"
            raise BadOptionError(f"--prune '{text}': {what}: give {PRUNE_FORM}")
        if value not in values:
            values.append(value)
    return PruneAxis(method=method.strip(), ratios=tuple(sorted(values)), fine_tune_epochs=fine_tune_epochs,
                     fine_tune_lr=fine_tune_lr, seed=seed)


def ratio_label(method: str, ratio: float) -> str:
    return f"{method}-{ratio:g}"


@dataclass(frozen=True, kw_only=True)
class Source:
    """One model the candidates are made from."""

    name: str  # shown in the tables: MODEL, `channel-0.5`, `resnet101-v6`
    prefix: str  # the candidates' name prefix ("" for MODEL itself: its candidates keep their plain names)
    kind: str  # "model", "pruned" or "variant"
    input: ModelInput
    reference: bool = False  # its fp32 ONNX is the reference every drop is measured from
    searched: bool = True  # False: only its fp32 ONNX, as the reference (a baseline variant not asked for)
    facts: Dict = field(default_factory=dict)  # techniques, index, pruning ratio, params and FLOPs where known


# ---- the study's variants ------------------------------------------------------------------------------------

SELECTION_FORM = "variant numbers, ranges and names, e.g. 6-14 or 6,10,13"


@dataclass(frozen=True, kw_only=True)
class VariantsAxis:
    """`--variants 6-14 --variants-from FOLDER`, resolved against the folder: the variants' names in order and the
    reference (the baseline every drop is measured from)."""

    folder: Path
    arch: str
    names: Tuple[str, ...]
    reference: str
    data: Optional[str]  # the ablation's data set (None: the embedded digits)
    records: Dict[str, Dict] = field(default_factory=dict, compare=False)

    def checkpoint(self, name: str) -> Path:
        return self.folder / "checkpoints" / f"{name}.pt"

    def to_json(self) -> Dict:
        """The journal's part: the folder, the variants and the content of their checkpoints."""
        names = list(dict.fromkeys([self.reference, *self.names]))
        return {"folder": str(self.folder), "variants": list(self.names), "reference": self.reference,
                "checkpoints_sha256": {n: sha256_file(self.checkpoint(n)) for n in names}}


def parse_selection(text: str) -> List[object]:
    """`6-14`, `6,10,13`, names: a list of ints and names; a BadOptionError for anything else."""
    chosen: List[object] = []
    tokens = [t.strip() for t in str(text).split(",")]
    if not any(tokens):
        raise BadOptionError(f"--variants '{text}' names no variant: give {SELECTION_FORM}")
    for token in tokens:
        span = re.fullmatch(r"(\d+)(?:-(\d+))?", token)
        if span:
            low, high = int(span.group(1)), int(span.group(2) or span.group(1))
            if low > high:
                raise BadOptionError(f"--variants '{text}': the range {token} is empty: write it low-high")
            chosen += [i for i in range(low, high + 1) if i not in chosen]
        elif re.fullmatch(r"[A-Za-z][\w.-]*", token):
            chosen += [token] if token not in chosen else []
        else:
            raise BadOptionError(f"--variants '{text}': '{token}' is not a variant: give {SELECTION_FORM}")
    return chosen


def finished_variants(folder: Path) -> Dict[str, Dict]:
    """name -> its record, for every variant the ablation in `folder` finished (record and checkpoint written)."""
    folder = Path(folder)
    if not (folder / SETTINGS_FILE).is_file():
        raise EdgebenchError(f"{folder} is not an ablation folder (no {SETTINGS_FILE}): give --variants-from the "
                             "--out of an `edgebench ablation` run")
    found = {}
    for path in sorted((folder / "variants").glob("*.json")):
        if (folder / "checkpoints" / f"{path.stem}.pt").is_file():
            try:
                found[path.stem] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise EdgebenchError(f"{path} is not valid JSON: run the ablation again to rewrite it") from None
    return dict(sorted(found.items(), key=lambda item: (item[1].get("index") is None, item[1].get("index") or 0,
                                                          item[0])))


def _held(records: Dict[str, Dict]) -> str:
    return ", ".join(f"{r['index']} ({n})" if r.get("index") is not None else n for n, r in records.items()) or \
        "no finished variant"


def resolve_variants(model: str, selection: Optional[str], folder: Path) -> VariantsAxis:
    """The chosen variants present in `folder`, and the reference MODEL names (a variant of the folder, or its
    architecture: the ablation's baseline)."""
    folder = Path(folder).absolute()
    chosen = parse_selection(selection) if selection is not None else None  # the syntax first: exit 2
    records = finished_variants(folder)
    settings = _read_json(folder / SETTINGS_FILE)
    by_index = {r["index"]: n for n, r in records.items() if r.get("index") is not None}
    wanted = chosen if chosen is not None else list(records)
    missing = [str(w) for w in wanted if (by_index.get(w) if isinstance(w, int) else w if w in records else None)
               is None]
    if missing:
        raise EdgebenchError(f"--variants {selection}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                             f"not in {folder}, which holds {_held(records)}: choose from those, or train the "
                             "others with `edgebench ablation`")
    if not wanted:
        raise EdgebenchError(f"{folder} holds no finished variant: run `edgebench ablation` there first")
    names = tuple(dict.fromkeys(by_index[w] if isinstance(w, int) else w for w in wanted))
    return VariantsAxis(folder=folder, arch=str(settings.get("arch")), names=names, data=settings.get("data"),
                        reference=_reference(model, folder, records, settings), records=records)


def _reference(model: str, folder: Path, records: Dict[str, Dict], settings: Dict) -> str:
    if model in records:
        return model
    if model != settings.get("arch"):
        raise BadOptionError(f"MODEL '{model}' does not go with --variants: give the ablation's architecture "
                             f"({settings.get('arch')}: its baseline is the reference) or one of the variants in "
                             f"{folder}: {', '.join(records)}")
    table = folder / "ablation.json"
    baseline = _read_json(table).get("baseline") if table.is_file() else None
    if baseline in records:
        return baseline
    return next(iter(records))  # variant 1 where it was trained, else the lowest finished variant


def _read_json(path: Path) -> Dict:
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise EdgebenchError(f"{path} is not valid JSON: run the ablation again to rewrite it") from None
    return found if isinstance(found, dict) else {}


def variant_sources(axis: VariantsAxis, template: ModelInput) -> List[Source]:
    """The reference first (only its fp32 ONNX when it was not asked for), then the chosen variants in order."""
    order = list(dict.fromkeys([axis.reference, *axis.names]))
    found = []
    for name in order:
        record = axis.records.get(name, {})
        data = template.data or axis.data
        found.append(Source(name=name, prefix=name, kind="variant", reference=name == axis.reference,
                            searched=name in axis.names,
                            input=replace(template, model=name, checkpoint=str(axis.checkpoint(name)), data=data),
                            facts={"index": record.get("index"), "techniques": list(record.get("techniques", [])),
                                   "params": record.get("params"), "mflops": record.get("mflops"),
                                   "ablation_accuracy": record.get("accuracy")}))
    return found


# ---- pruned sources ------------------------------------------------------------------------------------------

def pruned_sources(base: Source, axis: PruneAxis) -> List[Source]:
    """One source per ratio, still pointing at MODEL's checkpoint: `make_pruned` prunes it in the host stage."""
    return [Source(name=ratio_label(axis.method, r), prefix=ratio_label(axis.method, r), kind="pruned",
                   input=base.input, facts={"prune": {"method": axis.method, "ratio": r, "fine_tune_epochs":
                                                     axis.fine_tune_epochs, "fine_tune_lr": axis.fine_tune_lr,
                                                     "seed": axis.seed}})
            for r in axis.ratios]


def prune_key(base: ModelInput, spec: PruneSpec) -> str:
    """Same MODEL checkpoint and data (their content), same pruning and fine-tuning settings, same seed: same key."""
    facts = {"version": PRUNE_CACHE_VERSION, "edgebench": __version__, "source": base.identity(),
             "prune": spec.as_dict()}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def make_pruned(source: Source, axis: PruneAxis, cache: Path, log: Callable[[str], None]) -> Tuple[Source, bool]:
    """`source` with its pruned checkpoint (made now, or found in the cache) and the pruning's figures; and
    whether it came from the cache."""
    ratio = source.facts["prune"]["ratio"]
    spec = axis.prune_spec(ratio)
    folder = Path(cache).absolute() / f"{source.prefix}-{prune_key(source.input, spec)}"
    cached = is_prune_output(folder)
    if not cached:
        prune_checkpoint(source.input.checkpoint, source.input.data, spec, folder, log)
    summary = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
    before, after = summary["iterations"][0], summary["iterations"][-1]
    checkpoint = folder / Path(after["file"]).name  # the folder may have moved since it was written
    facts = dict(source.facts, prune=dict(source.facts["prune"], achieved=after["achieved"],
                                          params_before=before["params"], params=after["params"],
                                          test_accuracy_before=before["accuracy"],
                                          test_accuracy=after["accuracy"], cache=folder.name))
    return replace(source, input=replace(source.input, checkpoint=str(checkpoint)), facts=facts), cached


def plan_sources(model: ModelInput, label: str, prune: Optional[PruneAxis],
                 variants: Optional[VariantsAxis]) -> List[Source]:
    """The sources of a run, the reference first; pruned ones are made later (`make_pruned`)."""
    if variants is not None:
        return variant_sources(variants, model)
    base = Source(name=label, prefix="", kind="model", input=model, reference=True)
    return [base, *(pruned_sources(base, prune) if prune is not None else [])]
