"""Ordinary image files (PNG, TIFF, BMP, PNM, GIF, WebP) read as already decoded pictures.

They are not codec bitstreams and say nothing of a rate, but a base decode saved losslessly is
still worth enhancing once the caller says how it was coded. One rule maps every pixel layout
to the 8-bit grey or RGB the enhancer takes:

- one channel stays grey, everything else becomes RGB (palette, CMYK, YCbCr, LAB, HSV);
- 16-bit (and wider integer) samples keep their top 8 bits, as Pillow does for 16-bit colour;
- transparency is composited onto white, as a viewer shows the picture on a white page;
- floating-point samples are refused: their range is not defined;
- of an animation or a multi-page file, the first picture is used.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from PIL import Image

from .core import CodecError, open_with_pillow

# Leading bytes of each format: Pillow itself would also try formats without a magic number
# (TGA, ...), which would mistake random bytes for an image.
MAGIC = {
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "TIFF": (b"II*\x00", b"MM\x00*"),
    "BMP": (b"BM",),
    "PPM": tuple(b"P%d" % n for n in range(1, 7)),
    "GIF": (b"GIF87a", b"GIF89a"),
}
GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N"}


def sniff(data: bytes) -> Optional[str]:
    """Pillow's name of the image format ``data`` starts like, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((name for name, prefixes in MAGIC.items() if data.startswith(prefixes)), None)


def _to_8bit(image: Image.Image) -> np.ndarray:
    """HxW or HxWx3 uint8 pixels of ``image`` by the rule in the module docstring."""
    if image.mode.startswith("F"):
        raise CodecError(f"{image.format} with floating-point samples: their range is undefined; save 8- or 16-bit")
    grey = image.mode in GREY_MODES
    if image.mode.startswith("I"):  # 16- or 32-bit integer grey
        samples = np.asarray(image).astype(np.int64)
        return (np.clip(samples, 0, 65535) >> 8).astype(np.uint8)
    if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
        layers = np.asarray(image.convert("LA" if grey else "RGBA")).astype(np.float32)
        alpha = layers[..., -1:] / 255.0
        flat = np.rint(layers[..., :-1] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
        return flat[..., 0] if grey else flat
    return np.asarray(image.convert("L" if grey else "RGB"))


def decode(data: bytes) -> np.ndarray:
    """The first picture of an image file as 8-bit grey (HxW) or RGB (HxWx3)."""
    name = sniff(data)
    if name is None:
        raise CodecError("not a PNG, TIFF, BMP, PNM, GIF or WebP image")
    try:
        with open_with_pillow(data, [name], name) as image:
            image.load()
            return np.ascontiguousarray(_to_8bit(image))
    except CodecError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise CodecError(f"corrupt or truncated {name}: {exc}") from None
