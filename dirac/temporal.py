"""Noise that follows motion: the frames of a video share one noise field, carried from each
frame to the next along the optical flow of the decoded pictures, so texture the sampling
synthesises moves with the objects it sits on instead of staying pinned to the screen.

At realism above 0 the sampling's only random draw (with ``eta`` 0) is its first noise. Each
frame's noise is the previous frame's, fetched from where the flow says each pixel came from
(nearest pixel: every value stays an unaltered standard normal draw). A pixel gets a fresh draw
where the flow fails the forward-backward check (occlusion), points outside the picture, or
fetches a value another pixel of this frame already took (a zoom in): so the noise stays white,
never copied into blocks. Where the motion does not clearly explain the change (a crossfade) the
noise stays in place. The flow is OpenCV's DIS on the decoded luma, which the receiver has.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Tuple

import numpy as np

import base_codecs
from base_codecs import DiracError

if TYPE_CHECKING:  # torch loads when a frame's noise is made, not when the CLI builds its options
    import torch

NOISE_MODES = ("motion", "screen")  # carried along the flow, or the same draw at every frame
# A pixel moves only where, over its neighbourhood, the moved previous frame misses this one by
# less than STILL_SHARE of what the unmoved one does: flow fitted to a crossfade "explains" a
# little of it too (pan 0.1 %, zoom 3 %, crossfade 96 % of pixels stay, measured on the motion clips)
STILL_WINDOW, STILL_SHARE = 31, 0.7


def grey_levels(pixels: np.ndarray) -> np.ndarray:
    """8-bit luma (BT.601) of an RGB or grey uint8 picture, contiguous, as OpenCV's flow takes it."""
    if pixels.ndim == 2:
        return np.ascontiguousarray(pixels)
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    return np.ascontiguousarray(np.rint(pixels.astype(np.float32) @ weights).clip(0, 255).astype(np.uint8))


def dis_flow():
    """OpenCV's DIS optical flow (medium preset: about 20 ms a 640x360 frame on this CPU)."""
    import cv2

    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)


def nearest_pixel(x: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(row, column) integer indices of the pixel nearest each (x, y), kept inside the picture."""
    height, width = x.shape
    return np.rint(y).clip(0, height - 1).astype(np.int64), np.rint(x).clip(0, width - 1).astype(np.int64)


def motion_field(grey: np.ndarray, previous: np.ndarray, flow) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, valid): where in ``previous`` each pixel of ``grey`` came from (float32 maps), and
    whether that is trusted: inside the picture and the flow consistent both ways (the usual
    forward-backward occlusion check)."""
    height, width = grey.shape
    back = flow.calc(grey, previous, None)  # this frame -> previous
    ahead = flow.calc(previous, grey, None)  # previous -> this frame
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    x, y = xs + back[..., 0], ys + back[..., 1]
    inside = (x > -0.5) & (x < width - 0.5) & (y > -0.5) & (y < height - 0.5)
    there = ahead[nearest_pixel(x, y)]
    mismatch = np.square(back + there).sum(-1)
    consistent = mismatch <= 0.01 * (np.square(back).sum(-1) + np.square(there).sum(-1)) + 0.5
    return x, y, inside & consistent


class MotionNoise:
    """The noise of each frame of one clip, in display order: ``noise_for(pixels)`` once per frame."""

    def __init__(self, seed: int = 0):
        self.seed, self.index = int(seed), 0
        self._flow = dis_flow()
        self._grey: Optional[np.ndarray] = None
        self._noise: Optional[np.ndarray] = None

    def noise_for(self, pixels: np.ndarray) -> torch.Tensor:
        """This frame's noise, 3xHxW float32: the previous frame's moved along the flow, fresh where it cannot be."""
        import torch

        if isinstance(pixels, torch.Tensor):
            raise DiracError("noise 'motion' follows uint8 frames (numpy arrays, PIL images, Decoded); for tensors use 'screen'")
        grey = grey_levels(base_codecs.as_uint8_array(pixels))
        height, width = grey.shape
        noise = np.random.default_rng([self.seed, self.index]).standard_normal((3, height, width), dtype=np.float32)
        if self._grey is not None and self._grey.shape == grey.shape:
            x, y, valid = self._motion(grey)
            rows, columns = nearest_pixel(x, y)
            source = (rows * width + columns).ravel()
            kept = valid.ravel()
            # one taker per value: a value fetched twice (a zoom in) would copy noise into blocks
            _, first = np.unique(np.where(kept, source, -1 - np.arange(source.size)), return_index=True)
            taker = np.zeros_like(kept)
            taker[first] = True
            kept &= taker
            noise.reshape(3, -1)[:, kept] = self._noise.reshape(3, -1)[:, source[kept]]
        self._grey, self._noise, self.index = grey, noise, self.index + 1
        return torch.from_numpy(noise)

    def _motion(self, grey: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`motion_field`, but a pixel whose neighbourhood the motion does not explain clearly
        better than standing still (a crossfade, a flash: content changing in place) stays put."""
        import cv2

        x, y, valid = motion_field(grey, self._grey, self._flow)
        previous = self._grey.astype(np.float32)
        moved = cv2.remap(previous, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        window = (STILL_WINDOW, STILL_WINDOW)
        moved_error = cv2.blur(np.abs(grey - moved), window)
        still_error = cv2.blur(np.abs(grey - previous), window)
        still = moved_error >= STILL_SHARE * still_error
        ys, xs = np.mgrid[0 : grey.shape[0], 0 : grey.shape[1]].astype(np.float32)
        return np.where(still, xs, x), np.where(still, ys, y), valid | still


def frame_noise(mode: str, seed: Optional[int], realism: float, steps: int) -> Callable[[np.ndarray], Optional[torch.Tensor]]:
    """Each frame's noise, frame after frame of one clip (call it on every frame, in order, even
    one another process enhances): ``mode`` "motion" carries it along the flow; "screen" (and
    any dial that samples no noise, realism 0) gives None, the seed's own draw at every frame."""
    from .core.sampler import calls_for

    if mode not in NOISE_MODES:
        raise DiracError(f"noise must be one of {', '.join(NOISE_MODES)}, got {mode!r}", option="noise")
    if mode == "screen" or calls_for(realism, steps) == 1:
        return lambda pixels: None
    return MotionNoise(0 if seed is None else seed).noise_for
