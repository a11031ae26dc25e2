"""The codec registry: plugins register their class on import (as Pillow plugins do); callers
use :func:`get_codec` for an adapter, :func:`codec_type` for a family's facts without building
one, and :func:`sniff` to tell a bitstream's family."""
from __future__ import annotations

import inspect
from typing import Dict, Type

from .core import BaseCodec, CodecError, as_bytes
from .video import is_container

_REGISTRY: Dict[str, Type[BaseCodec]] = {}


def register(name: str, codec: Type[BaseCodec]) -> None:
    """Make ``get_codec(name)`` build ``codec``; adapters call this on import."""
    _REGISTRY[name] = codec


def codec_type(name: str) -> Type[BaseCodec]:
    """The class registered under ``name``: its rate scale, training degradation, video support."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise CodecError(f"unknown codec {name!r}; known codecs: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def families() -> list:
    """The registered family names, sorted."""
    return sorted(_REGISTRY)


def get_codec(name: str, **kwargs) -> BaseCodec:
    """The adapter registered under ``name`` (``jpeg``, ``hevc``, ``vvc``, ``neural``)."""
    codec = codec_type(name)
    try:
        inspect.signature(codec).bind(**kwargs)
    except TypeError:
        raise CodecError(f"the {name} codec takes no option(s) {', '.join(sorted(kwargs))} "
                         f"(it takes: {', '.join(inspect.signature(codec).parameters) or 'none'})") from None
    return codec(**kwargs)


def available() -> Dict[str, Dict[str, bool]]:
    """Every registered codec and whether it can encode / decode on this machine."""
    result = {}
    for name in families():
        codec = _REGISTRY[name]()
        result[name] = {"encode": codec.can_encode(), "decode": codec.can_decode()}
    return result


def sniff(data: bytes) -> str:
    """The codec family of ``data``, detected from its leading bytes."""
    data = as_bytes(data)
    for name in families():
        if _REGISTRY[name].sniff(data):
            return name
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1"):
        raise CodecError("an AVIF/HEIF image: its codec is not one dirac enhances (convert it to PNG and give its rate)", option="rate")
    if is_container(data):
        raise CodecError("a video container (MP4/MOV/Matroska) without a readable HEVC track: truncated or corrupt, "
                         "or another video codec")
    raise CodecError("unrecognised data: not a JPEG, HEVC, VVC or dirac-neural bitstream")
