"""The rate the network is conditioned on: each codec's native rate mapped to [0, 1] by its
plugin's :class:`base_codecs.RateScale`, and the per-rate residual statistics that set the
diffusion's scale and clipping bound."""
from __future__ import annotations

from typing import Sequence

import numpy as np

import base_codecs
from base_codecs import DiracError


def check_rate(family: str, value) -> float:
    """``value`` as a float, or a DiracError naming ``family``'s valid range."""
    return base_codecs.codec_type(family).rate_scale.check(family, value)


def normalise_rate(family: str, value) -> float:
    """Map a native rate value to [0, 1], 0 the coarsest quantisation, 1 the finest."""
    return base_codecs.codec_type(family).rate_scale.unit_interval(family, value)


def interpolate_stat(rates: Sequence[float], values: Sequence[float], rate: float) -> float:
    """Piecewise-linear lookup of a per-rate statistic, held constant beyond the ends."""
    if len(rates) == 0:
        raise DiracError("these weights carry no per-rate residual statistics")
    order = np.argsort(rates)
    return float(np.interp(rate, np.asarray(rates, dtype=np.float64)[order], np.asarray(values, dtype=np.float64)[order]))


def native_rate(rate, codec: str):
    """The number(s) the network is conditioned on, from a number (or one per image) or a
    ``RateInfo``, which must be ``codec``'s and carry its value: the one path by which the API,
    the commands and the viewer take a rate given or read from the file."""
    if rate is None:
        raise DiracError("rate is missing: give the codec's rate (e.g. JPEG quality), a RateInfo or a Decoded", option="rate")
    if isinstance(rate, base_codecs.RateInfo):
        if rate.family != codec:
            raise DiracError(f"the rate is {rate.family}'s but these weights enhance {codec}; load weights for {rate.family}",
                             option="weights")
        if rate.value is None:
            raise DiracError(f"the {rate.family} data does not say its rate; give it as a number", option="rate")
        return rate.value
    return rate
