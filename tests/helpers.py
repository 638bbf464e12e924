"""Small models and graphs the tests export as a user would (Python references and hand-made ONNX)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def shuffle_net():
    """A grouped 1x1 convolution (groups 4) and a channel shuffle at a 4x4 feature map after a residual Add:
    the layout trap onnx2tf falls into as shipped (the study's variant 13 has this block)."""
    import torch
    from torch import nn

    class ChannelShuffle(nn.Module):
        def __init__(self, groups: int):
            super().__init__()
            self.groups = groups

        def forward(self, x):
            n, c, h, w = x.shape
            return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)

    class ShuffleNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 88, 3, stride=8, padding=1), nn.BatchNorm2d(88), nn.ReLU())
            self.residual = nn.Sequential(nn.Conv2d(88, 88, 3, padding=1, groups=88), nn.BatchNorm2d(88))
            self.grouped = nn.Sequential(nn.Conv2d(88, 256, 1, groups=4), nn.BatchNorm2d(256), nn.ReLU(),
                                         ChannelShuffle(4))
            self.fc = nn.Linear(256, 10)

        def forward(self, x):
            x = self.stem(x)
            x = x + self.residual(x)
            return self.fc(self.grouped(x).mean((2, 3)))

    torch.manual_seed(0)
    return ShuffleNet().eval()


def castlike_onnx(path: Path) -> Path:
    """A valid ONNX classifier that ONNX Runtime runs but onnx2tf cannot convert (it has no CastLike)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.random.default_rng(0).normal(size=(10, 3, 3, 3)).astype(np.float32), "w")
    like = numpy_helper.from_array(np.zeros((1,), np.float16), "like")
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("CastLike", ["f", "like"], ["h"]),
             helper.make_node("Cast", ["h"], ["logits"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(nodes, "castlike",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], [weight, like])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def static_batch_onnx(path: Path) -> Path:
    """test_vgg exported with a fixed batch of 1 and 3 channels: the input shape onnx2tf downloads sample
    images for unless edgebench has put them in place."""
    import torch

    from edgebench.export.onnx_float import strip_debug_info
    from edgebench.models import create_model

    torch.manual_seed(0)
    model = create_model("test_vgg").eval()
    torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(path), dynamo=True, opset_version=18,
                      external_data=False, input_names=["input"], output_names=["logits"])
    strip_debug_info(path)
    return path
