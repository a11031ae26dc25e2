"""Rates: each codec's native rate value mapped to [0, 1] (0 = coarsest), and the
per-rate residual statistics that set the diffusion's scale and clipping bound."""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

from base_codecs import DiracError

# native range per family, and whether a larger value means higher quality
RATE_RANGES: Dict[str, Tuple[float, float, bool]] = {
    "jpeg": (1.0, 100.0, True),  # IJG quality factor
    "hevc": (0.0, 51.0, False),  # QP
    "vvc": (0.0, 63.0, False),  # QP
    "neural": (1.0, 8.0, True),  # CompressAI quality index
}
# Video above 8 bits codes QPs below 0, down to -6 x (bit depth - 8) (-48 at 16 bits): accepted,
# and enhanced as the finest rate of the range above.
LOWEST_QP = {"hevc": -48.0, "vvc": -48.0}


def check_rate(family: str, value) -> float:
    """``value`` as a float, or a DiracError naming the valid range."""
    if family not in RATE_RANGES:
        raise DiracError(f"no rate convention for codec {family!r}; known: {', '.join(sorted(RATE_RANGES))}")
    low, high = LOWEST_QP.get(family, RATE_RANGES[family][0]), RATE_RANGES[family][1]
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError  # True is not quality 1
        value = float(value)
    except (TypeError, ValueError):
        raise DiracError(f"rate for {family} must be a number in {low:g}..{high:g}, got {value!r}") from None
    if not low <= value <= high or not np.isfinite(value):
        raise DiracError(f"rate {value:g} is outside {family}'s range {low:g}..{high:g}")
    return value


def normalise_rate(family: str, value) -> float:
    """Map a native rate value to [0, 1], 0 the coarsest quantisation, 1 the finest."""
    value = check_rate(family, value)
    low, high, increasing = RATE_RANGES[family]
    unit = max(0.0, (value - low) / (high - low))
    return unit if increasing else 1.0 - unit


def interpolate_stat(rates: Sequence[float], values: Sequence[float], rate: float) -> float:
    """Piecewise-linear lookup of a per-rate statistic, held constant beyond the ends."""
    if len(rates) == 0:
        raise DiracError("these weights carry no per-rate residual statistics")
    order = np.argsort(rates)
    return float(np.interp(rate, np.asarray(rates, dtype=np.float64)[order], np.asarray(values, dtype=np.float64)[order]))
