"""First diverging layer: where an exported artifact stops reproducing its fp32 ONNX model, fully offline."""

from edgebench.export.diagnose.diagnosis import DEFAULT_TOLERANCE, diagnose, diagnose_many, first_divergence
from edgebench.export.diagnose.report import Diagnosis, Divergence

__all__ = ["DEFAULT_TOLERANCE", "Diagnosis", "Divergence", "diagnose", "diagnose_many", "first_divergence"]
