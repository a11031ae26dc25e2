"""Input checks and conversions shared by the metrics: every metric takes uint8 HxW or HxWx3 arrays."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np

from base_codecs.core import CodecError, DiracError, ImageLike, as_uint8_array
from dirac.checks import check_device, default_device, whole

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


def at_least(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (numpy integers count; bools, floats and strings do not)."""
    try:
        number = whole(name, value)
    except DiracError:
        number = None
    if number is None or number < minimum:
        raise MetricError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return number


def need_side(image: np.ndarray, minimum: int, what: str) -> None:
    """Networks and pyramids shrink an image below one pixel if either side is under ``minimum``."""
    if min(image.shape[:2]) < minimum:
        raise MetricError(f"{what} needs both sides >= {minimum} px, got {image.shape[1]}x{image.shape[0]}")


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Grey replicated to three channels, for networks trained on RGB."""
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image


def device_or_default(device: Optional[str]) -> str:
    """The device a network metric runs on: the one asked for once torch can use it here, else
    :func:`dirac.checks.default_device`. Checked with a one-element tensor, so a bad name fails before a model is built."""
    if device is None:
        return default_device()
    return check_device(device, error=MetricError)


def to_tensor(image: np.ndarray, device: str) -> torch.Tensor:
    """uint8 image -> 1x3xHxW float tensor in [0, 1] (grey replicated), on ``device``."""
    from dirac.core.pixels import pixels_to_tensor

    return pixels_to_tensor(as_rgb(image), device)
