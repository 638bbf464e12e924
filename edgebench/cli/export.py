from __future__ import annotations

from pathlib import Path

import click

from edgebench.errors import EdgebenchError


def _floats(text):
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise EdgebenchError(f"'{text}' is not a comma-separated list of numbers") from None


@click.command("export")
@click.argument("model")
@click.option("--int8", is_flag=True, help="int8 artifacts: static int8 ONNX and full-integer TFLite, calibrated on "
              "real images (same as --precisions int8)")
@click.option("--precisions", help="comma-separated: fp32, fp16, dynamic, int8 (fp16 and dynamic are TFLite "
              "only); the fp32 ONNX is always written")
@click.option("--checkpoint", type=click.Path(), help="checkpoint from `edgebench train` (zoo models)")
@click.option("--data", help="dataset for calibration and evaluation (default: the checkpoint's, else the "
              "embedded digits)")
@click.option("--out", type=click.Path(file_okay=False), help="bundle folder (default: bundles/MODEL)")
@click.option("--force", is_flag=True, help="replace an existing bundle")
@click.option("--format", "formats", help="comma-separated: onnx, tflite (default: both when the TFLite "
              "converter is installed)")
@click.option("--tflite-layout", type=click.Choice(["NHWC", "NCHW"], case_sensitive=False), default="NHWC",
              show_default=True, help="TFLite input layout (NHWC is TFLite's native one)")
@click.option("--calibration-size", type=int, default=256, show_default=True)
@click.option("--calibration-method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax",
              show_default=True)
@click.option("--int8-config", default="auto", show_default=True,
              help="auto (best measured of u8s8-rr, u8s8) or a list of u8s8-rr, u8s8, s8s8")
@click.option("--min-int8-agreement", type=float, default=0.9, show_default=True,
              help="fail when int8 top-1 agreement with the original falls below this")
@click.option("--eval-size", type=int, default=500, show_default=True, help="labelled images bundled for the agent")
@click.option("--input-size", type=int, help="square input size (ONNX / Python models without one)")
@click.option("--channels", type=click.Choice(["1", "3"]), help="input channels (ONNX / Python models)")
@click.option("--mean", help="per-channel mean in [0,1] units, e.g. 0.49,0.48,0.45 (default: fitted on the data)")
@click.option("--std", help="per-channel std in [0,1] units (default: fitted on the data)")
def command(model, int8, precisions, checkpoint, data, out, force, formats, tflite_layout, calibration_size, calibration_method, int8_config,
            min_int8_agreement, eval_size, input_size, channels, mean, std) -> None:
    """Export MODEL (zoo name, path to an .onnx file, or package.module:function) to a verified bundle."""
    from edgebench.export.pipeline import export_bundle
    from edgebench.export.spec import (ExportSpec, Format, Layout, Precision, QuantSpec, default_formats, parse_enum,
                                       resolve_configs)

    if precisions:
        chosen = tuple(parse_enum(Precision, p.strip()) for p in precisions.split(",") if p.strip())
        chosen += (Precision.INT8,) if int8 and Precision.INT8 not in chosen else ()
    else:
        chosen = (Precision.INT8,) if int8 else (Precision.FP32,)
    spec = ExportSpec(
        precisions=chosen,
        formats=tuple(parse_enum(Format, f.strip()) for f in formats.split(",") if f.strip()) if formats
        else default_formats(),
        layout=Layout(tflite_layout.upper()),
        quant=QuantSpec(calibration_size=calibration_size, method=calibration_method,
                        configs=resolve_configs(int8_config)),
        eval_size=eval_size, min_int8_agreement=min_int8_agreement,
    )
    name = Path(model).stem if model.endswith(".onnx") else model.split(":")[-1]
    export_bundle(model, Path(out or f"bundles/{name}"), spec, checkpoint=checkpoint, data=data,
                  input_size=input_size, channels=int(channels) if channels else None, mean=_floats(mean),
                  std=_floats(std), overwrite=force, log=click.echo)
