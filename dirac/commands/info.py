"""``dirac info``: what a file is (codec family or image format, size, colour, rate)."""
from __future__ import annotations

from pathlib import Path

import base_codecs
from base_codecs import DiracError, images

from ..io import about, read_input

HELP = "print a file's codec family, size and rate"


def add_arguments(p) -> None:
    p.add_argument("input")


def describe(src: Path, data: bytes) -> str:
    """``dirac info``'s line: format or codec family, size, colour, rate."""
    image_format = images.sniff(data)
    if image_format is not None:
        pixels, what, detail = images.decode(data), image_format, "already decoded (enhance it with --rate)"
    else:
        what = base_codecs.sniff(data)
        decoded = base_codecs.get_codec(what).decode(data)
        rate = "unknown" if decoded.rate.value is None else f"{decoded.rate.value:g}"
        bpp = "unknown" if decoded.rate.bpp is None else f"{decoded.rate.bpp:.3f}"
        pixels, detail = decoded.image, f"rate {rate}, {bpp} bpp"
    h, w = pixels.shape[:2]
    kind = "grey" if pixels.ndim == 2 else "RGB"
    return f"{src}: {what} {w}x{h} {kind}, {detail}"


def run(args) -> None:
    src = Path(args.input)
    try:
        print(describe(src, read_input(src)))
    except DiracError as exc:
        raise about(src, exc) from None
