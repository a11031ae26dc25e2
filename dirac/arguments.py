"""Type checks for the numbers the public API takes, so a wrong type is a DiracError naming the
argument, as a wrong value is (numpy and 0-d torch numbers count; bools and strings do not)."""
from __future__ import annotations

import numbers

import numpy as np

from base_codecs import DiracError


def _scalar(value):
    """A 0-d numpy array or torch tensor as its Python number; anything else unchanged."""
    return value.item() if getattr(value, "ndim", None) == 0 and hasattr(value, "item") else value


def number(name: str, value) -> float:
    """``value`` as a float, or a DiracError saying ``name`` must be a number."""
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise DiracError(f"{name} must be a number, got {value!r}")
    return float(value)


def whole(name: str, value) -> int:
    """``value`` as an int, or a DiracError saying ``name`` must be an integer."""
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise DiracError(f"{name} must be an integer, got {value!r}")
    return int(value)
