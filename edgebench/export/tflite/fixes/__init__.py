"""ONNX rewrites applied before onnx2tf, each exact (same arithmetic) and counted in the artifact's manifest.

onnx2tf converts NCHW graphs to NHWC by inferring each tensor's layout from its shape. Where that inference is
ambiguous (channels equal to height or width) some operators land on the wrong axis. Each fix replaces one such
operator pattern with an equivalent one onnx2tf converts reliably; `apply_fixes` runs them in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Tuple

from edgebench.export.tflite.fixes import ceil_pool, channel_pad, fold, gelu, grouped_conv, names, strided_slice
from edgebench.export.tflite.fixes.grouped_conv import ambiguous_grouped_convs, split_grouped_convs


@dataclass(frozen=True, kw_only=True)
class GraphFix:
    name: str
    rewrite: Callable[[object], Tuple[object, int]]  # model -> (model, how many places were rewritten)


FIXES: Tuple[GraphFix, ...] = (
    GraphFix(name=fold.NAME, rewrite=fold.fold_constants),
    GraphFix(name=strided_slice.NAME, rewrite=strided_slice.strided_slices_as_conv),
    GraphFix(name=channel_pad.NAME, rewrite=channel_pad.channel_pads_as_conv),
    GraphFix(name=grouped_conv.NAME, rewrite=grouped_conv.split_grouped_convs),
    GraphFix(name=ceil_pool.NAME, rewrite=ceil_pool.ceil_maxpools_edge_padded),
    GraphFix(name=gelu.NAME, rewrite=gelu.gelus_as_one_op),
    GraphFix(name=names.NAME, rewrite=names.sanitise_node_names),
)


def apply_fixes(model, fixes: Tuple[GraphFix, ...] = FIXES) -> Tuple[object, Dict[str, int]]:
    """Run every fix in turn; returns the model and {fix name: count} for those that changed something."""
    counts = {}
    for fix in fixes:
        model, count = fix.rewrite(model)
        if count:
            counts[fix.name] = count
    return model, counts


__all__ = ["FIXES", "GraphFix", "apply_fixes", "ambiguous_grouped_convs", "split_grouped_convs"]
