"""The first node a full int8 artifact departs from (`edgebench.export.diagnose`), the first one the budget search
keeps in float: where the error begins is where keeping float is most likely to help."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from edgebench.errors import EdgebenchError
from edgebench.export.diagnose import first_divergence

DIAGNOSE_IMAGES = 4


def first_departing(fp32_path: Path, artifact_path: Path, images: np.ndarray, layout: str,
                    candidates: Sequence[str], log: Callable[[str], None]) -> Optional[Dict]:
    """{"node", "op_type", "source_layer", "relative_diff"} of the first departing node, or None when the
    artifact agrees throughout or cannot be compared; logged either way."""
    try:
        found = first_divergence(fp32_path, artifact_path, images[:DIAGNOSE_IMAGES], layout=layout)
    except EdgebenchError as exc:
        log(f"  diagnosis of full int8 not available: {exc}")
        return None
    if found is None:
        return None
    ranked = found.node in candidates
    log(f"  full int8 departs first at {found.node} ({found.op_type}"
        f"{', ' + found.source_layer if found.source_layer else ''}): "
        f"{'tried first' if ranked else 'not a quantized node, the ranking stays'}")
    return {"node": found.node, "op_type": found.op_type, "source_layer": found.source_layer,
            "relative_diff": float(f"{found.relative_diff:.4g}")}
