"""model -> fp32 ONNX -> every requested artifact, each through one gate -> bundle: `edgebench export`.

Every artifact passes through `_produce`: written by its format's writer (the `FORMATS` table), timed, run
on the eval images, and judged by the parity gate for its precision. An artifact that fails is left out of
the bundle and recorded under `rejected` with its figures, its reason and, where it can be found, the first
ONNX node whose output departs; the others are kept.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import json
import platform
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edgebench import __version__
from edgebench.data import EMBEDDED, Preprocess, fit_normalisation, load_split, normalise, resize_images
from edgebench.data.imageset import ImageSet
from edgebench.data.validate import class_balance
from edgebench.errors import EdgebenchError
from edgebench.export.context import ExportContext
from edgebench.export.diagnose import first_divergence
from edgebench.export.gate import judge
from edgebench.export.int8.export_plan import int8_plan as plan_int8
from edgebench.export.layers import layer_map
from edgebench.export.manifest import (MANIFEST_FILE, MANIFEST_KIND, MANIFEST_VERSION, file_facts, is_bundle,
                                        resolve_facts, validate)
from edgebench.export.onnx_float import export_onnx
from edgebench.export.onnx_input import load_model, prepare_onnx, run_error
from edgebench.export.probes import build_probes
from edgebench.export.source import ModelSource, resolve_model
from edgebench.export.spec import FORMATS, ExportSpec, Format, Precision, check_available
from edgebench.export.tflite import worker as tflite_worker
from edgebench.export.verify import onnx_logits, torch_logits
from edgebench.export.watchdog import stage_limit
from edgebench.export.writers import open_writer
from edgebench.fileio import atomic_dir, check_replaceable, raise_if_write_error, sha256_file, write_json
from edgebench.models import create_model, model_entry
from edgebench.models.stats import model_stats
from edgebench.progress import Progress, through

EVAL_FILE = "eval.npz"
DIAGNOSE_IMAGES = 4
Log = Callable[[str], None]


def export_bundle(model: str, out: Path, spec: ExportSpec, *, checkpoint: Optional[str] = None,
                  data: Optional[str] = None, input_size: Optional[Tuple[int, int]] = None,
                  channels: Optional[int] = None, mean: Optional[Sequence[float]] = None,
                  std: Optional[Sequence[float]] = None, overwrite: bool = False, log: Log = print,
                  progress: Optional[Progress] = None) -> Dict:
    """Write the bundle; its manifest lists the artifacts that passed and, under `rejected`, those that did not,
    and `stage_times` the seconds of each stage (`progress` prints them as they end; off by default)."""
    progress = progress if progress is not None else through(log)  # stage lines shown where `log` shows lines
    out = Path(out)
    check_replaceable(out, overwrite=overwrite, owned=is_bundle)  # before any long work
    check_available(spec.formats)
    tflite_worker.setting()  # a bad EDGEBENCH_TFLITE_WORKER is refused before any work
    started = time.perf_counter()
    # A string is resolved here; the Python API hands over a ready source (a module or ModelProto in memory).
    with progress.stage("model and data"):
        source = model if isinstance(model, ModelSource) else resolve_model(model, checkpoint)
        data_ref = data or source.data or EMBEDDED
        train_raw = load_split(data_ref, "train")  # read once: normalisation fitting and calibration share it
        preprocess = _preprocess(source, train_raw, _square(input_size), channels, mean, std)
    with atomic_dir(out, overwrite=overwrite, owned=is_bundle) as work:
        with contextlib.ExitStack() as cleanup:
            with progress.stage("ONNX export and reference outputs"):
                context = _context(source, data_ref, train_raw, preprocess, spec, work / "model.fp32.onnx", log,
                                   cleanup)
            context.progress = progress  # the bars of the stages that iterate (calibration, trials, eval images)
            artifacts: List[Dict] = []
            rejected: List[Dict] = []
            with progress.stage("int8 search (calibration, trials)") if spec.quant.max_drop_pp is not None \
                    else contextlib.nullcontext():
                int8_plan = plan_int8(context, work, log)  # --max-drop: one search, handed to each int8 writer
            # The fp32 ONNX is the reference every other artifact is made from: always first, always written.
            for fmt in (Format.ONNX,) + tuple(f for f in spec.formats if f != Format.ONNX):
                _produce_format(context, fmt, work, artifacts, rejected, log, int8_plan, progress)
        with progress.stage("probes (device peak GMAC/s)"):
            probes = build_probes(work, [fmt.value for fmt in spec.formats], log)
        np.savez_compressed(work / EVAL_FILE, images=context.eval_set.images, labels=context.eval_set.labels)
        manifest = _manifest(context, work, artifacts, rejected, time.perf_counter() - started)
        manifest["probes"] = probes
        manifest["stage_times"] = progress.records()
        validate(manifest, "manifest", "the new manifest")
        write_json(work / MANIFEST_FILE, manifest)
    log(f"bundle written to {out} ({time.perf_counter() - started:.1f} s)")
    for entry in rejected:
        log(f"refused {entry['name']}: {entry['reason']}")
    return manifest


def _square(size) -> Optional[Tuple[int, int]]:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    return (int(size[0]), int(size[1]))


def _produce_format(context: ExportContext, fmt: Format, work: Path, artifacts: List[Dict], rejected: List[Dict],
                    log: Log, int8_plan=None, progress: Optional[Progress] = None) -> None:
    """All of one format's precisions; a converter that cannot start costs that format only."""
    progress = progress if progress is not None else Progress()
    precisions = context.spec.precisions_for(fmt)
    tick = time.perf_counter()
    try:
        with stage_limit("onnx2tf") if fmt == Format.TFLITE else contextlib.nullcontext(), \
                progress.stage(f"{fmt.value}: converter (onnx2tf)" if fmt == Format.TFLITE else f"{fmt.value}: setup"):
            writer = open_writer(fmt, context, work, log)
    except Exception as exc:  # a converter that fails costs its own format, never the bundle
        raise_if_write_error(exc)  # ... but a full disk stops the export
        for precision in precisions:
            rejected.append(_rejection(fmt, precision, _reason(exc)))
        log(f"  {fmt.value}: {_reason(exc)}")
        return
    setup_seconds = getattr(writer, "setup_seconds", None) or time.perf_counter() - tick
    try:
        for precision in progress.bar(precisions, desc=f"{fmt.value} precisions", unit="artifact"):
            with progress.stage(f"{fmt.value}-{precision.value}"):
                entry = _produce(context, writer, fmt, precision, work, setup_seconds, log, int8_plan, progress)
            (artifacts if "check" in entry and entry.get("gate", {}).get("passed") else rejected).append(entry)
            setup_seconds = 0.0
    finally:
        writer.close()


def _produce(context: ExportContext, writer, fmt: Format, precision: Precision, work: Path, setup_seconds: float,
             log: Log, int8_plan=None, progress: Optional[Progress] = None) -> Dict:
    """Write, time, run and judge one artifact: the one path every artifact takes."""
    progress = progress if progress is not None else Progress()
    path = work / f"model.{precision.value}{FORMATS[fmt].suffix}"
    if precision == Precision.FP32 and fmt == Format.ONNX:
        path = context.fp32_onnx
    tick = time.perf_counter()
    try:
        plan = {"int8_plan": int8_plan} if precision == Precision.INT8 and int8_plan is not None else {}
        with stage_limit(f"{fmt.value}-{precision.value}"), progress.stage("write"):  # a stalled converter
            written = writer.write(precision, path, **plan)
        seconds = (time.perf_counter() - tick if written.seconds is None else written.seconds) + setup_seconds
        if fmt == Format.ONNX and precision == Precision.FP32:
            seconds += context.source.provenance.get("onnx_export_seconds", 0.0)
        with progress.stage(f"gate on {len(context.eval_inputs)} eval images"):
            check = context.check(writer.logits(path, context.eval_inputs))
    except Exception as exc:  # converters and runtimes raise many types: each costs this artifact only
        raise_if_write_error(exc, path)  # ... but a full disk stops the export
        if path == context.fp32_onnx:
            raise
        if path.exists():
            path.unlink()
        log(f"  {fmt.value}-{precision.value}: {_reason(exc)}")
        rejection = _rejection(fmt, precision, _reason(exc))
        if getattr(exc, "quantization", None) is not None:  # a refused --max-drop search: what it measured
            rejection["quantization"] = exc.quantization
        return rejection
    verdict = judge(precision, check, context.spec.gate, trained=context.source.trained)
    entry = {
        "name": f"{fmt.value}-{precision.value}", "format": fmt.value, "precision": precision.value,
        **file_facts(path, defer_gzip=True), "input": written.input, "output": written.output,
        "quantization": written.quantization,
        "check": check.as_dict(), "gate": verdict.as_dict(), "export_seconds": round(seconds, 2),
    }
    if FORMATS[fmt].graph == "onnx":
        entry["layers"] = _layers(path)
    log(_check_line(entry))
    if verdict.passed:
        return entry
    if path == context.fp32_onnx:
        raise EdgebenchError(f"the fp32 ONNX export does not match the model ({'; '.join(verdict.reasons)}): every "
                             "other artifact is made from it, so nothing was written")
    entry["reason"] = "; ".join(verdict.reasons)
    entry["divergence"] = _diagnose(context, fmt, path)
    path.unlink()
    return entry


def _layers(path: Path) -> Dict[str, str]:
    """ONNX node (and tensor) name -> torch module path, of this file's own nodes: the agent's profile names
    layers with it."""
    return layer_map(path)


def _diagnose(context: ExportContext, fmt: Format, path: Path) -> Optional[Dict]:
    """The first ONNX node whose output departs in the failed artifact, when it can be found."""
    try:
        found = first_divergence(context.fp32_onnx, path, context.eval_inputs[:DIAGNOSE_IMAGES],
                                 layout=context.spec.layout_for(fmt).value)
    except EdgebenchError as exc:
        return {"error": str(exc)}
    return found.as_dict() if found is not None else None


def _reason(exc: Exception) -> str:
    if isinstance(exc, EdgebenchError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:240]}"


def _rejection(fmt: Format, precision: Precision, reason: str) -> Dict:
    return {"name": f"{fmt.value}-{precision.value}", "format": fmt.value, "precision": precision.value,
            "reason": reason}


def _context(source: ModelSource, data_ref: str, train_raw: ImageSet, preprocess: Preprocess, spec: ExportSpec,
             fp32_path: Path, log: Log, cleanup: contextlib.ExitStack) -> ExportContext:
    size = tuple(preprocess.input_size)
    train_set = resize_images(train_raw, size, preprocess.channels)
    eval_set = resize_images(load_split(data_ref, "test"), size, preprocess.channels).sample(spec.eval_size, spec.seed)
    class_names = source.class_names or train_set.class_names
    module = _torch_module(source, len(class_names), preprocess.channels, spec.seed)
    worker = _start_tflite_worker(spec, source, module, fp32_path.parent / ".tflite-worker")
    if worker is not None:
        cleanup.callback(worker.close)  # on any way out, the worker ends and its folder goes
    if not source.trained:
        log(f"warning: {source.name} has random weights (no --checkpoint): timings are valid, accuracy is not")
    if module is not None:
        log(f"exporting {source.name} to ONNX (opset {spec.opset}) ...")
        tick = time.perf_counter()
        export_onnx(module, (1, preprocess.channels, *size), fp32_path, spec.opset)
        source.provenance["onnx_export_seconds"] = round(time.perf_counter() - tick, 2)
    else:
        _prepare_user_onnx(source, preprocess, fp32_path)
    quant = spec.quant
    pool = normalise(train_set.sample(quant.calibration_size + quant.selection_size, spec.seed + 1).images, preprocess)
    calibration = pool[:quant.calibration_size]
    if worker is not None:
        worker.submit(fp32_path, layout=spec.layout.value, calibration=calibration[:quant.tflite_calibration_size],
                      mean=preprocess.mean, std=preprocess.std, simplify=module is None,
                      precisions=[p.value for p in spec.precisions_for(Format.TFLITE)])
    eval_inputs = normalise(eval_set.images, preprocess)
    threads = 1 if worker is not None and worker.running() else 0  # as `ExportContext.threads`
    reference = torch_logits(module, eval_inputs, threads=threads) if module is not None \
        else onnx_logits(fp32_path, eval_inputs, threads=threads)
    if reference.ndim != 2 or reference.shape[1] < len(class_names):
        raise EdgebenchError(f"{source.name} outputs shape {list(reference.shape)} but the data has "
                             f"{len(class_names)} classes: pass --data with the model's own data set")
    if not np.isfinite(reference).all():
        raise EdgebenchError(f"{source.name} outputs NaN or infinity on the eval images: its weights are not "
                             "usable (was it trained with a diverging loss?)")
    selection = pool[quant.calibration_size:] if len(pool) > len(calibration) else calibration
    return ExportContext(source=source, module=module, preprocess=preprocess, class_names=tuple(class_names),
                         eval_set=eval_set, eval_inputs=eval_inputs, reference=reference,
                         reference_name="torch" if module is not None else "onnx-fp32", calibration=calibration,
                         selection=selection, spec=spec, fp32_onnx=fp32_path, tflite_worker=worker)


def _start_tflite_worker(spec: ExportSpec, source: ModelSource, module, job: Path):
    """The TFLite branch's worker, started where it pays (`edgebench.export.tflite.worker`); None otherwise."""
    if Format.TFLITE not in spec.formats:
        return None
    precisions = spec.precisions_for(Format.TFLITE)
    budget = spec.quant.max_drop_pp is not None and Precision.INT8 in precisions
    if module is not None:  # fp32 weights: about what the ONNX file will weigh
        size = 4 * sum(int(p.numel()) for p in module.parameters()) if hasattr(module, "parameters") else 0
    else:
        size = Path(source.onnx_path).stat().st_size if source.onnx_path else 0
    if not tflite_worker.wanted(precisions, size, budget):
        return None
    try:
        return tflite_worker.TfliteWorker.start(job)
    except OSError:  # no Python to start (an embedded interpreter): the branch runs in process, as for a small model
        return None


def _prepare_user_onnx(source: ModelSource, preprocess: Preprocess, fp32_path: Path) -> None:
    """The user's file as the reference graph: a dynamic batch where the graph allows it, else batch 1."""
    where, size, channels = str(source.onnx_path), tuple(preprocess.input_size), preprocess.channels
    model = load_model(Path(source.onnx_path))
    changes = prepare_onnx(copy.deepcopy(model), fp32_path, source.onnx_input, size, channels, where)
    if run_error(fp32_path, channels, size, 2) is not None:  # a batch baked into a Reshape, say
        changes = prepare_onnx(model, fp32_path, source.onnx_input, size, channels, where, dynamic_batch=False)
    problem = run_error(fp32_path, channels, size, 1)
    if problem is not None:
        raise EdgebenchError(f"{where} does not run on one {channels}x{size[0]}x{size[1]} image in ONNX Runtime: "
                             f"{problem}")
    source.provenance["onnx_input"] = changes


def _preprocess(source: ModelSource, train_raw: ImageSet, input_size, channels, mean, std) -> Preprocess:
    if source.preprocess is not None and not any((input_size, channels, mean, std)):
        return source.preprocess
    base = source.preprocess
    if source.onnx_input is not None:
        input_size, channels = _onnx_size(source, input_size, channels)
    if source.onnx_path is None and input_size is None and base is None:
        side = model_entry(source.name).input_size if source.kind == "zoo" else 32
        input_size = (side, side)
    size = input_size or (base.input_size if base else (32, 32))
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
    return Preprocess(input_size=tuple(size), channels=channels, mean=tuple(float(m) for m in mean),
                      std=tuple(float(s) for s in std))


def _onnx_size(source: ModelSource, input_size, channels) -> Tuple[Tuple[int, int], int]:
    """The ONNX file's own size and channels; the user's options only where the file leaves them open."""
    contract = source.onnx_input
    where = f"{source.onnx_path}"
    declared = (contract.height, contract.width)
    if None in declared and input_size is None:
        raise EdgebenchError(f"{where} takes any input size (its {contract.layout.value} input has a dynamic "
                             "height or width): pass --input-size, e.g. --input-size 32")
    if None not in declared and input_size is not None and tuple(input_size) != declared:
        raise EdgebenchError(f"--input-size {input_size[0]} does not match {where}, which takes "
                             f"{declared[0]}x{declared[1]} images: leave --input-size out")
    if contract.channels is None and channels is None:
        raise EdgebenchError(f"{where} does not say how many channels its input has: pass --channels 1 or 3")
    if contract.channels is not None and channels is not None and channels != contract.channels:
        raise EdgebenchError(f"--channels {channels} does not match {where}, which takes {contract.channels} "
                             "channel(s): leave --channels out")
    chosen_channels = contract.channels or channels
    if chosen_channels not in (1, 3):
        raise EdgebenchError(f"{where} takes {chosen_channels}-channel input: edgebench bundles greyscale (1) or "
                             "RGB (3) images")
    return (declared if None not in declared else tuple(input_size)), chosen_channels


def _torch_module(source: ModelSource, num_classes: int, channels: int, seed: int):
    if source.module is not None or source.kind == "onnx":
        return source.module
    import torch  # torch: heavy, loaded only when this runs


    torch.manual_seed(seed)
    source.config = {"num_classes": num_classes, "in_channels": channels}
    return create_model(source.name, **source.config).eval()


def _check_line(artifact: Dict) -> str:
    check = artifact["check"]
    accuracy = f", accuracy {100 * check['accuracy']:.2f} %" if check.get("accuracy") is not None else ""
    diff = "n/a" if check["max_abs_diff"] is None else f"{check['max_abs_diff']:.2e}"
    verdict = "" if artifact["gate"]["passed"] else "  FAILED: " + "; ".join(artifact["gate"]["reasons"])
    return (f"  {artifact['name']}: {artifact['bytes'] / 2**20:.2f} MiB, top-1 agreement with {check['reference']} "
            f"{100 * check['top1_agreement']:.2f} %, max |diff| {diff}{accuracy}{verdict}")


def _manifest(context: ExportContext, work: Path, artifacts: List[Dict], rejected: List[Dict],
              seconds: float) -> Dict:
    source, spec = context.source, context.spec
    stats = None
    resolve_facts(artifacts + rejected)  # sizes compressed on a worker thread while the export went on
    if context.module is not None:
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
                 "layout": "NHWC", "dtype": "uint8", "source": context.eval_set.source, "seed": spec.seed,
                 "balance": class_balance(context.eval_set.labels, context.class_names)},
        "artifacts": artifacts,
        "rejected": _jsonable(rejected),
        "export": {"precisions": [p.value for p in spec.precisions], "formats": [f.value for f in spec.formats],
                   "tflite_layout": spec.layout.value, "quant": spec.quant.as_dict(), "gate": spec.gate.as_dict(),
                   "seconds": round(seconds, 1)},
    }


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))
