"""`edgebench.export`: a model -> a verified bundle (fp32 and int8 ONNX, TFLite), returned as a `Bundle`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Tuple, Union

from edgebench.api import rules
from edgebench.api.bundle import Bundle
from edgebench.api.inputs import data_path, first_conv_channels, is_module, model_name, model_source
from edgebench.api.progress import reporting
from edgebench.errors import BadOptionError, RefusedArtifactError
from edgebench.export.pipeline import export_bundle
from edgebench.export.spec import (CALIBRATION_METHODS, ExportSpec, Format, GateSpec, Layout, Precision, QuantSpec,
                                   default_formats, parse_enum, resolve_configs)

Names = Union[str, Sequence[str], None]


def export(model: Any, data: Any = None, *, precisions: Names = None, int8: bool = False, formats: Names = None,
           checkpoint: Optional[str] = None, out=None, force: bool = False, max_drop: Optional[float] = None,
           tflite_layout: str = "NHWC", calibration_size: int = 256, calibration_method: str = "minmax",
           int8_config: str = "auto", fp32_tolerance: float = 1e-3, fp16_tolerance: float = 2e-2,
           min_float_agreement: float = 0.99, min_int8_agreement: float = 0.9, max_int8_drop: float = 3.0,
           eval_size: int = 500, input_size: Optional[int] = None, channels: Optional[int] = None,
           mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None, seed: int = 0,
           name: Optional[str] = None, progress=False) -> Bundle:
    """Export `model` to a bundle folder (`out`, default `bundles/NAME`) and return it as a `Bundle`.

    `model`: a zoo name, an `.onnx` path, `package.module:function`, an `onnx.ModelProto` or a `torch.nn.Module`
    (give `input_size` when it does not take 32x32; its channels are read from its first convolution).
    `data`: a data set path or numpy arrays (see `edgebench.api.inputs`). The options are `edgebench export`'s.
    `progress`: False (nothing printed), True, a line printer or an `edgebench.progress.Progress` (see
    `edgebench.api.progress`); the manifest's `stage_times` are recorded whatever it is.
    Raises `RefusedArtifactError` (its `.bundle` is the written bundle) when an artifact failed its gate."""
    spec = export_spec(precisions=precisions, int8=int8, formats=formats, max_drop=max_drop,
                       tflite_layout=tflite_layout, calibration_size=calibration_size,
                       calibration_method=calibration_method, int8_config=int8_config, fp32_tolerance=fp32_tolerance,
                       fp16_tolerance=fp16_tolerance, min_float_agreement=min_float_agreement,
                       min_int8_agreement=min_int8_agreement, max_int8_drop=max_int8_drop, eval_size=eval_size,
                       seed=seed)
    rules.optional(rules.INPUT_SIZE, input_size, "input_size")
    if channels is not None and channels not in (1, 3):
        raise BadOptionError(f"channels {channels!r} is not one of 1, 3")
    if channels is None and is_module(model):
        channels = first_conv_channels(model)
    mean = _unit_floats(mean, "mean", rules.FRACTION)
    std = _unit_floats(std, "std", rules.POSITIVE_FLOAT)
    chosen_name = model_name(model, name)
    target = Path(out or f"bundles/{chosen_name}")
    log, reporter = reporting(progress)
    with model_source(model, chosen_name, input_size, channels) as source, data_path(data) as data_ref:
        export_bundle(source, target, spec, checkpoint=checkpoint, data=data_ref, input_size=input_size,
                      channels=channels, mean=mean, std=std, overwrite=force, log=log, progress=reporter)
    bundle = Bundle.load(target, verify=False)
    if bundle.rejected:
        raise RefusedArtifactError(f"{len(bundle.rejected)} artifact(s) failed the parity gate and were left out of "
                                   f"the bundle: {', '.join(entry['name'] for entry in bundle.rejected)} (see "
                                   "'rejected' in its manifest.json)", bundle)
    return bundle


def export_spec(*, precisions: Names, int8: bool, formats: Names, max_drop, tflite_layout: str,
                calibration_size: int, calibration_method: str, int8_config: str, fp32_tolerance: float,
                fp16_tolerance: float, min_float_agreement: float, min_int8_agreement: float, max_int8_drop: float,
                eval_size: int, seed: int):
    """The `ExportSpec` for these options, each checked by its rule."""
    chosen = tuple(parse_enum(Precision, p) for p in _names(precisions))
    if int8 and Precision.INT8 not in chosen:
        chosen += (Precision.INT8,)
    chosen = chosen or (Precision.FP32,)
    rules.optional(rules.MAX_DROP, max_drop, "max_drop")
    if max_drop is not None and Precision.INT8 not in chosen:
        raise BadOptionError("max_drop (--max-drop) sets the int8 accuracy budget: add int8 (--int8, or int8 to "
                             "the precisions)")
    rules.check_choice(calibration_method, CALIBRATION_METHODS, "calibration_method")
    layout = rules.check_choice(str(tflite_layout).upper(), [m.value for m in Layout], "tflite_layout")
    return ExportSpec(
        precisions=chosen,
        formats=tuple(parse_enum(Format, f) for f in _names(formats)) or default_formats(),
        layout=Layout(layout),
        quant=QuantSpec(calibration_size=rules.POSITIVE_INT.check(calibration_size, "calibration_size"),
                        method=calibration_method, configs=resolve_configs(int8_config), max_drop_pp=max_drop),
        gate=GateSpec(fp32_tolerance=rules.POSITIVE_FLOAT.check(fp32_tolerance, "fp32_tolerance"),
                      fp16_tolerance=rules.POSITIVE_FLOAT.check(fp16_tolerance, "fp16_tolerance"),
                      min_float_agreement=rules.FRACTION.check(min_float_agreement, "min_float_agreement"),
                      min_quant_agreement=rules.FRACTION.check(min_int8_agreement, "min_int8_agreement"),
                      max_quant_drop=rules.NON_NEGATIVE_FLOAT.check(max_int8_drop, "max_int8_drop"),
                      max_int8_drop=max_drop),
        eval_size=rules.POSITIVE_INT.check(eval_size, "eval_size"),
        seed=rules.SEED.check(seed, "seed"),
    )


def _names(values: Names) -> Tuple[str, ...]:
    if values is None:
        return ()
    parts = values.split(",") if isinstance(values, str) else list(values)
    return tuple(str(part).strip() for part in parts if str(part).strip())


def _unit_floats(values, label: str, rule) -> Optional[list]:
    if values is None:
        return None
    return list(rules.check_list(rule, values, label))
