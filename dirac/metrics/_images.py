"""Input checks and conversions shared by the metrics: every metric takes uint8 HxW or HxWx3 arrays."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np

from base_codecs.core import CodecError, DiracError, ImageLike, as_uint8_array

if TYPE_CHECKING:
    import torch


class MetricError(DiracError):
    """A metric got inputs it cannot measure (wrong type, shape mismatch, too small)."""


def as_image(image: ImageLike) -> np.ndarray:
    """``image`` as a uint8 HxW or HxWx3 array; PIL images are accepted too."""
    try:
        return as_uint8_array(image)
    except CodecError as exc:
        raise MetricError(str(exc)) from None


def as_pair(a: ImageLike, b: ImageLike) -> Tuple[np.ndarray, np.ndarray]:
    """Two images of identical shape, for full-reference metrics."""
    a, b = as_image(a), as_image(b)
    if a.shape != b.shape:
        raise MetricError(f"images differ in shape: {a.shape} vs {b.shape}")
    return a, b


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Grey replicated to three channels, for networks trained on RGB."""
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image


def device_or_default(device: Optional[str]) -> str:
    """The device a network metric runs on: the one asked for, else CUDA when present, else CPU."""
    if device is not None:
        return str(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def to_tensor(image: np.ndarray, device: str) -> torch.Tensor:
    """uint8 image -> 1x3xHxW float tensor in [0, 1] (grey replicated), on ``device``."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(as_rgb(image).transpose(2, 0, 1)))
    return (t.to(device=device, dtype=torch.float32) / 255.0)[None]
