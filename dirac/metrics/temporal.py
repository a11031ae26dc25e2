"""Temporal consistency of enhanced video: does the enhancement add flicker?

``flicker`` compares frame-to-frame changes of the enhanced video with those of the original
(mean absolute difference of the temporal gradients, 8-bit levels): a static scene whose
synthesised texture is re-drawn every frame scores high even when each frame looks good.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._images import MetricError


def flicker(original: Sequence[np.ndarray], enhanced: Sequence[np.ndarray]) -> float:
    """Mean |(e[t+1] - e[t]) - (o[t+1] - o[t])| over pixels and frame pairs; 0 = no added flicker."""
    if len(original) != len(enhanced) or len(original) < 2:
        raise MetricError(f"need two equally long frame sequences of at least 2 frames, got {len(original)} and {len(enhanced)}")
    if any(o.shape != e.shape for o, e in zip(original, enhanced)):
        raise MetricError("original and enhanced frames differ in shape")
    o = np.stack(original).astype(np.float64)
    e = np.stack(enhanced).astype(np.float64)
    return float(np.mean(np.abs(np.diff(e, axis=0) - np.diff(o, axis=0))))
