"""Self-ensemble: average the network's estimate over transposed and rotated views of the picture.

The residual a codec leaves has no preferred orientation, so the network's estimates of a picture
and of its mirror images, mapped back, err differently; their mean is closer to the truth (on
LIVE1 at realism 0, QF 10-40: +0.02 dB grey and +0.04 colour with 2 views, +0.04 and +0.08 with
8; benchmarks/README.md) for the cost of one call per view. Views act on the picture padded to
the network stride, so a codec's block grid (8 or 16 pixels from the top left) stays on the grid
in every view; the first two (as is, transposed) need no padding at all.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from base_codecs import DiracError

from ..checks import whole

ENSEMBLE_SIZES = (1, 2, 4, 8)
# (transpose first?, quarter turns), in the order views are taken: as is, transposed, then the
# 180-degree turns (grid-safe once padded), then the 90- and 270-degree ones
VIEWS = ((False, 0), (True, 0), (False, 2), (True, 2), (False, 1), (True, 1), (False, 3), (True, 3))


def check_ensemble(ensemble: int) -> int:
    """The number of views as an int, once known to be one of :data:`ENSEMBLE_SIZES`."""
    ensemble = whole("ensemble", ensemble)
    if ensemble not in ENSEMBLE_SIZES:
        raise DiracError(f"ensemble must be one of {', '.join(map(str, ENSEMBLE_SIZES))} views, got {ensemble}")
    return ensemble


def _view(t: torch.Tensor, transpose: bool, turns: int) -> torch.Tensor:
    """``t`` transposed (if asked), then turned by ``turns`` quarter turns."""
    t = t.transpose(-2, -1) if transpose else t
    return torch.rot90(t, turns, (-2, -1)) if turns else t


def _unview(t: torch.Tensor, transpose: bool, turns: int) -> torch.Tensor:
    """The inverse of :func:`_view`."""
    t = torch.rot90(t, -turns, (-2, -1)) if turns else t
    return t.transpose(-2, -1) if transpose else t


def self_ensemble(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], z_t: torch.Tensor, x: torch.Tensor,
                  views: int) -> torch.Tensor:
    """The mean of ``fn(z_t, x)`` over ``views`` views, each mapped back; ``x`` may be smaller than
    ``z_t`` (by the stride padding) and is then edge-replicated to its size, as the tiles would be.

    The first ``views`` of :data:`VIEWS`; 2 need no padding."""
    if views == 1:
        return fn(z_t, x)
    short_h, short_w = z_t.shape[-2] - x.shape[-2], z_t.shape[-1] - x.shape[-1]
    if views > 2 and (short_h or short_w):
        x = F.pad(x, (0, short_w, 0, short_h), mode="replicate")
    out = None
    for view in VIEWS[:views]:
        pred = _unview(fn(_view(z_t, *view), _view(x, *view)), *view)
        out = pred if out is None else out.add_(pred)
    return out.div_(views)
