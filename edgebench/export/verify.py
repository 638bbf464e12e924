"""Check an exported artifact against the reference model on the bundle's evaluation images."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Agreement:
    reference: str
    count: int
    top1_agreement: float
    max_abs_diff: float
    accuracy: Optional[float]
    reference_accuracy: Optional[float]

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def compare(logits: np.ndarray, reference: np.ndarray, labels: Optional[np.ndarray], reference_name: str) -> Agreement:
    predicted, expected = logits.argmax(1), reference.argmax(1)
    has_labels = labels is not None and len(labels) == len(logits)
    return Agreement(
        reference=reference_name, count=int(len(logits)),
        top1_agreement=float((predicted == expected).mean()),
        max_abs_diff=float(np.abs(logits.astype(np.float64) - reference.astype(np.float64)).max()),
        accuracy=float((predicted == labels).mean()) if has_labels else None,
        reference_accuracy=float((expected == labels).mean()) if has_labels else None,
    )


def torch_logits(module, inputs: np.ndarray, batch_size: int = 128) -> np.ndarray:
    import torch

    outputs = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            outputs.append(module(torch.from_numpy(inputs[start:start + batch_size])).numpy())
    return np.concatenate(outputs)


def onnx_logits(path: Path, inputs: np.ndarray, batch_size: int = 128, threads: int = 0) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    fixed_batch = session.get_inputs()[0].shape[0]
    step = fixed_batch if isinstance(fixed_batch, int) and fixed_batch > 0 else batch_size
    return np.concatenate([session.run(None, {name: inputs[start:start + step]})[0]
                           for start in range(0, len(inputs), step)])
