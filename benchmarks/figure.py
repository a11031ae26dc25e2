"""The README's side-by-side: a crop of the bundled example JPEG, then dirac at realism 0 and 1.

    python -m benchmarks.figure [--input examples/astronaut_q12.jpg] [--box 170,60,160,160]
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
from PIL import Image, ImageDraw

from base_codecs import DiracError

from .command import run_command
from .options import integer
from .results import RESULTS

REPO = Path(__file__).resolve().parents[1]


def panel(pixels: np.ndarray, label: str, scale: int) -> Image.Image:
    """An enlarged crop (nearest neighbour, so artefacts stay visible) with a caption bar."""
    im = Image.fromarray(pixels).resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.NEAREST)
    out = Image.new("RGB", (im.width, im.height + 22), "white")
    out.paste(im, (0, 22))
    ImageDraw.Draw(out).text((6, 5), label, fill="black")
    return out


def make_figure(args) -> Path:
    import base_codecs
    from dirac import Enhancer

    data = Path(args.input).read_bytes()
    decoded = base_codecs.get_codec("jpeg").decode(data)
    x, y, w, h = args.box
    height, width = decoded.image.shape[:2]
    if x + w > width or y + h > height:
        raise DiracError(f"--box {x},{y},{w},{h} reaches outside the {width}x{height} image")
    enhancer = Enhancer.from_pretrained(args.weights)
    crop = lambda im: im[y : y + h, x : x + w]  # noqa: E731
    q = decoded.rate.value
    panels = [panel(crop(decoded.image), f"JPEG q{q:g} ({decoded.rate.bpp:.2f} bpp)", args.scale)]
    for realism in (0.0, 1.0):
        out = enhancer.enhance(decoded.image, q, realism=realism, seed=0)
        panels.append(panel(crop(out), f"dirac realism {realism:g}", args.scale))
    figure = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), panels[0].height), "white")
    for i, p in enumerate(panels):
        figure.paste(p, (i * (p.width + 8), 0))
    path = Path(args.out)
    figure.save(path)
    return path


def _box(text: str) -> List[int]:
    """x,y,w,h: four integers, a non-empty box from a non-negative corner."""
    try:
        box = [int(v) for v in text.split(",")]
    except ValueError:
        box = []
    if len(box) != 4 or min(box[:2]) < 0 or min(box[2:]) < 1:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h (x, y >= 0; w, h >= 1), got {text!r}")
    return box


def _image_file(text: str) -> str:
    """A file name whose extension Pillow can write an RGB figure as, known before the enhancer runs."""
    try:
        Image.new("RGB", (1, 1)).save(io.BytesIO(), format=Image.registered_extensions()[Path(text).suffix.lower()])
    except (KeyError, OSError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an image file name Pillow can write (.png, .jpg...), got {text!r}") from None
    return text


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.figure", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default=str(REPO / "examples" / "astronaut_q12.jpg"))
    parser.add_argument("--box", type=_box, default=[170, 60, 160, 160], help="crop shown, x,y,w,h")
    parser.add_argument("--scale", type=integer, default=2, help="enlargement of the crop (default 2)")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--out", type=_image_file, default=str(RESULTS / "side_by_side.png"))
    args = parser.parse_args(argv)
    return run_command(lambda: [make_figure(args)])


if __name__ == "__main__":
    sys.exit(main())
