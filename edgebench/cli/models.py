from __future__ import annotations

import json

import click
from edgebench.api import models


@click.command("models")
@click.option("--classes", type=click.IntRange(min=2), help="count parameters for this many classes "
              "[default: the study's count for its variants (10 ResNet, 100 VGG), else 10]")
@click.option("--family", help="only this family (resnet, vgg, resnet101, vgg19, test)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def command(classes, family: str, as_json: bool) -> None:
    """List the model zoo and the study's variants with techniques, parameters, MACs and FLOPs."""

    rows = [info.to_dict() for info in models(family=family, classes=classes)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'model':<16}{'classes':>8}{'params':>13}{'MFLOPs':>10}  techniques / description")
    for row in rows:
        chain = " > ".join(row["techniques"]) if row["techniques"] else "-"
        click.echo(f"{row['name']:<16}{row['classes']:>8}{row['params']:>13,}{row['flops'] / 1e6:>10.2f}  "
                   f"{chain if row['family'] in ('resnet101', 'vgg19') or row['techniques'] else row['description']}")
    click.echo(f"\n{len(rows)} models at 32x32x3; FLOPs count one multiply-add as one and include BatchNorm "
               "(fvcore, the study's convention). Variant files: models/*/ and $EDGEBENCH_MODELS.")
