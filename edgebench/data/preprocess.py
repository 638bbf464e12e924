"""Resize and normalisation, recorded so the device side reproduces them exactly.

Host side: images are resized once (PIL bilinear) to the model's input size and kept as uint8.
Device side: `(x / 255 - mean) / std` in float32, then the artifact's layout. It is written once, in
`device_agent.bundle.prepare_inputs`, the contract's device end, which the host calls too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Tuple

import numpy as np

from device_agent.bundle import prepare_inputs
from edgebench.data.imageset import ImageSet
from edgebench.data.validate import check_fits
from edgebench.errors import EdgebenchError


@dataclass(frozen=True, kw_only=True)
class Preprocess:
    input_size: Tuple[int, int]  # (height, width)
    channels: int
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    resize: str = "bilinear"
    scale: float = 255.0

    def as_dict(self) -> dict:
        out = asdict(self)
        out["input_size"] = list(self.input_size)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "Preprocess":
        return cls(input_size=tuple(data["input_size"]), channels=int(data["channels"]), mean=tuple(data["mean"]),
                   std=tuple(data["std"]), resize=data.get("resize", "bilinear"), scale=float(data.get("scale", 255.0)))


def resize_images(imageset: ImageSet, size: Tuple[int, int], channels: int) -> ImageSet:
    """Resize to (height, width) and convert to the wanted channel count; stays uint8 NHWC."""
    if channels not in (1, 3):
        raise EdgebenchError(f"input channels {channels} is not supported: choose 1 or 3")
    images = imageset.images
    height, width = size
    # the resized images and, while they are stacked, their list: twice the uint8 array
    check_fits(f"the images resized to {height}x{width}", len(images), (height, width, channels), 2,
               "choose a smaller --input-size")
    if images.shape[-1] != channels:
        images = np.repeat(images, 3, axis=-1) if channels == 3 else _to_grey(images)
    if images.shape[1:3] != tuple(size):
        from PIL import Image  # Pillow: optional, loaded only when an image file is read

        height, width = size
        mode_squeeze = images.shape[-1] == 1
        resized = []
        for image in images:
            pil = Image.fromarray(image[..., 0] if mode_squeeze else image)
            resized.append(np.asarray(pil.resize((width, height), Image.BILINEAR), dtype=np.uint8))
        images = np.stack(resized)
        if mode_squeeze:
            images = images[..., None]
    return replace(imageset, images=np.ascontiguousarray(images))


def _to_grey(images: np.ndarray) -> np.ndarray:
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601-2 luma, as PIL's "L"
    return np.clip(np.round(images.astype(np.float32) @ weights), 0, 255).astype(np.uint8)[..., None]


def fit_normalisation(imageset: ImageSet, scale: float = 255.0) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """Per-channel mean and std of the (already resized) training images, in [0, 1] units."""
    pixels = imageset.images.reshape(-1, imageset.images.shape[-1]).astype(np.float64) / scale
    mean = pixels.mean(axis=0)
    std = np.maximum(pixels.std(axis=0), 1e-3)
    return tuple(round(float(m), 6) for m in mean), tuple(round(float(s), 6) for s in std)


def normalise(images: np.ndarray, preprocess: Preprocess) -> np.ndarray:
    """uint8 NHWC -> float32 NCHW, the torch and ONNX input: the agent's own formula, so host checks and device
    runs feed every artifact the same numbers."""
    # float32 inputs and the float32 intermediate the agent's formula makes
    check_fits("the normalised float32 inputs", len(images), images.shape[1:], 8,
               "choose a smaller --input-size, or fewer images (--eval-size, --calibration-size)")
    return prepare_inputs(images, preprocess.as_dict(), "NCHW")
