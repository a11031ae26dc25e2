"""Option types shared by the benchmark commands: argparse turns what they refuse into a one-line
usage error (exit 2) that names the option, before anything is measured."""
from __future__ import annotations

import argparse
from typing import Callable, List, Optional

from .labels import setting_name


def _once(values: List, text: str, key: Callable = str) -> List:
    """``values`` unless two name the same thing (a repeat would be measured and averaged twice)."""
    keys = [key(v) for v in values]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"expected each value once, got {text!r} (repeated: {', '.join(repeated)})")
    return values


def numbers(text: str, kind: Callable = float, key: Callable = str) -> List:
    """Comma-separated numbers, each once (``key``: what makes two the same)."""
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    return _once(values, text, key)


def realism(text: str) -> List[float]:
    """Dial settings in [0, 1], distinct as the methods they name (0.1 and 0.10000001 are one)."""
    values = numbers(text, key=setting_name)
    if not all(0.0 <= v <= 1.0 for v in values):  # nan fails too
        raise argparse.ArgumentTypeError(f"expected realism settings in [0, 1], got {text!r}")
    return values


def ensembles(text: str) -> List[int]:
    """dirac's self-ensemble sizes, each one of ``dirac.core.ensemble.ENSEMBLE_SIZES``."""
    from dirac.core.ensemble import ENSEMBLE_SIZES  # imports torch: not on importing this module

    values = numbers(text, int)
    if not all(v in ENSEMBLE_SIZES for v in values):
        raise argparse.ArgumentTypeError(f"expected views from {', '.join(map(str, ENSEMBLE_SIZES))}, got {text!r}")
    return values


def fraction(text: str) -> float:
    """One number in [0, 1] (a share, such as eta's fresh noise)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:  # nan fails too
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def detail_sigma(text: str) -> float:
    """dirac's detail scale in pixels, as ``dirac.core.scheduler.check_detail_sigma`` takes it."""
    from base_codecs import DiracError
    from dirac.core.scheduler import check_detail_sigma  # imports torch: not on importing this module

    try:
        return check_detail_sigma(float(text))
    except (ValueError, DiracError) as exc:
        raise argparse.ArgumentTypeError(f"expected 0 or a scale in pixels, 0.5..64, got {text!r}") from exc


def integer(text: str, minimum: int = 1, maximum: Optional[int] = None) -> int:
    """A whole number of at least ``minimum`` (and at most ``maximum``): a count, a size, a quality."""
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"in {minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise argparse.ArgumentTypeError(f"expected an integer {bounds}, got {text!r}")
    return value


def methods(text: str) -> List[str]:
    """Comma-separated registered methods, at least one, each once."""
    from . import peers  # registering every peer imports torch: not on importing this module

    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated methods from {', '.join(peers.names())}, got {text!r}")
    unknown = [m for m in names if m not in peers.names()]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(peers.names())}")
    return _once(names, text)


def jpeg_quality(text: str) -> int:
    """An IJG quality factor, 1..100."""
    return integer(text, 1, 100)
