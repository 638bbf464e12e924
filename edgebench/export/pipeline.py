"""model -> fp32 ONNX -> int8 ONNX and TFLite -> verified bundle, the body of `edgebench export`."""

from __future__ import annotations

import datetime as _dt
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from edgebench import __version__
from edgebench.data import EMBEDDED, Preprocess, fit_normalisation, load_split, normalise, resize_images
from edgebench.data.imageset import ImageSet
from edgebench.errors import EdgebenchError
from edgebench.export.manifest import MANIFEST_FILE, MANIFEST_KIND, MANIFEST_VERSION, file_facts, validate
from edgebench.export.source import ModelSource, resolve_model
from edgebench.export.spec import FORMATS, ExportSpec, Format, Layout, Precision, tflite_available
from edgebench.export.verify import Agreement, compare, onnx_logits, torch_logits
from edgebench.fileio import atomic_dir, sha256_file, write_json

EVAL_FILE = "eval.npz"
Log = Callable[[str], None]


@dataclass
class ExportContext:
    """Everything the artifact writers share: the model, its data, and the reference outputs."""

    source: ModelSource
    module: object
    preprocess: Preprocess
    class_names: tuple
    eval_set: ImageSet
    eval_inputs: np.ndarray
    reference: np.ndarray
    reference_name: str
    calibration: np.ndarray
    selection: np.ndarray
    spec: ExportSpec

    def check(self, logits: np.ndarray) -> Agreement:
        return compare(logits, self.reference, self.eval_set.labels, self.reference_name)

    def enforce_int8(self, name: str, check: Agreement) -> None:
        if self.source.trained and check.top1_agreement < self.spec.min_int8_agreement:
            raise EdgebenchError(
                f"{name} top-1 agreement {100 * check.top1_agreement:.1f} % is below the threshold "
                f"{100 * self.spec.min_int8_agreement:.1f} % (--min-int8-agreement); nothing was written")


def export_bundle(model: str, out: Path, spec: ExportSpec, *, checkpoint: Optional[str] = None,
                  data: Optional[str] = None, input_size: Optional[int] = None, channels: Optional[int] = None,
                  mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                  overwrite: bool = False, log: Log = print) -> Dict:
    out = Path(out)
    if out.exists() and not overwrite:
        raise EdgebenchError(f"{out} already exists: pass --force to replace it, or choose another --out")
    if Format.TFLITE in spec.formats and not tflite_available():
        raise EdgebenchError(f"TFLite export needs onnx2tf and tensorflow: pip install "
                             f"'edgebench[{FORMATS[Format.TFLITE].extra}]' and "
                             "pip install --no-deps -r requirements/nodeps.txt, or export with --format onnx")
    started = time.perf_counter()
    source = resolve_model(model, checkpoint)
    data_ref = data or source.data or EMBEDDED
    train_raw = load_split(data_ref, "train")  # read once: normalisation fitting and calibration share it
    preprocess = _preprocess(source, train_raw, input_size, channels, mean, std)
    with atomic_dir(out, overwrite=overwrite) as work:
        context = _context(source, data_ref, train_raw, preprocess, spec, work / "model.fp32.onnx", log)
        artifacts = _onnx_artifacts(context, work, log)
        if Format.TFLITE in spec.formats:
            artifacts += _tflite_artifacts(context, work, log)
        np.savez_compressed(work / EVAL_FILE, images=context.eval_set.images, labels=context.eval_set.labels)
        manifest = _manifest(context, work, artifacts, time.perf_counter() - started)
        validate(manifest, "manifest", "the new manifest")
        write_json(work / MANIFEST_FILE, manifest)
    log(f"bundle written to {out} ({time.perf_counter() - started:.1f} s)")
    return manifest


def _context(source: ModelSource, data_ref: str, train_raw: ImageSet, preprocess: Preprocess, spec: ExportSpec,
             fp32_path: Path, log: Log) -> ExportContext:
    size = tuple(preprocess.input_size)
    train_set = resize_images(train_raw, size, preprocess.channels)
    eval_set = resize_images(load_split(data_ref, "test"), size, preprocess.channels).sample(spec.eval_size, spec.seed)
    class_names = source.class_names or train_set.class_names
    module = _torch_module(source, len(class_names), preprocess.channels, spec.seed)
    if not source.trained:
        log(f"warning: {source.name} has random weights (no --checkpoint): timings are valid, accuracy is not")
    if module is not None:
        log(f"exporting {source.name} to ONNX (opset {spec.opset}) ...")
        from edgebench.export.onnx_float import export_onnx

        tick = time.perf_counter()
        export_onnx(module, (1, preprocess.channels, *size), fp32_path, spec.opset)
        source.provenance["onnx_export_seconds"] = round(time.perf_counter() - tick, 2)
    else:
        fp32_path.write_bytes(Path(source.onnx_path).read_bytes())
    eval_inputs = normalise(eval_set.images, preprocess)
    reference = torch_logits(module, eval_inputs) if module is not None else onnx_logits(fp32_path, eval_inputs)
    if reference.ndim != 2 or reference.shape[1] < len(class_names):
        raise EdgebenchError(f"{source.name} outputs shape {list(reference.shape)} but the data has "
                             f"{len(class_names)} classes: pass --data with the model's own data set")
    quant = spec.quant
    pool = normalise(train_set.sample(quant.calibration_size + quant.selection_size, spec.seed + 1).images, preprocess)
    calibration = pool[:quant.calibration_size]
    selection = pool[quant.calibration_size:] if len(pool) > len(calibration) else calibration
    return ExportContext(source, module, preprocess, tuple(class_names), eval_set, eval_inputs, reference,
                         "torch" if module is not None else "onnx-fp32", calibration, selection, spec)


def _onnx_artifacts(context: ExportContext, work: Path, log: Log) -> List[Dict]:
    fp32_path = work / "model.fp32.onnx"
    artifacts = [_onnx_artifact(fp32_path, Precision.FP32, None, context.check(onnx_logits(fp32_path,
                                                                                          context.eval_inputs)),
                                context.source.provenance.get("onnx_export_seconds", 0.0))]
    log(_check_line(artifacts[-1]))
    if Precision.INT8 in context.spec.precisions_for(Format.ONNX):
        from edgebench.export.onnx_float import onnx_io
        from edgebench.export.onnx_int8 import quantize

        tick = time.perf_counter()
        log(f"quantizing to int8 ONNX on {len(context.calibration)} calibration images ...")
        model_input = onnx_io(fp32_path)[0]
        fixed_batch = model_input["shape"][0] if model_input["shape"][0] > 0 else None
        int8_path = work / "model.int8.onnx"
        details = quantize(fp32_path, int8_path, context.calibration, context.selection, context.spec.quant,
                           model_input["name"], fixed_batch or 32, log=log)
        check = context.check(onnx_logits(int8_path, context.eval_inputs))
        artifacts.append(_onnx_artifact(int8_path, Precision.INT8, details, check, time.perf_counter() - tick))
        log(_check_line(artifacts[-1]))
        context.enforce_int8("onnx-int8", check)
    return artifacts


def _onnx_artifact(path: Path, precision: Precision, quantization, check: Agreement, seconds: float) -> Dict:
    from edgebench.export.onnx_float import onnx_io

    model_input, model_output = onnx_io(path)
    return _artifact_entry(Format.ONNX, precision, path, {**model_input, "layout": Layout.NCHW.value}, model_output,
                           quantization, check, seconds)


def _tflite_artifacts(context: ExportContext, work: Path, log: Log) -> List[Dict]:
    from edgebench.export.tflite.convert import TfliteConverter, tflite_io, tflite_logits

    precisions = context.spec.precisions_for(Format.TFLITE)
    layout = context.spec.layout
    log(f"converting to TFLite ({', '.join(p.value for p in precisions)}; {layout.value} input) with onnx2tf ...")
    tick = time.perf_counter()
    calibration = context.calibration[:context.spec.quant.tflite_calibration_size]
    # Graphs edgebench exported itself are already folded and simplified: onnxsim would only cost time
    # (about 9 s on ResNet-101). A user's ONNX file goes through it.
    converter = TfliteConverter(work / "model.fp32.onnx", work / ".tflite-work", layout, calibration,
                                context.preprocess.mean, context.preprocess.std,
                                simplify=context.module is None)
    graph_seconds = time.perf_counter() - tick
    artifacts = []
    try:
        for precision in precisions:
            tick = time.perf_counter()
            path = work / f"model.{precision.value}.tflite"
            path.write_bytes(converter.convert(precision))
            io_facts = tflite_io(path)
            check = context.check(tflite_logits(path, context.eval_inputs, layout))
            quantization = {
                "tool": "tensorflow.lite.TFLiteConverter", "graph": "onnx2tf", "graph_fixes": converter.fixes,
                "calibration_images": int(len(calibration)) if precision == Precision.INT8 else 0,
                "input": io_facts["input_quantization"], "output": io_facts["output_quantization"],
            }
            artifacts.append(_artifact_entry(Format.TFLITE, precision, path, {**io_facts["input"], "layout": layout.value},
                                             io_facts["output"], quantization, check,
                                             time.perf_counter() - tick + (graph_seconds if not artifacts else 0.0)))
            log(_check_line(artifacts[-1]))
            if precision == Precision.INT8:
                context.enforce_int8("tflite-int8", check)
    finally:
        converter.close()
    return artifacts


def _artifact_entry(fmt: Format, precision: Precision, path: Path, model_input: Dict, model_output: Dict,
                    quantization, check: Agreement, seconds: float) -> Dict:
    assert path.suffix == FORMATS[fmt].suffix
    return {
        "name": f"{fmt.value}-{precision.value}", "format": fmt.value, "precision": precision.value,
        **file_facts(path), "input": model_input, "output": model_output, "quantization": quantization,
        "check": check.as_dict(), "export_seconds": round(seconds, 2),
    }


def _preprocess(source: ModelSource, train_raw: ImageSet, input_size, channels, mean, std) -> Preprocess:
    if source.preprocess is not None and not any((input_size, channels, mean, std)):
        return source.preprocess
    base = source.preprocess
    if source.onnx_path is not None:
        from edgebench.export.onnx_float import onnx_io

        shape = onnx_io(Path(source.onnx_path))[0]["shape"]
        if len(shape) != 4:
            raise EdgebenchError(f"{source.onnx_path}: expected an NCHW image input, got shape {shape}")
        channels = channels or (shape[1] if shape[1] > 0 else None)
        input_size = input_size or (shape[2] if shape[2] > 0 else None)
    if source.onnx_path is None and input_size is None and base is None:
        from edgebench.models import model_entry

        input_size = model_entry(source.name).input_size if source.kind == "zoo" else 32
    size = (input_size, input_size) if input_size else (base.input_size if base else (32, 32))
    channels = channels or (base.channels if base else 3)
    if mean is None or std is None:
        if base is not None and base.channels == channels:
            fitted_mean, fitted_std = base.mean, base.std
        else:
            fitted_mean, fitted_std = fit_normalisation(resize_images(train_raw.sample(2000), tuple(size), channels))
        mean = mean or fitted_mean
        std = std or fitted_std
    if len(mean) != channels or len(std) != channels:
        raise EdgebenchError(f"--mean/--std need {channels} values (one per input channel), got "
                             f"{len(mean)} and {len(std)}")
    return Preprocess(tuple(size), channels, tuple(float(m) for m in mean), tuple(float(s) for s in std))


def _torch_module(source: ModelSource, num_classes: int, channels: int, seed: int):
    if source.module is not None or source.kind == "onnx":
        return source.module
    import torch

    from edgebench.models import create_model

    torch.manual_seed(seed)
    source.config = {"num_classes": num_classes, "in_channels": channels}
    return create_model(source.name, **source.config).eval()


def _check_line(artifact: Dict) -> str:
    check = artifact["check"]
    accuracy = f", accuracy {100 * check['accuracy']:.2f} %" if check.get("accuracy") is not None else ""
    return (f"  {artifact['name']}: {artifact['bytes'] / 2**20:.2f} MiB, top-1 agreement with {check['reference']} "
            f"{100 * check['top1_agreement']:.2f} %, max |diff| {check['max_abs_diff']:.2e}{accuracy}")


def _manifest(context: ExportContext, work: Path, artifacts: List[Dict], seconds: float) -> Dict:
    source, spec = context.source, context.spec
    stats = None
    if context.module is not None:
        from edgebench.models.stats import model_stats

        stats = model_stats(context.module, (1, context.preprocess.channels, *context.preprocess.input_size)).as_dict()
    return {
        "schema_version": MANIFEST_VERSION,
        "kind": MANIFEST_KIND,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "edgebench_version": __version__,
        "host": {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system()},
        "model": {
            "name": source.name, "source": source.kind, "config": source.config, "trained": source.trained,
            "params": stats["params"] if stats else None, "macs": stats["macs"] if stats else None,
            "flops": stats["flops"] if stats else None, "provenance": _jsonable(source.provenance),
            "pruning": _jsonable(source.provenance.get("pruning")),
        },
        "preprocess": context.preprocess.as_dict(),
        "class_names": list(context.class_names),
        "eval": {"file": EVAL_FILE, "sha256": sha256_file(work / EVAL_FILE), "count": len(context.eval_set),
                 "layout": "NHWC", "dtype": "uint8", "source": context.eval_set.source, "seed": spec.seed},
        "artifacts": artifacts,
        "export": {"precisions": [p.value for p in spec.precisions], "formats": [f.value for f in spec.formats],
                   "tflite_layout": spec.layout.value, "quant": spec.quant.as_dict(),
                   "min_int8_agreement": spec.min_int8_agreement, "seconds": round(seconds, 1)},
    }


def _jsonable(value):
    import json

    return json.loads(json.dumps(value, default=str))
