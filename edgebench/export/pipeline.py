"""model -> fp32 ONNX -> int8 ONNX -> verified bundle, the body of `edgebench export`."""

from __future__ import annotations

import datetime as _dt
import platform
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from edgebench import __version__
from edgebench.data import EMBEDDED, Preprocess, fit_normalisation, load_split, normalise, resize_images
from edgebench.data.imageset import ImageSet
from edgebench.errors import EdgebenchError
from edgebench.export.manifest import MANIFEST_FILE, MANIFEST_KIND, MANIFEST_VERSION, file_facts, validate
from edgebench.export.source import ModelSource, resolve_model
from edgebench.export.spec import ExportSpec, Format, Layout, Precision
from edgebench.fileio import atomic_dir, sha256_file, write_json

EVAL_FILE = "eval.npz"


def export_bundle(model: str, out: Path, spec: ExportSpec, *, checkpoint: Optional[str] = None,
                  data: Optional[str] = None, input_size: Optional[int] = None, channels: Optional[int] = None,
                  mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                  overwrite: bool = False, log: Callable[[str], None] = print) -> Dict:
    out = Path(out)
    if out.exists() and not overwrite:
        raise EdgebenchError(f"{out} already exists: pass --force to replace it, or choose another --out")
    if Format.TFLITE in spec.formats:
        raise EdgebenchError("format 'tflite' is not available in this build: choose onnx")
    started = time.perf_counter()
    source = resolve_model(model, checkpoint)
    data_ref = data or source.data or EMBEDDED
    preprocess = _preprocess(source, data_ref, input_size, channels, mean, std)
    size = tuple(preprocess.input_size)
    train_set = resize_images(load_split(data_ref, "train"), size, preprocess.channels)
    eval_set = resize_images(load_split(data_ref, "test"), size, preprocess.channels).sample(spec.eval_size, spec.seed)
    class_names = source.class_names or train_set.class_names
    module = _torch_module(source, len(class_names), preprocess.channels, spec.seed)
    if not source.trained:
        log(f"warning: {source.name} has random weights (no --checkpoint): timings are valid, accuracy is not")
    eval_inputs = normalise(eval_set.images, preprocess)
    input_shape = (1, preprocess.channels, *size)

    with atomic_dir(out, overwrite=overwrite) as work:
        artifacts: List[Dict] = []
        fp32_path = work / "model.fp32.onnx"
        tick = time.perf_counter()
        if module is not None:
            log(f"exporting {source.name} to ONNX (opset {spec.opset}) ...")
            from edgebench.export.onnx_float import export_onnx

            export_onnx(module, input_shape, fp32_path, spec.opset)
        else:
            fp32_path.write_bytes(Path(source.onnx_path).read_bytes())
        from edgebench.export.verify import compare, onnx_logits, torch_logits

        reference_name = "torch" if module is not None else "onnx-fp32"
        reference = torch_logits(module, eval_inputs) if module is not None else onnx_logits(fp32_path, eval_inputs)
        _check_classes(reference, class_names, source)
        fp32_check = compare(onnx_logits(fp32_path, eval_inputs), reference, eval_set.labels, reference_name)
        artifacts.append(_artifact(fp32_path, Format.ONNX, Precision.FP32, None, fp32_check,
                                   time.perf_counter() - tick))
        log(_check_line(artifacts[-1]))

        if Precision.INT8 in spec.precisions:
            from edgebench.export.onnx_int8 import quantize

            tick = time.perf_counter()
            log(f"quantizing to int8 on {spec.quant.calibration_size} calibration images ...")
            pool = train_set.sample(spec.quant.calibration_size + spec.quant.selection_size, spec.seed + 1)
            pool_inputs = normalise(pool.images, preprocess)
            calibration = pool_inputs[:spec.quant.calibration_size]
            selection = pool_inputs[spec.quant.calibration_size:] if len(pool_inputs) > len(calibration) \
                else calibration
            int8_path = work / "model.int8.onnx"
            batch = _fixed_batch(fp32_path) or 32
            details = quantize(fp32_path, int8_path, calibration, selection, spec.quant, "input"
                               if module is not None else _input_name(fp32_path), batch, log=log)
            int8_check = compare(onnx_logits(int8_path, eval_inputs), reference, eval_set.labels, reference_name)
            artifacts.append(_artifact(int8_path, Format.ONNX, Precision.INT8, details, int8_check,
                                       time.perf_counter() - tick))
            log(_check_line(artifacts[-1]))
            if source.trained and int8_check.top1_agreement < spec.min_int8_agreement:
                raise EdgebenchError(
                    f"int8 top-1 agreement {100 * int8_check.top1_agreement:.1f} % is below the threshold "
                    f"{100 * spec.min_int8_agreement:.1f} % (--min-int8-agreement); nothing was written")

        np.savez_compressed(work / EVAL_FILE, images=eval_set.images, labels=eval_set.labels)
        manifest = _manifest(source, module, preprocess, class_names, eval_set, work, artifacts, spec, input_shape,
                             time.perf_counter() - started)
        validate(manifest, "manifest", "the new manifest")
        write_json(work / MANIFEST_FILE, manifest)
    log(f"bundle written to {out} ({time.perf_counter() - started:.1f} s)")
    return manifest


def _preprocess(source: ModelSource, data_ref: str, input_size, channels, mean, std) -> Preprocess:
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
            fitted_mean, fitted_std = fit_normalisation(resize_images(load_split(data_ref, "train").sample(2000),
                                                                      tuple(size), channels))
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


def _check_classes(reference: np.ndarray, class_names, source: ModelSource) -> None:
    if reference.ndim != 2 or reference.shape[1] < len(class_names):
        raise EdgebenchError(f"{source.name} outputs shape {list(reference.shape)} but the data has "
                             f"{len(class_names)} classes: pass --data with the model's own data set")


def _fixed_batch(path: Path) -> Optional[int]:
    from edgebench.export.onnx_float import onnx_io

    dim = onnx_io(path)[0]["shape"][0]
    return dim if dim > 0 else None


def _input_name(path: Path) -> str:
    from edgebench.export.onnx_float import onnx_io

    return onnx_io(path)[0]["name"]


def _artifact(path: Path, fmt: Format, precision: Precision, quantization, check, seconds: float) -> Dict:
    from edgebench.export.onnx_float import onnx_io

    model_input, model_output = onnx_io(path)
    return {
        "name": f"{fmt.value}-{precision.value}", "format": fmt.value, "precision": precision.value,
        **file_facts(path),
        "input": {**model_input, "layout": Layout.NCHW.value},
        "output": model_output,
        "quantization": quantization,
        "check": check.as_dict(),
        "export_seconds": round(seconds, 2),
    }


def _check_line(artifact: Dict) -> str:
    check = artifact["check"]
    accuracy = f", accuracy {100 * check['accuracy']:.2f} %" if check.get("accuracy") is not None else ""
    return (f"  {artifact['name']}: {artifact['bytes'] / 2**20:.2f} MiB, top-1 agreement with {check['reference']} "
            f"{100 * check['top1_agreement']:.2f} %, max |diff| {check['max_abs_diff']:.2e}{accuracy}")


def _manifest(source: ModelSource, module, preprocess: Preprocess, class_names, eval_set: ImageSet, work: Path,
              artifacts: List[Dict], spec: ExportSpec, input_shape, seconds: float) -> Dict:
    stats = None
    if module is not None:
        from edgebench.models.stats import model_stats

        stats = model_stats(module, input_shape).as_dict()
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
        },
        "preprocess": preprocess.as_dict(),
        "class_names": list(class_names),
        "eval": {"file": EVAL_FILE, "sha256": sha256_file(work / EVAL_FILE), "count": len(eval_set),
                 "layout": "NHWC", "dtype": "uint8", "source": eval_set.source, "seed": spec.seed},
        "artifacts": artifacts,
        "export": {"precisions": [p.value for p in spec.precisions], "formats": [f.value for f in spec.formats],
                   "quant": spec.quant.as_dict(), "min_int8_agreement": spec.min_int8_agreement,
                   "seconds": round(seconds, 1)},
    }


def _jsonable(value):
    import json

    return json.loads(json.dumps(value, default=str))
