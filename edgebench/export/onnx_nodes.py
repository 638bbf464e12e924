"""Reading ONNX nodes: what the input handling and the graph fixes both need."""

from __future__ import annotations


def attribute(node, name: str, default):
    """A node attribute's value, or `default` when the node does not set it."""
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default
