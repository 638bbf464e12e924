"""`edgebench diagnose`: the first ONNX node (and torch layer) where an artifact departs from its fp32 model."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgebench.api.diagnose import recorded_divergence as _recorded_divergence  # noqa: F401 (its tests)
from edgebench.api.diagnose import recorded_line as _recorded_line  # noqa: F401
from edgebench.cli.options import FINITE_FLOAT, POSITIVE_FLOAT, POSITIVE_INT, comma_list
from edgebench.api import diagnose
from edgebench.fileio import write_json

DIVERGED_EXIT = 3


@click.command("diagnose")
@click.argument("paths", nargs=-1, required=True, metavar="BUNDLE | MODEL.onnx ARTIFACT")
@click.option("--artifact", "artifacts", multiple=True, metavar="NAME",
              help="bundle artifact to diagnose, e.g. tflite-int8 (repeatable; default: every one)")
@click.option("--images", type=POSITIVE_INT, default=4, show_default=True, help="images to compare on")
@click.option("--tolerance", type=POSITIVE_FLOAT,
              help="relative to each reference tensor's max |value| (default by precision: fp32 1e-3, fp16 2e-2, "
                   "dynamic 0.05, int8 0.1)")
@click.option("--data", help="images for MODEL.onnx ARTIFACT: any dataset edgebench reads, a bundle's eval.npz "
                             "included (default: the embedded digits)")
@click.option("--layout", type=click.Choice(["NHWC", "NCHW"], case_sensitive=False),
              help="ARTIFACT's input layout (default: read from the .tflite input shape; .onnx is NCHW)")
@click.option("--mean", type=comma_list(FINITE_FLOAT), help="per-channel mean in [0,1] units (default: fitted on "
                                                            "the images)")
@click.option("--std", type=comma_list(POSITIVE_FLOAT), help="per-channel std in [0,1] units (default: fitted)")
@click.option("--input-size", type=POSITIVE_INT, help="square input size, for a model whose height and width are "
                                                      "dynamic")
@click.option("--json", "json_out", metavar="FILE", help="also write the findings as JSON ('-' for stdout)")
def command(paths, artifacts, images, tolerance, data, layout, mean, std, input_size, json_out) -> None:
    """Compare intermediate tensors of exported artifacts with their fp32 ONNX model, offline.

    BUNDLE: every artifact of a bundle written by `edgebench export`, on its own eval images. MODEL.onnx
    ARTIFACT: one .tflite or .onnx file against MODEL.onnx. Exit 0 when every artifact agrees, 3 when one
    departs, 1 for unusable input."""

    found = diagnose(list(paths), artifacts=artifacts, images=images, tolerance=tolerance, data=data, layout=layout,
                     mean=mean, std=std, input_size=input_size)
    lines_to_stderr = json_out == "-"  # stdout then carries the JSON alone
    for finding in found.findings:
        click.echo(f"{finding.name}: {finding.text}", err=lines_to_stderr)
    if json_out == "-":
        click.echo(json.dumps(found.to_dict(), indent=2))
    elif json_out:

        write_json(Path(json_out), found.to_dict())
    if found.diverged:
        raise click.exceptions.Exit(DIVERGED_EXIT)
