"""dirac: receiver-side residual diffusion enhancement of decoded images and video.

The heavy classes load on first use, so ``import dirac.metrics`` stays light.
"""
from importlib import import_module

from base_codecs import DiracError  # noqa: F401

_LAZY = {"Enhancer": ".enhancer", "ResidualDenoiser": ".core.model", "DiracPipeline": ".core.pipeline", "DiracScheduler": ".core.scheduler"}
__all__ = ["DiracError", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'dirac' has no attribute {name!r}")
