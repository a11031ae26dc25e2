"""``dirac info``: what a file is (codec family or image format, size, colour, rate) and which
weights would enhance it."""
from __future__ import annotations

from pathlib import Path

import base_codecs
from base_codecs import DiracError, images

from ..core.weights import default_weights
from ..io import about, read_input

HELP = "print a file's codec family, size and rate, and the weights that would enhance it"


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
    return f"{src}: {what} {w}x{h} {kind}, {detail}" + ("" if image_format is not None else f"; {weights_for(what)}")


def weights_for(family: str) -> str:
    """Which weights ``dirac enhance`` would use for ``family`` by default, or that there are none yet."""
    folder = default_weights(family)
    if (folder / "model_index.json").is_file():
        return f"weights {folder}"
    return f"no {family} weights at {folder} (train them with dirac train --codec {family}, or pass --weights)"


def run(args) -> None:
    src = Path(args.input)
    try:
        print(describe(src, read_input(src)))
    except DiracError as exc:
        raise about(src, exc) from None
