"""Node names TensorFlow refuses as variable scopes -> valid ones.

onnx2tf names the weights of some layers after their ONNX node, and a SavedModel accepts only scope names
matching `^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$`. The TorchScript exporter names nodes like `/6/left/left.0/Conv`
(a leading slash), and the SavedModel write then fails. Only node names change; tensor names, which the
input and output contract use, stay as they are.
"""

from __future__ import annotations

import re
from typing import Tuple

NAME = "node_names_sanitised"
_VALID = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")


def sanitise_node_names(model) -> Tuple[object, int]:
    taken = {node.name for node in model.graph.node}
    renamed = 0
    for node in model.graph.node:
        if not node.name or _VALID.match(node.name):
            continue
        base = re.sub(r"[^A-Za-z0-9_.\\/>-]", "_", node.name).lstrip("_/\\>-") or node.op_type
        name, index = base, 1
        while name in taken:
            name, index = f"{base}_{index}", index + 1
        taken.add(name)
        node.name = name
        renamed += 1
    return model, renamed
