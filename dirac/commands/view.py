"""``dirac view``: compare realism dial settings of one file in a local web page."""
from __future__ import annotations

import sys
import webbrowser
from pathlib import Path
from typing import List

import numpy as np
from PIL import Image

from base_codecs import DiracError, images

from ..io import about
from ..viewer import DEFAULT_STOPS
from .common import EnhancerCache, add_source_arguments, decode_with_rate

HELP = "compare realism dial settings in a local web page"


def add_arguments(p) -> None:
    p.add_argument("image", help="a codec file (JPEG, HEVC, VVC, neural) to enhance, or an already decoded image with --rate")
    add_source_arguments(p)
    p.add_argument("--reference", default=None, help="the original picture: shows PSNR of the decode and each stop")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--stops", default=",".join(f"{s:g}" for s in DEFAULT_STOPS), help="dial stops to precompute")
    p.add_argument("--steps", type=int, default=20, help="schedule length N, at most 500; realism*N calls per stop")
    p.add_argument("--seed", type=int, default=0, help="noise seed of the stochastic stops")
    p.add_argument("--no-browser", action="store_true", help="only print the URL")


def parse_stops(text: str) -> List[float]:
    """Dial stops from ``"0,0.5,1"``: sorted, without repeats, each in [0, 1]."""
    try:
        stops = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise DiracError(f"--stops must be comma-separated numbers in [0, 1], got {text!r}") from None
    if not stops:
        raise DiracError("--stops names no dial stop")
    if not all(0.0 <= s <= 1.0 for s in stops):
        raise DiracError(f"--stops must lie in [0, 1], got {text!r}")
    return stops


def load_reference(path: Path, shape) -> np.ndarray:
    """The original picture, for PSNR: same size and colour kind as the decode."""
    pixels = images.decode_file(path, f"--reference {path}")
    if pixels.ndim == 3 and len(shape) == 2:
        pixels = np.asarray(Image.fromarray(pixels).convert("L"))
    elif pixels.ndim == 2 and len(shape) == 3:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    if pixels.shape != tuple(shape):
        raise DiracError(
            f"--reference {path} is {pixels.shape[1]}x{pixels.shape[0]}, the decode {shape[1]}x{shape[0]}; "
            "pass the original of this image"
        )
    return pixels


def run(args) -> None:
    from ..viewer import DialSession, ViewerServer

    stops = parse_stops(args.stops)
    path = Path(args.image)
    try:
        family, decoded, rate = decode_with_rate(path, args)
        enhancer = EnhancerCache(args.weights, "cpu").get(family)
    except DiracError as exc:
        raise about(path, exc) from None
    reference = None if args.reference is None else load_reference(Path(args.reference), decoded.image.shape)
    session = DialSession(enhancer, decoded, path.name, stops=stops, steps=args.steps, seed=args.seed, rate=rate, reference=reference)
    server = ViewerServer(session, port=args.port)
    session.start()
    print(f"dirac view: {server.url} (Ctrl-C stops)", flush=True)
    if not args.no_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("dirac view: stopped", file=sys.stderr)
    finally:
        server.server_close()
        session.close()
