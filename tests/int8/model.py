"""The int8 test model: a 20-conv plain CNN for Fashion-MNIST (28x28 grey) with outlier activation channels.

How to use it:
    from tests.int8.model import outlier_cnn, plain_cnn, fp32_onnx, DATASET
    module = outlier_cnn()                      # trained torch module, eval mode, input [N, 1, 28, 28]
    path = fp32_onnx(tmp / "outlier.onnx")      # the same model as a self-contained fp32 ONNX (dynamic batch)
    # edgebench export <path> --data <DATASET> --int8 --max-drop 1
    # (or `edgebench export tests.int8.model:outlier_cnn --data <DATASET> --channels 1 --input-size 28 ...`)
The weights (`outlier_cnn.pt`, 0.5 MB) were trained by `python -m tests.int8.train` (about 3 minutes on one
core); the model is built from them without the data set. Input normalisation: the mean and std edgebench fits
on Fashion-MNIST's training images (stored beside the weights), so `edgebench export` feeds it what it saw.

Why full int8 hurts it: networks trained without batch normalisation end up with a few activation channels whose
range is far larger than the others' (Nagel et al., "Data-Free Quantization", 2019: per-channel ranges that
differ by 100x). `outlier_cnn` reproduces that exactly and without changing a single fp32 output: after training
(with BN, folded away), OUTLIER_FACTOR is moved between layer OUTLIER_LAYER and the next one for OUTLIER_CHANNELS
of its output channels (ReLU is positively homogeneous, so conv_k * a -> relu -> conv_k+1 / a is the same
function). In fp32 nothing changes (outputs equal to about 1e-5); int8's per-tensor activation scale for that
tensor is now set by the two outlier channels and the other 30 lose almost all their resolution. `plain_cnn` is
the same network without the rescaling: full int8 stays within a point of fp32.

Measured with ONNX Runtime (500 test images, fp32 87.4 %): full int8 loses 14 pp at best (percentile
calibration, per-channel; minmax 21-25 pp, per-tensor weights about 80 pp), int8 weights alone lose 0 pp, and
keeping the two layers around the outlier tensor in float (2 of 21 quantizable layers) brings it back to 0 pp.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

WEIGHTS = Path(__file__).with_name("outlier_cnn.pt")
DATASET = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "fashion-mnist"
INPUT_SHAPE = (1, 1, 28, 28)
# (output channels, convolutions) per stage; a 2x2 max pool between stages: 20 convolutions + 1 linear layer
STAGES: Tuple[Tuple[int, int], ...] = ((16, 6), (32, 7), (32, 7))
NUM_CLASSES = 10
OUTLIER_LAYER = 9  # conv index (0-based) whose output gets the outlier channels, in the middle stage
OUTLIER_CHANNELS = (3, 17)
OUTLIER_FACTOR = 200.0


def conv_shapes() -> List[Tuple[int, int]]:
    """(in, out) channels of each convolution, in order."""
    shapes, channels = [], INPUT_SHAPE[1]
    for width, count in STAGES:
        for _ in range(count):
            shapes.append((channels, width))
            channels = width
    return shapes


def build_chain(batch_norm: bool = False):
    """The network as a plain torch.nn.Sequential (conv [bn] relu ... pool ... global average pool, linear)."""
    import torch.nn as nn

    layers, shapes, index = [], conv_shapes(), 0
    for stage, (_, count) in enumerate(STAGES):
        if stage:
            layers.append(nn.MaxPool2d(2))
        for _ in range(count):
            c_in, c_out = shapes[index]
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU())
            index += 1
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(STAGES[-1][0], NUM_CLASSES)]
    return nn.Sequential(*layers)


def convolutions(module) -> list:
    import torch.nn as nn

    return [layer for layer in module if isinstance(layer, nn.Conv2d)]


def add_outlier_channels(module, layer: int = OUTLIER_LAYER, channels=OUTLIER_CHANNELS,
                         factor: float = OUTLIER_FACTOR):
    """Move `factor` from conv `layer+1`'s inputs to conv `layer`'s outputs for `channels`: the same function."""
    import torch

    convs = convolutions(module)
    with torch.no_grad():
        for channel in channels:
            convs[layer].weight[channel] *= factor
            convs[layer].bias[channel] *= factor
            convs[layer + 1].weight[:, channel] /= factor
    return module


def _load():
    import torch

    stored = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    module = build_chain()
    module.load_state_dict(stored["state_dict"])
    return module.eval()


def normalisation() -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """The (mean, std) the weights were trained with, in [0, 1] units."""
    import torch

    stored = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    return tuple(stored["mean"]), tuple(stored["std"])


def outlier_cnn(factor: float = OUTLIER_FACTOR):
    """The trained network with two outlier activation channels after conv OUTLIER_LAYER (full int8 loses >3 pp).
    A larger `factor` also crushes the next layer's int8 weights for those channels (weights-only int8 loses)."""
    return add_outlier_channels(_load(), factor=factor)


def plain_cnn():
    """The trained network as trained (full int8 stays within about a point of fp32)."""
    return _load()


def fp32_onnx(path: Path, outliers: bool = True, factor: float = OUTLIER_FACTOR) -> Path:
    """Export the trained model to a self-contained fp32 ONNX file (input [N, 1, 28, 28], dynamic batch)."""
    from edgebench.export.onnx_float import export_onnx

    path = Path(path)
    export_onnx(outlier_cnn(factor) if outliers else plain_cnn(), INPUT_SHAPE, path)
    return path
