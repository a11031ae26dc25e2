"""Base codecs behind one interface: ``get_codec(name).encode(...)`` / ``.decode(...)``.

Importing the package registers every adapter module (``jpeg``, ``hevc``, ``vvc``, ``neural``);
each carries its own facts (``codec_type(name).rate_scale``, ``.degradation``, ``.video``).
"""
from .core import (  # noqa: F401
    BaseCodec,
    CodecError,
    Decoded,
    Degradation,
    DiracError,
    LATENT_STRIDE,
    RateInfo,
    RateScale,
    as_bytes,
    as_uint8_array,
)
from .registry import available, codec_type, families, get_codec, register, sniff  # noqa: F401
from . import hevc, jpeg, neural, vvc  # noqa: F401,E402  (register on import)
from .inputs import decode_input  # noqa: F401,E402
