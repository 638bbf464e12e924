"""Pair reference tensors with artifact tensors by value, and find where the artifact departs for good.

Converters rename tensors, move channels last, fuse some operations and split others, so names alone cannot
pair them. A reference tensor's candidates are the artifact tensors holding the same values up to a
permutation of the axes (after dropping axes of size 1): NCHW against NHWC, a [N, C] vector against a
[N, 1, 1, C] one. A candidate matches when every element is within `tolerance * max |reference|`. Cheap,
permutation-free statistics (per-image max, min and mean, which a match must reproduce within the same
bound) rule most candidates out before any element is compared.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

MAX_PERMUTED_AXES = 5  # beyond this only the identity and channels-last are tried (5! = 120 permutations)
REPORTED_CANDIDATES = 3  # for a tensor with no match, the closest by statistics are compared in full


@dataclass(frozen=True, kw_only=True)
class TensorMatch:
    name: str
    candidates: int  # artifact tensors with a compatible shape
    matched: bool
    max_abs_diff: float  # against the closest candidate compared in full (inf when none was)
    relative_diff: float


@dataclass(frozen=True, kw_only=True)
class _Entry:
    name: str
    values: np.ndarray  # [N, *squeezed shape], float32
    stats: np.ndarray  # [N, 3]: max, min, mean per image


def _squeezed(values: np.ndarray) -> np.ndarray:
    """[N, *shape] -> [N, *shape without axes of size 1]."""
    return values.reshape(values.shape[0], *[d for d in values.shape[1:] if d != 1])


def _entry(name: str, values: np.ndarray) -> _Entry:
    values = _squeezed(values)
    flat = values.reshape(values.shape[0], -1).astype(np.float64)
    stats = np.stack([flat.max(axis=1), flat.min(axis=1), flat.mean(axis=1)], axis=1) if flat.shape[1] else \
        np.zeros((flat.shape[0], 3))
    return _Entry(name=name, values=values, stats=stats)


def _shape_key(entry: _Entry) -> Tuple[int, ...]:
    return tuple(sorted(entry.values.shape[1:]))


def _permutations(source: Sequence[int], target: Sequence[int]) -> Iterable[Tuple[int, ...]]:
    """Axis orders that turn `source` into `target`: the identity first, then channels-last, then the rest."""
    rank = len(source)
    preferred = [tuple(range(rank)), tuple([*range(1, rank), 0])] if rank else [()]
    others = itertools.permutations(range(rank)) if rank <= MAX_PERMUTED_AXES else ()
    seen = set()
    for order in itertools.chain(preferred, others):
        if order not in seen and tuple(source[axis] for axis in order) == tuple(target):
            seen.add(order)
            yield order


def _full_diff(reference: _Entry, candidate: _Entry, bound: float) -> float:
    """Smallest max |diff| over the axis orders that fit; stops at the first one within `bound`."""
    best = math.inf
    for order in _permutations(reference.values.shape[1:], candidate.values.shape[1:]):
        moved = np.transpose(reference.values, (0, *[axis + 1 for axis in order]))
        with np.errstate(invalid="ignore", over="ignore"):
            diff = float(np.abs(moved - candidate.values).max()) if moved.size else 0.0
        if math.isnan(diff):
            diff = math.inf
        best = min(best, diff)
        if best <= bound:
            break
    return best


def match_tensors(reference: Mapping[str, np.ndarray], artifact: Mapping[str, np.ndarray], tolerance: float,
                  *, names: Optional[Mapping[str, Sequence[str]]] = None) -> Dict[str, Optional[TensorMatch]]:
    """For each reference tensor, its best match in the artifact; None where the reference tensor carries no
    information to compare (constant, or not finite).

    `names`: where the artifact keeps the reference's tensor names (an int8 ONNX model made by ONNX Runtime's
    quantizer), the artifact tensors that hold each name's values; those are then the only candidates."""
    artifact_entries = [_entry(name, values) for name, values in artifact.items()]
    groups: Dict[Tuple[int, ...], List[_Entry]] = {}
    for entry in artifact_entries:
        groups.setdefault(_shape_key(entry), []).append(entry)
    by_name = {entry.name: entry for entry in artifact_entries}
    stacked = {key: np.stack([entry.stats for entry in entries]) for key, entries in groups.items()}
    results: Dict[str, Optional[TensorMatch]] = {}
    for name, values in reference.items():
        if not np.isfinite(values).all() or values.size == 0 or values.max() == values.min():
            results[name] = None
            continue
        entry = _entry(name, values)
        scale = float(np.abs(entry.values).max())
        bound = tolerance * scale
        named = [by_name[alias] for alias in (names or {}).get(name, ())
                 if alias in by_name and _shape_key(by_name[alias]) == _shape_key(entry)]
        if named:
            candidates, stats = named, np.stack([candidate.stats for candidate in named])
        else:
            candidates, stats = groups.get(_shape_key(entry), []), stacked.get(_shape_key(entry))
        if not candidates:
            results[name] = TensorMatch(name=name, candidates=0, matched=False, max_abs_diff=math.inf,
                                        relative_diff=math.inf)
            continue
        with np.errstate(invalid="ignore"):
            distance = np.nan_to_num(np.abs(stats - entry.stats[None]).max(axis=(1, 2)), nan=math.inf)
        order = np.argsort(distance, kind="stable")
        best = math.inf
        for rank, index in enumerate(order):
            if distance[index] > bound and rank >= REPORTED_CANDIDATES:
                break
            best = min(best, _full_diff(entry, candidates[index], bound))
            if best <= bound:
                break
        results[name] = TensorMatch(name=name, candidates=len(candidates), matched=best <= bound,
                                    max_abs_diff=best, relative_diff=best / scale)
    return results
