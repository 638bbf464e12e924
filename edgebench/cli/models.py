from __future__ import annotations

import json
import re

import click


def _order(name: str):
    """Natural order: resnet101-v2 before resnet101-v10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@click.command("models")
@click.option("--classes", type=click.IntRange(min=2), help="count parameters for this many classes "
              "[default: the study's count for its variants (10 ResNet, 100 VGG), else 10]")
@click.option("--family", help="only this family (resnet, vgg, resnet101, vgg19, test)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def command(classes, family: str, as_json: bool) -> None:
    """List the model zoo and the study's variants with techniques, parameters, MACs and FLOPs."""
    from edgebench.errors import EdgebenchError
    from edgebench.models import create_model, model_entry, model_names
    from edgebench.models.stats import model_stats

    names = sorted(model_names(), key=_order)
    families = sorted({model_entry(name).family for name in names})
    if family and family not in families:
        raise EdgebenchError(f"unknown family '{family}': valid families are {', '.join(families)}")
    rows = []
    for name in names:
        entry = model_entry(name)
        if family and entry.family != family:
            continue
        count = classes or (entry.variant.study_classes if entry.variant is not None else 10)
        stats = model_stats(create_model(name, num_classes=count), (1, 3, entry.input_size, entry.input_size))
        rows.append({"name": name, "family": entry.family, "input": f"{entry.input_size}x{entry.input_size}x3",
                     "classes": count, **stats.as_dict(), "techniques": list(entry.techniques),
                     "description": entry.description,
                     "source": entry.variant.source if entry.variant is not None else "built-in"})
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
