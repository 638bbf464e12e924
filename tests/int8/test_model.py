"""The int8 test model itself: the outlier rescaling changes no fp32 output, and the weights stay small."""

from __future__ import annotations

import numpy as np

from tests.int8.model import (INPUT_SHAPE, OUTLIER_CHANNELS, OUTLIER_FACTOR, OUTLIER_LAYER, WEIGHTS, convolutions,
                              outlier_cnn, plain_cnn)


def test_outlier_channels_keep_every_fp32_output():
    import torch

    images = torch.from_numpy(np.random.default_rng(0).normal(size=(16, *INPUT_SHAPE[1:])).astype(np.float32))
    with torch.no_grad():
        plain, outlier = plain_cnn()(images), outlier_cnn()(images)
    assert plain.shape == (16, 10)
    assert torch.allclose(plain, outlier, atol=1e-4 * float(plain.abs().max()))


def test_outlier_channels_are_the_given_factor_larger():
    import torch

    images = torch.from_numpy(np.random.default_rng(1).normal(size=(8, *INPUT_SHAPE[1:])).astype(np.float32))
    captured = {}
    for name, module in (("plain", plain_cnn()), ("outlier", outlier_cnn())):
        layer = convolutions(module)[OUTLIER_LAYER]
        layer.register_forward_hook(lambda _m, _i, out, name=name: captured.__setitem__(name, out.detach()))
        with torch.no_grad():
            module(images)
    ratio = captured["outlier"].abs().amax(dim=(0, 2, 3)) / captured["plain"].abs().amax(dim=(0, 2, 3))
    assert torch.allclose(ratio[list(OUTLIER_CHANNELS)], torch.full((2,), OUTLIER_FACTOR), rtol=1e-4)
    others = [c for c in range(len(ratio)) if c not in OUTLIER_CHANNELS]
    assert torch.allclose(ratio[others], torch.ones(len(others)), rtol=1e-5)


def test_twenty_convolutions_and_small_weights():
    assert len(convolutions(plain_cnn())) == 20
    assert WEIGHTS.stat().st_size < 1 << 20
