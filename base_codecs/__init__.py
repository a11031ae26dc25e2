"""Base codecs behind one interface: ``get_codec(name).encode(...)`` / ``.decode(...)``.

Importing the package registers every adapter module (``jpeg``, ``hevc``, ``vvc``, ``neural``).
"""
from .core import (  # noqa: F401
    BaseCodec,
    CodecError,
    Decoded,
    DiracError,
    RateInfo,
    as_bytes,
    as_uint8_array,
    available,
    get_codec,
    register,
    sniff,
)
from . import jpeg  # noqa: F401,E402  (registers on import)
from . import hevc, neural, vvc  # noqa: F401,E402  (register on import)
from .inputs import decode_input  # noqa: F401,E402
