"""What a receiver is handed: a codec bitstream, or an ordinary image file (PNG, TIFF, ...)
decoded elsewhere, whose codec and rate only the caller knows."""
from __future__ import annotations

import math
import numbers
from typing import Optional

import numpy as np

from . import images
from .core import CodecError, Decoded, RateInfo, as_bytes
from .registry import get_codec, sniff


def decode_input(data: bytes, codec: str = "auto", rate: Optional[float] = None) -> Decoded:
    """The picture to enhance: a bitstream decoded by its own codec (which ``codec``, unless
    "auto", must be), or an image file's pixels labelled with ``codec`` (auto: jpeg) and
    ``rate``, which such a file needs since it does not say how it was coded."""
    data = as_bytes(data)
    if codec != "auto":
        get_codec(codec)  # a known name, or the error that lists them
    image_format = images.sniff(data)
    if image_format is None:
        family = sniff(data)
        if codec not in ("auto", family):
            raise CodecError(f"codec {codec} given, but the file is {family}", option="codec")
        return get_codec(family).decode(data)
    if rate is None:
        raise CodecError(f"a {image_format} file is an already decoded picture and does not say how it was coded; "
                         "to enhance it, give its rate and codec (default jpeg)", option="rate")
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real) or not math.isfinite(rate):
        raise CodecError(f"the rate of an image file must be a finite number, got {rate!r}")
    return Decoded(images.decode(data), RateInfo("jpeg" if codec == "auto" else codec, float(rate)))
