"""Ordinary image files (PNG, TIFF, BMP, PNM, GIF, WebP) read as already decoded pictures.

They are not codec bitstreams and say nothing of a rate, but a base decode saved losslessly is
still worth enhancing once the caller says how it was coded. Pixels are mapped to 8-bit grey
or RGB by the one rule of ``core.pil_to_uint8``; of an animation or a multi-page file, the
first picture is used.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np

from .core import CodecError, DiracError, open_with_pillow, pil_to_uint8, upright

# Leading bytes of each format: Pillow itself would also try formats without a magic number
# (TGA, ...), which would mistake random bytes for an image.
MAGIC = {
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "TIFF": (b"II*\x00", b"MM\x00*"),
    "BMP": (b"BM",),
    "PPM": tuple(b"P%d" % n for n in range(1, 7)),
    "GIF": (b"GIF87a", b"GIF89a"),
}


def sniff(data: bytes) -> Optional[str]:
    """Pillow's name of the image format ``data`` starts like, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((name for name, prefixes in MAGIC.items() if data.startswith(prefixes)), None)


def decode(data: bytes) -> np.ndarray:
    """The first picture of an image file as 8-bit grey (HxW) or RGB (HxWx3)."""
    name = sniff(data)
    if name is None:
        raise CodecError("not a PNG, TIFF, BMP, PNM, GIF or WebP image")
    try:
        with open_with_pillow(data, [name], name) as image:
            image.load()
            return np.ascontiguousarray(pil_to_uint8(upright(image)))
    except CodecError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise CodecError(f"corrupt or truncated {name}: {exc}") from None


def decode_file(path: Union[str, Path], label: Optional[str] = None) -> np.ndarray:
    """:func:`decode` of a file; every error names it (``label``, default the path)."""
    label = label or str(path)
    try:
        return decode(Path(path).read_bytes())
    except OSError as exc:
        raise DiracError(f"{label}: cannot read ({exc.strerror or exc})") from None
    except DiracError as exc:
        raise DiracError(f"{label}: {exc}") from None
