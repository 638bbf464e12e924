"""Saving and rebuilding channel-pruned networks with plain tensors (no pickled modules).

A structurally pruned network differs from its zoo definition only in the sizes of its Conv2d, BatchNorm2d
and Linear layers (and the group count of depthwise convolutions). The checkpoint records those; rebuilding
creates the zoo model and resizes each layer before loading the weights.
"""

from __future__ import annotations

from typing import Dict


def layer_shapes(model) -> Dict[str, Dict[str, int]]:
    from torch import nn  # torch: heavy, loaded only when this runs

    shapes = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            shapes[name] = {"in": module.in_channels, "out": module.out_channels, "groups": module.groups}
        elif isinstance(module, nn.BatchNorm2d):
            shapes[name] = {"features": module.num_features}
        elif isinstance(module, nn.Linear):
            shapes[name] = {"in": module.in_features, "out": module.out_features}
    return shapes


def resize_layers(model, shapes: Dict[str, Dict[str, int]]):
    """Give every layer the recorded size (fresh tensors; load the state dict afterwards)."""
    import torch  # torch: heavy, loaded only when this runs
    from torch import nn  # torch: heavy, loaded only when this runs

    modules = dict(model.named_modules())
    for name, shape in shapes.items():
        module = modules[name]
        if isinstance(module, nn.Conv2d):
            module.in_channels, module.out_channels, module.groups = shape["in"], shape["out"], shape["groups"]
            module.weight = nn.Parameter(torch.empty(shape["out"], shape["in"] // shape["groups"],
                                                     *module.kernel_size))
            if module.bias is not None:
                module.bias = nn.Parameter(torch.empty(shape["out"]))
        elif isinstance(module, nn.BatchNorm2d):
            features = shape["features"]
            module.num_features = features
            module.weight = nn.Parameter(torch.empty(features))
            module.bias = nn.Parameter(torch.empty(features))
            module.running_mean = torch.zeros(features)
            module.running_var = torch.ones(features)
        elif isinstance(module, nn.Linear):
            module.in_features, module.out_features = shape["in"], shape["out"]
            module.weight = nn.Parameter(torch.empty(shape["out"], shape["in"]))
            if module.bias is not None:
                module.bias = nn.Parameter(torch.empty(shape["out"]))
    return model
