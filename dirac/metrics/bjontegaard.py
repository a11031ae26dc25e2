"""Bjøntegaard delta rate (BD-rate): the average bitrate change, in percent, of a test codec
against an anchor at equal quality, over the quality range both cover (VCEG-M33), with
piecewise cubic (PCHIP) interpolation of log-rate over quality as in VCEG-AL22, which the JVET
common test conditions use; scipy's end slopes may differ from the CTC spreadsheet's in the
last decimals."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._images import MetricError


def _curve(rates: Sequence[float], quality: Sequence[float], what: str):
    """(quality, log rate) sorted by quality, once it is a usable rate-quality curve."""
    rates, quality = np.asarray(rates, dtype=np.float64), np.asarray(quality, dtype=np.float64)
    if rates.shape != quality.shape or rates.ndim != 1 or len(rates) < 4:
        raise MetricError(f"BD-rate needs at least four rate-quality points per curve; {what} has {len(rates)}")
    if not (np.isfinite(rates).all() and np.isfinite(quality).all() and (rates > 0).all()):
        raise MetricError(f"BD-rate needs finite, positive rates and finite qualities; {what} has others")
    order = np.argsort(quality)
    if np.any(np.diff(quality[order]) <= 0):
        raise MetricError(f"BD-rate needs a different quality at every point; {what} repeats one")
    return quality[order], np.log(rates[order])


def bd_rate(anchor_rates: Sequence[float], anchor_quality: Sequence[float],
            test_rates: Sequence[float], test_quality: Sequence[float]) -> float:
    """Percent bitrate change of the test curve against the anchor at equal quality (PSNR, say):
    negative is a saving. Each curve's log-rate is interpolated piecewise-cubically (PCHIP) over
    quality and the difference averaged over the qualities both curves reach."""
    from scipy.interpolate import PchipInterpolator

    qa, ra = _curve(anchor_rates, anchor_quality, "the anchor")
    qt, rt = _curve(test_rates, test_quality, "the test")
    low, high = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    if low >= high:
        raise MetricError(f"BD-rate: the curves' quality ranges do not overlap ({qa[0]:.2f}..{qa[-1]:.2f} "
                          f"against {qt[0]:.2f}..{qt[-1]:.2f})")
    area = [PchipInterpolator(q, r).integrate(low, high) for q, r in ((qa, ra), (qt, rt))]
    return float((np.exp((area[1] - area[0]) / (high - low)) - 1) * 100)
