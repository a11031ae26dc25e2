"""Per-image and set-level quality figures, through ``dirac.metrics``.

A metric that cannot be measured here (weights not cached, package missing, image too small)
is recorded as null with a note saying why, never estimated or faked. A missing backend is
tried once and then left out for the rest of the run.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from base_codecs import DiracError

# Per-image metrics: name -> (dirac.metrics function, extra keyword arguments).
PER_IMAGE = {
    "psnr": ("psnr", {}),
    "psnr_y": ("psnr_y", {}),
    "ms_ssim": ("ms_ssim", {}),
    "lpips": ("lpips", {"net": "alex"}),
    "dists": ("dists", {}),
}
PERCEPTUAL = ("lpips", "dists", "fid", "kid")
HIGHER_IS_BETTER = {"psnr": True, "psnr_y": True, "ms_ssim": True, "lpips": False, "dists": False,
                    "fid": False, "kid": False}


def _metrics_function(name: str) -> Callable:
    import dirac.metrics as metrics

    try:
        return getattr(metrics, name)
    except AttributeError:
        raise ImportError(f"dirac.metrics has no {name}") from None


def _unavailable(exc: Exception) -> bool:
    """Errors that mean the backend cannot run on this machine at all (vs. this one image)."""
    if isinstance(exc, ImportError):
        return True
    try:
        from dirac.metrics import WeightsUnavailable
    except ImportError:
        return False
    return isinstance(exc, WeightsUnavailable)


def finite(value: Optional[float]) -> Optional[float]:
    """JSON-safe: inf/nan become null."""
    return float(value) if value is not None and math.isfinite(value) else None


class Scorer:
    """Measures (reference, output) pairs; ``notes`` says why any figure is null."""

    def __init__(self, protocol: str, perceptual: bool = True, device: Optional[str] = None):
        self.names = [n for n in PER_IMAGE if perceptual or n not in PERCEPTUAL]
        if protocol == "grey":
            self.names.remove("psnr_y")  # the reference is Y already: psnr is psnr_y
        self.device = device
        self.notes: Dict[str, str] = {}
        self.disabled: set = set()
        if not perceptual:
            for name in PERCEPTUAL:
                self.notes[name] = "not measured (--no-perceptual)"

    def _call(self, name: str, function: Callable) -> Optional[float]:
        if name in self.disabled:
            return None
        try:
            return finite(function())
        except Exception as exc:  # noqa: BLE001  (sorted below: run-wide or this image only)
            if _unavailable(exc):
                self.disabled.add(name)
                self.notes[name] = f"unavailable here: {exc}"
                return None
            if isinstance(exc, DiracError):
                self.notes.setdefault(name, f"null for some images: {exc}")
                return None
            raise

    def score(self, reference: np.ndarray, output: np.ndarray) -> Dict[str, Optional[float]]:
        """Every per-image metric of ``output`` against ``reference``."""
        row = {}
        for name in self.names:
            function, options = PER_IMAGE[name]
            network = {"device": self.device} if name in PERCEPTUAL else {}
            row[name] = self._call(name, lambda: _metrics_function(function)(reference, output, **options, **network))
        return row


class SetScorer:
    """FID and KID on the FID/256 patches (HiFiC protocol), per (method, rate) against the originals.

    The originals' Inception features are computed once and shared by every method and rate.
    """

    def __init__(self, scorer: Scorer, enabled: bool = True):
        self.scorer, self.enabled = scorer, enabled
        self.reference: List[np.ndarray] = []
        self.fake: Dict[Tuple[str, int], List[np.ndarray]] = {}

    def _features(self, image: np.ndarray) -> Optional[np.ndarray]:
        def features():
            from dirac.metrics import inception_features, patches_256

            return inception_features(patches_256(image), device=self.scorer.device)

        result = None
        if self.enabled and "fid" not in self.scorer.disabled:
            try:
                result = features()
            except Exception as exc:  # noqa: BLE001
                if not _unavailable(exc):
                    raise
                self.scorer.disabled.update({"fid", "kid"})
                self.scorer.notes["fid"] = self.scorer.notes["kid"] = f"unavailable here: {exc}"
        return result

    def add_reference(self, image: np.ndarray) -> None:
        features = self._features(image)
        if features is not None:
            self.reference.append(features)

    def add(self, method: str, rate: int, image: np.ndarray) -> None:
        features = self._features(image)
        if features is not None:
            self.fake.setdefault((method, rate), []).append(features)

    def compute(self, method: str, rate: int) -> Dict[str, Optional[float]]:
        """``{"fid", "kid", "patches"}``; nulls (with a note) when unavailable or too few patches."""
        fake = self.fake.get((method, rate))
        if not self.reference or not fake:
            return {"fid": None, "kid": None, "patches": 0}
        real, fake = np.concatenate(self.reference), np.concatenate(fake)
        if min(len(real), len(fake)) < 2:
            self.scorer.notes["fid"] = self.scorer.notes["kid"] = \
                f"null: {len(real)} reference and {len(fake)} method patches of 256x256; FID/KID need at least 2 each (images too small)"
            return {"fid": None, "kid": None, "patches": len(fake)}
        from dirac.metrics import frechet_distance, kernel_distance

        return {"fid": finite(frechet_distance(real, fake)), "kid": finite(kernel_distance(real, fake)),
                "patches": len(fake)}
