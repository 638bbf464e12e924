"""edgebench device agent: timed inference on bundle artifacts, reported as JSON.

Runs on Python 3.9+ with numpy and one runtime (onnxruntime, ai-edge-litert or tflite_runtime); psutil is
optional. It imports neither torch nor edgebench.
"""

__version__ = "0.1.0"
RESULT_SCHEMA_VERSION = 1
# Additive changes within version 1: minor 1 adds `emulated` and the device's `emulated`, `emulation_evidence`
# and `unavailable`; minor 2 adds configurations (`config`, `setting`), rounds (`rounds_ms`, `schedule`), the
# p50's confidence interval, `stability`, `cold_start_ms`, `sustained`, `profile`, `quantization`, `comparison`
# and `cooldowns`.
RESULT_SCHEMA_MINOR = 2
