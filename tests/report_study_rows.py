"""Hand-written report rows shaped like a real study: one model exported at every precision in ONNX and TFLite and
measured at 1 and 2 threads (16 points whose accuracies sit within half a point: the case where labels smear),
plus a second device. Shared by the plot, flag and browser tests."""

from __future__ import annotations

from typing import List

from edgebench.report.table import Row, with_baselines

# (format, precision, p50 at 1 thread in ms, size MiB, accuracy %)
ARTIFACTS = (
    ("onnx", "fp32", 2.10, 1.05, 91.80), ("onnx", "fp16", 2.35, 0.53, 91.78), ("onnx", "dynamic", 1.95, 0.29, 91.42),
    ("onnx", "int8", 1.21, 0.29, 91.55), ("tflite", "fp32", 2.02, 1.04, 91.80), ("tflite", "fp16", 2.04, 0.53, 91.79),
    ("tflite", "dynamic", 1.74, 0.29, 91.47), ("tflite", "int8", 0.98, 0.28, 91.60),
)


def study_rows(devices=("x86-host",), threads=(1, 2)) -> List[Row]:
    rows = []
    for device_index, device in enumerate(devices):
        for thread_count in threads:
            for fmt, precision, p50, size, accuracy in ARTIFACTS:
                p50_here = p50 * (1.0 + 0.6 * device_index) / (1.0 + 0.55 * (thread_count - 1))
                suffix = "onnx" if fmt == "onnx" else "tflite"
                rows.append(Row(device=device, model="resnet20", artifact=f"resnet20_{precision}.{suffix}",
                                format=fmt, precision=precision, threads=thread_count, size_mib=size,
                                accuracy=accuracy, eval_count=10000, p50_ms=round(p50_here, 4),
                                p90_ms=round(p50_here * 1.08, 4), cv=0.05, runs=300, peak_rss_mb=80.0,
                                source="hand-written", macs=40_800_000,
                                config=f"resnet20_{precision}.{suffix}"))
    return with_baselines(rows)
