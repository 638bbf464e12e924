from __future__ import annotations

import click

from edgebench.cli.options import (FRACTION, INPUT_SIZE, NON_NEGATIVE_FLOAT, POSITIVE_FLOAT, POSITIVE_INT, comma_list,
                                   data_option, force_option, max_drop_option, out_option, quiet_option, reporter,
                                   seed_option)
from edgebench.export.spec import CALIBRATION_METHODS, Layout
from edgebench.api import export

UNIT_FLOATS = comma_list(FRACTION)


@click.command("export")
@click.argument("model")
@click.option("--int8", is_flag=True, help="int8 artifacts: static int8 ONNX and full-integer TFLite, calibrated on "
              "real images (same as --precisions int8)")
@click.option("--precisions", help="comma-separated: fp32, fp16, dynamic, int8 (fp16 and dynamic are TFLite "
              "only); the fp32 ONNX is always written")
@click.option("--checkpoint", type=click.Path(), help="checkpoint from `edgebench train` (zoo models)")
@data_option("dataset for calibration and evaluation (default: the checkpoint's, else the embedded digits)")
@out_option("bundle folder (default: bundles/MODEL)")
@force_option("replace an existing bundle (only a folder edgebench wrote)")
@click.option("--format", "formats", help="comma-separated: onnx, tflite (default: both when the TFLite "
              "converter is installed)")
@click.option("--tflite-layout", type=click.Choice([m.value for m in Layout], case_sensitive=False),
              default=Layout.NHWC.value, show_default=True, help="TFLite input layout (NHWC is TFLite's native one)")
@click.option("--calibration-size", type=POSITIVE_INT, default=256, show_default=True)
@click.option("--calibration-method", type=click.Choice(CALIBRATION_METHODS), default="minmax", show_default=True)
@click.option("--int8-config", default="auto", show_default=True,
              help="auto (best measured of u8s8-rr, u8s8) or a list of u8s8-rr, u8s8, s8s8")
@click.option("--fp32-tolerance", type=POSITIVE_FLOAT, default=1e-3, show_default=True,
              help="fp32 artifacts: max |diff| / max |reference output| must stay within this")
@click.option("--fp16-tolerance", type=POSITIVE_FLOAT, default=2e-2, show_default=True,
              help="fp16 artifacts: the same bound, looser for 11-bit weights")
@click.option("--min-float-agreement", type=FRACTION, default=0.99, show_default=True,
              help="fp32/fp16 artifacts: top-1 agreement with the reference must reach this")
@click.option("--min-int8-agreement", type=FRACTION, default=0.9, show_default=True,
              help="int8/dynamic artifacts of trained models: top-1 agreement must reach this")
@click.option("--max-int8-drop", type=NON_NEGATIVE_FLOAT, default=3.0, show_default=True,
              help="int8/dynamic artifacts of trained models: accuracy points they may lose on the eval set")
@max_drop_option("with --int8: the accuracy points int8 may lose on the eval set against fp32; searches "
                 "calibration, then keeps the most sensitive layers in float until within it, or refuses int8 (the "
                 "gate's int8 bound becomes this)")
@click.option("--eval-size", type=POSITIVE_INT, default=500, show_default=True,
              help="labelled images bundled for the agent")
@click.option("--input-size", type=INPUT_SIZE, help="square input size (ONNX / Python models without one)")
@click.option("--channels", type=click.Choice(["1", "3"]), help="input channels (ONNX / Python models)")
@click.option("--mean", type=UNIT_FLOATS, help="per-channel mean in [0,1] units, e.g. 0.49,0.48,0.45 "
              "(default: fitted on the data)")
@click.option("--std", type=comma_list(POSITIVE_FLOAT), help="per-channel std in [0,1] units (default: fitted on "
              "the data)")
@seed_option()
@quiet_option()
def command(model, int8, precisions, checkpoint, data, out, force, formats, tflite_layout, calibration_size,
            calibration_method, int8_config, fp32_tolerance, fp16_tolerance, min_float_agreement, min_int8_agreement,
            max_int8_drop, max_drop, eval_size, input_size, channels, mean, std, seed, quiet) -> None:
    """Export MODEL (zoo name, path to an .onnx file, or package.module:function) to a verified bundle.

    Every artifact must pass the parity gate for its precision; one that fails is left out of the bundle,
    recorded in the manifest under `rejected`, and the command exits with code 3.
    """

    asked = [name.strip() for name in str(precisions or "").lower().split(",")]
    if max_drop is not None and not int8 and "int8" not in asked:
        raise click.UsageError("--max-drop sets the int8 accuracy budget: add --int8 (or int8 to --precisions)")
    export(model, data, precisions=precisions, int8=int8, formats=formats, checkpoint=checkpoint, out=out,
           force=force, max_drop=max_drop, tflite_layout=tflite_layout, calibration_size=calibration_size,
           calibration_method=calibration_method, int8_config=int8_config, fp32_tolerance=fp32_tolerance,
           fp16_tolerance=fp16_tolerance, min_float_agreement=min_float_agreement,
           min_int8_agreement=min_int8_agreement, max_int8_drop=max_int8_drop, eval_size=eval_size,
           input_size=input_size, channels=int(channels) if channels else None, mean=mean, std=std, seed=seed,
           progress=reporter(quiet))
