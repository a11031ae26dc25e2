"""dirac: receiver-side residual diffusion enhancement of decoded images and video."""
from base_codecs import DiracError  # noqa: F401

from .enhancer import Enhancer  # noqa: F401
from .model import ResidualDenoiser  # noqa: F401
from .pipeline import DiracPipeline  # noqa: F401
