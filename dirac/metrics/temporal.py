"""Temporal consistency of enhanced video: does the enhancement add flicker?

``flicker`` compares frame-to-frame changes of the enhanced video with those of the original
(mean absolute difference of the temporal gradients, 8-bit levels): a static scene whose
synthesised texture is re-drawn every frame scores high even when each frame looks good.
``warping_error`` follows the original's motion: each frame against the previous one moved
along the optical flow, so texture that swims over moving objects scores high too.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from ._images import MetricError, as_image


def _stack(frames: Sequence[np.ndarray], name: str) -> np.ndarray:
    """The frames as one array, once each is a uint8 image and all share one shape."""
    images = [as_image(f) for f in frames]
    shapes = sorted({f.shape for f in images})
    if len(shapes) > 1:
        raise MetricError(f"{name} frames differ in shape: {', '.join(map(str, shapes))}")
    return np.stack(images).astype(np.float64)


def _pair(original: Sequence[np.ndarray], enhanced: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """The two videos as arrays, once they are equally long (2 frames or more) and alike in shape."""
    if not all(isinstance(s, Sequence) or (isinstance(s, np.ndarray) and s.ndim) for s in (original, enhanced)):
        raise MetricError(f"expected two sequences of frames, got {type(original).__name__} and {type(enhanced).__name__}")
    if len(original) != len(enhanced) or len(original) < 2:
        raise MetricError(f"need two equally long frame sequences of at least 2 frames, got {len(original)} and {len(enhanced)}")
    o, e = _stack(original, "original"), _stack(enhanced, "enhanced")
    if o.shape != e.shape:
        raise MetricError(f"original and enhanced frames differ in shape: {o.shape[1:]} vs {e.shape[1:]}")
    return o, e


def flicker(original: Sequence[np.ndarray], enhanced: Sequence[np.ndarray]) -> float:
    """Mean |(e[t+1] - e[t]) - (o[t+1] - o[t])| over pixels and frame pairs; 0 = no added flicker."""
    o, e = _pair(original, enhanced)
    return float(np.mean(np.abs(np.diff(e, axis=0) - np.diff(o, axis=0))))


def warping_error(original: Sequence[np.ndarray], enhanced: Sequence[np.ndarray]) -> float:
    """Mean |e[t] - e[t-1] warped to t| (8-bit levels) over the pixels whose motion the original's
    optical flow trusts (DIS, forward-backward checked; bilinear warp), over frame pairs. Texture
    that moves with the objects scores low; texture pinned to the screen or redrawn scores high.
    The original's own score is the floor that warping leaves."""
    import cv2

    from ..temporal import dis_flow, grey_levels, motion_field

    o, e = _pair(original, enhanced)
    flow, errors = dis_flow(), []
    greys = [grey_levels(frame.astype(np.uint8)) for frame in o]  # each frame's luma once, not once per pair
    for t in range(1, len(o)):
        x, y, valid = motion_field(greys[t], greys[t - 1], flow)
        warped = cv2.remap(e[t - 1].astype(np.float32), x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if valid.any():
            errors.append(float(np.abs(e[t] - warped)[valid].mean()))
    if not errors:
        raise MetricError("no pixel's motion could be followed between any two frames")
    return float(np.mean(errors))
