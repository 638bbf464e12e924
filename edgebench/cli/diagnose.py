"""`edgebench diagnose`: the first ONNX node (and torch layer) where an artifact departs from its fp32 model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence, Tuple

import click

from edgebench.cli.options import FINITE_FLOAT, POSITIVE_FLOAT, POSITIVE_INT, comma_list
from edgebench.errors import EdgebenchError, UnknownNameError

DIVERGED_EXIT = 3
REFERENCE_FILE = "model.fp32.onnx"


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
    from edgebench.export.diagnose import diagnose_many

    recorded = []
    if len(paths) == 1:
        if data or layout or mean or std or input_size:
            raise EdgebenchError("--data, --layout, --mean, --std and --input-size are for MODEL.onnx ARTIFACT: a "
                                 "bundle carries its own images, layouts and normalisation")
        reference, jobs, inputs, recorded = _bundle_jobs(Path(paths[0]), artifacts, images)
    elif len(paths) == 2:
        if artifacts:
            raise EdgebenchError("--artifact picks from a bundle: with MODEL.onnx ARTIFACT the artifact is the "
                                 "second path")
        reference, jobs, inputs = _file_job(Path(paths[0]), Path(paths[1]), data, layout, mean, std, images,
                                            input_size)
    else:
        raise EdgebenchError(f"expected a bundle folder or MODEL.onnx ARTIFACT, got {len(paths)} paths")
    diagnoses = diagnose_many(reference, [(path, artifact_layout) for _, path, artifact_layout in jobs], inputs,
                              tolerance=tolerance, max_images=images) if jobs else []
    lines_to_stderr = json_out == "-"  # stdout then carries the JSON alone
    findings = []
    for (name, _, _), diagnosis in zip(jobs, diagnoses):
        click.echo(f"{name}: {diagnosis.describe()}", err=lines_to_stderr)
        findings.append({"name": name, **diagnosis.as_dict()})
    for entry in recorded:
        click.echo(f"{entry['name']}: {_recorded_line(entry)}", err=lines_to_stderr)
        findings.append({"name": entry["name"], "rejected": entry.get("reason"),
                         "divergence": _recorded_divergence(entry)})
    if json_out:
        _write_json(json_out, {"reference": str(reference), "artifacts": findings})
    if any(finding["divergence"] for finding in findings):
        raise click.exceptions.Exit(DIVERGED_EXIT)


def _recorded_divergence(entry: dict):
    divergence = entry.get("divergence")
    return divergence if isinstance(divergence, dict) and "node" in divergence else None


def _recorded_line(entry: dict) -> str:
    """A rejected artifact is not in the bundle: say what the export recorded about it."""
    from edgebench.export.diagnose import Divergence

    line = f"rejected at export ({entry.get('reason', 'no reason recorded')}), so not in the bundle"
    divergence = _recorded_divergence(entry)
    if divergence is not None:
        line += f"; first divergence: {Divergence.from_dict(divergence).describe()}"
    return line


def _bundle_jobs(bundle: Path, wanted: Sequence[str], count: int):
    from edgebench.data import Preprocess, normalise
    from edgebench.export.manifest import read_manifest

    if not bundle.is_dir():
        kind = "an .onnx file: give the artifact to compare with it too" if bundle.suffix == ".onnx" else \
            "not a folder"
        raise EdgebenchError(f"{bundle} is {kind} (a bundle is the folder `edgebench export` writes)" if
                             bundle.exists() else f"{bundle} does not exist: give a bundle folder")
    manifest = read_manifest(bundle)
    entries = {entry["name"]: entry for entry in manifest["artifacts"]}
    reference = next((bundle / entry["file"] for entry in entries.values()
                      if entry["format"] == "onnx" and entry["precision"] == "fp32"), bundle / REFERENCE_FILE)
    if not reference.is_file():
        raise EdgebenchError(f"{bundle} has no fp32 ONNX model ({reference.name}) to compare with")
    rejected = {entry["name"]: entry for entry in manifest.get("rejected") or ()}
    candidates = [name for name, entry in entries.items() if bundle / entry["file"] != reference]
    for name in wanted:
        if name not in candidates and name not in rejected:
            raise UnknownNameError("artifact", name, [*candidates, *rejected])
    chosen = [name for name in wanted if name in entries] if wanted else candidates
    recorded = [rejected[name] for name in (wanted or rejected) if name in rejected]
    if not chosen and not recorded:
        raise EdgebenchError(f"{bundle} holds only its fp32 ONNX model: there is nothing to diagnose")
    jobs = []
    for name in chosen:
        path = bundle / entries[name]["file"]
        if not path.is_file():
            raise EdgebenchError(f"{bundle} lists {name} but its file {path.name} is missing")
        jobs.append((name, path, entries[name]["input"]["layout"]))
    images = _eval_images(bundle / manifest["eval"]["file"], count)
    return reference, jobs, normalise(images, Preprocess.from_dict(manifest["preprocess"])), recorded


def _eval_images(path: Path, count: int):
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            return np.asarray(archive["images"][:count])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise EdgebenchError(f"{path} does not hold the bundle's eval images: {exc}") from None


def _file_job(model: Path, artifact: Path, data: Optional[str], layout: Optional[str],
              mean: Optional[Tuple[float, ...]], std: Optional[Tuple[float, ...]], count: int,
              input_size: Optional[int]):
    from edgebench.data import Preprocess, fit_normalisation, limit, load_split, normalise, resize_images
    from edgebench.export.diagnose.onnx_tensors import read_graph

    if model.suffix != ".onnx":
        raise EdgebenchError(f"{model.name}: the reference must be an .onnx file (or give a bundle folder alone)")
    for path in (model, artifact):
        if not path.is_file():
            raise EdgebenchError(f"{path} does not exist")
    shape = read_graph(model).input_shape
    if len(shape) != 4 or shape[1] not in (1, 3):
        raise EdgebenchError(f"{model.name} takes input shape {list(shape)}: diagnose needs an NCHW image input "
                             "with 1 or 3 channels")
    channels, height, width = shape[1:]
    if height < 1 or width < 1:
        if input_size is None:
            raise EdgebenchError(f"{model.name} has a dynamic height and width: pass --input-size, e.g. 32")
        height = width = input_size
    for name, values in (("--mean", mean), ("--std", std)):
        if values is not None and len(values) != channels:
            raise EdgebenchError(f"{name} needs {channels} values (one per input channel), got {len(values)}")
    imageset = resize_images(limit(load_split(data, "test"), count), (height, width), channels)
    if mean is None or std is None:
        fitted_mean, fitted_std = fit_normalisation(imageset)
        mean, std = mean or fitted_mean, std or fitted_std
    preprocess = Preprocess(input_size=(height, width), channels=channels, mean=tuple(mean), std=tuple(std))
    inputs = normalise(imageset.images, preprocess)
    chosen = layout.upper() if layout else _detected_layout(artifact, channels, height, width)
    return model, [(artifact.name, artifact, chosen)], inputs


def _detected_layout(artifact: Path, channels: int, height: int, width: int) -> str:
    """An .onnx artifact is NCHW; a .tflite one is NHWC unless its input is [1, C, H, W] (and not also NHWC)."""
    if artifact.suffix != ".tflite":
        return "NCHW"
    from edgebench.export.diagnose.tflite_tensors import input_shape

    shape = input_shape(artifact)
    return "NCHW" if shape[1:] == [channels, height, width] and shape[1:] != [height, width, channels] else "NHWC"


def _write_json(target: str, document: dict) -> None:
    if target == "-":
        click.echo(json.dumps(document, indent=2))
        return
    from edgebench.fileio import write_json

    write_json(Path(target), document)

