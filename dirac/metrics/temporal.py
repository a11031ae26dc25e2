"""Temporal consistency of enhanced video: does the enhancement add flicker?

``flicker`` compares frame-to-frame changes of the enhanced video with those of the original
(mean absolute difference of the temporal gradients, 8-bit levels): a static scene whose
synthesised texture is re-drawn every frame scores high even when each frame looks good.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._images import MetricError, as_image


def _stack(frames: Sequence[np.ndarray], name: str) -> np.ndarray:
    """The frames as one array, once each is a uint8 image and all share one shape."""
    images = [as_image(f) for f in frames]
    shapes = sorted({f.shape for f in images})
    if len(shapes) > 1:
        raise MetricError(f"{name} frames differ in shape: {', '.join(map(str, shapes))}")
    return np.stack(images).astype(np.float64)


def flicker(original: Sequence[np.ndarray], enhanced: Sequence[np.ndarray]) -> float:
    """Mean |(e[t+1] - e[t]) - (o[t+1] - o[t])| over pixels and frame pairs; 0 = no added flicker."""
    if not all(isinstance(s, Sequence) or (isinstance(s, np.ndarray) and s.ndim) for s in (original, enhanced)):
        raise MetricError(f"expected two sequences of frames, got {type(original).__name__} and {type(enhanced).__name__}")
    if len(original) != len(enhanced) or len(original) < 2:
        raise MetricError(f"need two equally long frame sequences of at least 2 frames, got {len(original)} and {len(enhanced)}")
    o, e = _stack(original, "original"), _stack(enhanced, "enhanced")
    if o.shape != e.shape:
        raise MetricError(f"original and enhanced frames differ in shape: {o.shape[1:]} vs {e.shape[1:]}")
    return float(np.mean(np.abs(np.diff(e, axis=0) - np.diff(o, axis=0))))
