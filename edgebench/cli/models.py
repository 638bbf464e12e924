from __future__ import annotations

import json

import click


@click.command("models")
@click.option("--classes", default=10, show_default=True, help="number of classes to count parameters for")
@click.option("--family", help="only this family (resnet, vgg, test)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def command(classes: int, family: str, as_json: bool) -> None:
    """List the model zoo with parameters, MACs and FLOPs at each model's input size."""
    from edgebench.models import create_model, model_entry, model_names
    from edgebench.models.stats import model_stats

    rows = []
    for name in model_names():
        entry = model_entry(name)
        if family and entry.family != family:
            continue
        stats = model_stats(create_model(name, num_classes=classes), (1, 3, entry.input_size, entry.input_size))
        rows.append({"name": name, "family": entry.family, "input": f"{entry.input_size}x{entry.input_size}x3",
                     **stats.as_dict(), "description": entry.description})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'model':<14}{'input':>10}{'params':>14}{'MMACs':>11}{'MFLOPs':>11}  description")
    for row in rows:
        click.echo(f"{row['name']:<14}{row['input']:>10}{row['params']:>14,}{row['macs'] / 1e6:>11.2f}"
                   f"{row['flops'] / 1e6:>11.2f}  {row['description']}")
    click.echo(f"\n{len(rows)} models; parameters for {classes} classes; FLOPs count one multiply-add as one and "
               "include BatchNorm (fvcore)")
