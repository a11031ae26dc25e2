"""Checks of what the public API is given, made once at the boundary: numbers (a wrong type is a
DiracError naming the argument, as a wrong value is; numpy and 0-d torch numbers count, bools
and strings do not) and devices (which one to use, and whether a named one is usable)."""
from __future__ import annotations

import numbers

import numpy as np

from base_codecs import DiracError


def _scalar(value):
    """A 0-d numpy array or torch tensor as its Python number; anything else unchanged."""
    return value.item() if getattr(value, "ndim", None) == 0 and hasattr(value, "item") else value


def default_device() -> str:
    """Where work runs unless told otherwise, the one rule for every command and metric: the GPU
    accelerate would pick (CUDA, Apple, Intel), else the CPU."""
    import torch

    xpu = getattr(torch, "xpu", None)
    for name, present in (("cuda", torch.cuda.is_available), ("mps", torch.backends.mps.is_available),
                          ("xpu", lambda: bool(xpu and xpu.is_available()))):
        if present():
            return name
    return "cpu"


def check_device(device, what: str = "device", error: type = DiracError) -> str:
    """``device`` once torch can name it and this machine can use it (a one-element tensor is put
    there, so a bad name fails before any model is built), else ``error`` saying why."""
    import torch

    if not isinstance(device, (str, torch.device)):
        raise error(f"{what} must be a name such as 'cpu' or 'cuda:0', got {device!r}")
    try:
        torch.zeros(1, device=torch.device(device)).cpu()
    except (RuntimeError, NotImplementedError, AssertionError, ImportError, TypeError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
        raise error(f"{what} {str(device)!r} is not usable here: {reason}") from None
    return str(device)


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
