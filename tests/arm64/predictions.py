"""Per-image predictions of one bundle artifact, to explain an accuracy difference between two machines.

`python predictions.py BUNDLE ARTIFACT OUT.json [LIMIT]` (the current directory must hold `device_agent/`; LIMIT:
the first LIMIT bundled images, 0 or absent for all): writes
{"machine", "predicted": [class per image], "margin": [top-1 minus top-2 logit per image]}.
"""

from __future__ import annotations

import json
import os
import platform
import sys

import numpy as np

sys.path.insert(0, os.getcwd())  # run as a script, from the folder that holds device_agent/
from device_agent.backends import backend_for  # noqa: E402
from device_agent.bundle import load_bundle, load_eval, prepare_inputs, verify_file  # noqa: E402


def predictions(bundle_path: str, artifact_name: str, limit: int = 0) -> dict:
    bundle = load_bundle(bundle_path)
    (artifact,) = [a for a in bundle.artifacts if a["name"] == artifact_name]
    images, labels = load_eval(bundle, limit or None)
    inputs = prepare_inputs(images, bundle.manifest["preprocess"], artifact["input"]["layout"])
    backend = backend_for(artifact["format"])
    backend.load(verify_file(bundle, artifact), 1)
    step = backend.max_batch or 64
    logits = np.concatenate([backend.finish(backend.invoke(backend.prepare(inputs[start:start + step])))
                             for start in range(0, len(inputs), step)]).reshape(len(inputs), -1)
    backend.close()
    ordered = np.sort(logits, axis=1)
    return {"machine": platform.machine(), "labels": labels.tolist(), "predicted": logits.argmax(1).tolist(),
            "margin": (ordered[:, -1] - ordered[:, -2]).round(6).tolist()}


if __name__ == "__main__":
    bundle_arg, artifact_arg, out_arg = sys.argv[1:4]
    limit_arg = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    found = predictions(bundle_arg, artifact_arg, limit_arg)  # before the file is opened: a runtime that aborts
    with open(out_arg, "w") as handle:                       # leaves no file, never an empty one
        json.dump(found, handle)
