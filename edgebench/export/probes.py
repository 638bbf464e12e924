"""Probe artifacts: one large 3x3 convolution, in fp32 and int8, in each exported format, carried in the bundle
under `probes/` so the agent can measure what this device attains on dense arithmetic (GMAC/s per format and
precision) once per run. A model's achieved GMAC/s against that peak says whether it is bound by compute or by
per-op overhead (docs/latency.md).

A probe that cannot be built is recorded with its reason and costs only the efficiency column: the export and
its artifacts never depend on it."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import numpy as np

from edgebench.export.manifest import file_facts
from edgebench.export.tflite.quiet import native_output_silenced

PROBE_DIR = "probes"
CHANNELS, SIZE, KERNEL = 128, 28, 3  # 115.6 M MACs per inference: milliseconds on a laptop core
CALIBRATION_IMAGES = 8


def probe_macs() -> int:
    return SIZE * SIZE * CHANNELS * CHANNELS * KERNEL * KERNEL


def _weights(seed: int = 0):
    generator = np.random.default_rng(seed)
    weight = (generator.standard_normal((CHANNELS, CHANNELS, KERNEL, KERNEL)) * 0.05).astype(np.float32)
    bias = (generator.standard_normal(CHANNELS) * 0.01).astype(np.float32)
    return weight, bias


def _calibration() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((CALIBRATION_IMAGES, CHANNELS, SIZE, SIZE)).astype(np.float32)


def onnx_probe(path: Path) -> None:
    """The fp32 probe: input [1, C, H, W] -> Conv 3x3 (pad 1) -> Relu."""
    import onnx  # onnx: heavy, loaded only when a graph is read or built
    from onnx import TensorProto, helper, numpy_helper  # onnx: heavy, loaded only when a graph is read or built

    weight, bias = _weights()
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["conv"], pads=[1, 1, 1, 1], kernel_shape=[KERNEL, KERNEL]),
         helper.make_node("Relu", ["conv"], ["output"])],
        "conv_probe",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, CHANNELS, SIZE, SIZE])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, CHANNELS, SIZE, SIZE])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def onnx_int8_probe(fp32_path: Path, path: Path) -> None:
    """The int8 probe: ONNX Runtime's static QDQ quantizer (per-channel weights) on the fp32 probe."""
    # onnxruntime: heavy, loaded only when this runs
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    class Reader:
        def __init__(self):
            self.items = iter(_calibration()[:, None])

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {"input": item}

    quantize_static(str(fp32_path), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def tflite_probes(fp32_path: Path, int8_path: Path) -> None:
    """The same convolution as TFLite (NHWC), fp32 and full-integer int8, through TensorFlow's converter."""
    import tensorflow as tf  # the convert extra; imported only when TFLite artifacts are exported

    weight, bias = _weights()
    layer = tf.keras.layers.Conv2D(CHANNELS, KERNEL, padding="same", activation="relu")
    model = tf.keras.Sequential([tf.keras.Input((SIZE, SIZE, CHANNELS), batch_size=1), layer])
    layer.set_weights([weight.transpose(2, 3, 1, 0), bias])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    fp32_path.write_bytes(converter.convert())
    calibration = _calibration().transpose(0, 2, 3, 1)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    int8_path.write_bytes(converter.convert())


def cache_dir() -> Path:
    """Where built probes are kept between exports (they are the same for every model): EDGEBENCH_CACHE, else
    XDG_CACHE_HOME/edgebench, else ~/.cache/edgebench; one folder per probe shape and converter versions."""
    root = os.environ.get("EDGEBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgebench")
    versions = []
    for package in ("onnx", "onnxruntime", "tensorflow"):
        try:
            versions.append(f"{package}{metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package}-none")
    return Path(root) / "probes" / f"conv{KERNEL}-{CHANNELS}-{SIZE}-{'-'.join(versions)}"


def _cached(fmt: str, builder) -> List:
    """The format's probe files from the cache, built there first (atomically: a folder renamed into place)."""
    target = cache_dir() / fmt
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{fmt}-", dir=target.parent))
        try:
            builder(staging)
            os.replace(staging, target)
        except OSError:
            if not target.is_dir():  # a concurrent export won the race: use its folder, else the error stands
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return [("fp32", target / f"conv.fp32.{SUFFIXES[fmt]}"), ("int8", target / f"conv.int8.{SUFFIXES[fmt]}")]


SUFFIXES = {"onnx": "onnx", "tflite": "tflite"}


def build_probes(work: Path, formats: Sequence[str], log: Callable[[str], None]) -> List[Dict]:
    """Write the probes of `formats` under work/probes; one manifest entry each (an `error` where it failed)."""
    folder = work / PROBE_DIR
    folder.mkdir(exist_ok=True)
    entries: List[Dict] = []
    builders = {"onnx": _build_onnx, "tflite": _build_tflite}
    for fmt in formats:
        if fmt not in builders:
            continue
        try:
            written = []
            for precision, cached in _cached(fmt, builders[fmt]):
                shutil.copyfile(cached, folder / cached.name)
                written.append((precision, folder / cached.name))
        except Exception as exc:  # converters raise many types; a probe costs the efficiency column only
            reason = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}"
            log(f"  probe {fmt}: not built ({reason})")
            entries += [{"name": f"{fmt}-{p}", "format": fmt, "precision": p, "error": reason} for p in ("fp32", "int8")]
            continue
        for precision, path in written:
            facts = file_facts(path)
            entries.append({"name": f"{fmt}-{precision}", "format": fmt, "precision": precision,
                            "file": f"{PROBE_DIR}/{path.name}", "sha256": facts["sha256"], "bytes": facts["bytes"],
                            "macs": probe_macs(), "op": f"conv {KERNEL}x{KERNEL} {CHANNELS}->{CHANNELS} at "
                                                        f"{SIZE}x{SIZE}"})
    return entries


def _build_onnx(folder: Path) -> None:
    fp32, int8 = folder / "conv.fp32.onnx", folder / "conv.int8.onnx"
    onnx_probe(fp32)
    with tempfile.TemporaryDirectory() as tmp:  # the quantizer writes a pre-processed copy beside its input
        staged = Path(tmp) / "conv.onnx"
        staged.write_bytes(fp32.read_bytes())
        onnx_int8_probe(staged, int8)


def _build_tflite(folder: Path) -> None:
    fp32, int8 = folder / "conv.fp32.tflite", folder / "conv.int8.tflite"
    with native_output_silenced(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the converter's notes on int8 input statistics
        tflite_probes(fp32, int8)
