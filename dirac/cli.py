"""The ``dirac`` command: enhance, info, train. Exit codes: 0 ok, 2 bad input or usage, 1 internal error."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

import numpy as np
from PIL import Image

import base_codecs
from base_codecs import DiracError

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def read_input(path: Path) -> bytes:
    if not path.exists():
        raise DiracError(f"{path}: no such file")
    if not path.is_file():
        raise DiracError(f"{path}: not a regular file")
    return path.read_bytes()


def write_image_atomic(pixels: np.ndarray, path: Path, inputs: List[Path]) -> None:
    """Write via a temp file + rename: never a partial output, never over an input."""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DiracError(f"{path}: unsupported output extension; use one of {', '.join(OUTPUT_FORMATS)}")
    if any(path.resolve() == p.resolve() for p in inputs):
        raise DiracError(f"{path}: refusing to overwrite an input file")
    if not path.parent.is_dir():
        raise DiracError(f"{path}: output directory {path.parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".dirac-", suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise DiracError(f"{path}: cannot write output ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
            Image.fromarray(pixels).save(f, format=fmt, **options)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def cmd_enhance(args) -> None:
    from .enhancer import Enhancer

    src, dst = Path(args.input), Path(args.output)
    data = read_input(src)
    enhancer = Enhancer.from_pretrained(args.weights)
    try:
        decoded = enhancer.decode(data)
    except DiracError as exc:
        raise DiracError(f"{src}: {exc}") from None
    rate = args.rate if args.rate is not None else decoded.rate.value
    if rate is None:
        raise DiracError(f"{src}: the file does not say its rate; pass --rate")
    out = enhancer.enhance(
        decoded.image, rate, realism=args.realism, steps=args.steps, seed=args.seed, tile=args.tile, progress=True
    )
    write_image_atomic(out, dst, [src])
    print(f"{src} -> {dst}: {decoded.rate.family} rate {rate:g}, realism {args.realism:g}")


def cmd_info(args) -> None:
    src = Path(args.input)
    data = read_input(src)
    family = base_codecs.sniff(data)
    decoded = base_codecs.get_codec(family).decode(data)
    h, w = decoded.image.shape[:2]
    kind = "grey" if decoded.image.ndim == 2 else "RGB"
    rate = "unknown" if decoded.rate.value is None else f"{decoded.rate.value:g}"
    bpp = "unknown" if decoded.rate.bpp is None else f"{decoded.rate.bpp:.3f}"
    print(f"{src}: {family} {w}x{h} {kind}, rate {rate}, {bpp} bpp")


def cmd_train(args) -> None:
    from .train import TrainConfig, Trainer

    cfg = TrainConfig(
        codec=args.codec, data=args.data, out=args.out, steps=args.steps, batch=args.batch, patch=args.patch,
        lr=args.lr, max_minutes=args.max_minutes, checkpoint_minutes=args.checkpoint_minutes, seed=args.seed,
    )
    best = Trainer(cfg).run()
    print(f"best validation PSNR gain {best:.3f} dB; weights in {cfg.out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dirac", description="Residual diffusion enhancement of decoded images.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("enhance", help="enhance a JPEG (or other base-codec) file")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp)")
    p.add_argument("--realism", type=float, default=0.0, help="0 = highest PSNR (one call) ... 1 = most realistic texture")
    p.add_argument("--steps", type=int, default=20, help="schedule length N; realism*N calls run")
    p.add_argument("--seed", type=int, default=None, help="make stochastic (realism > 0) output reproducible")
    p.add_argument("--weights", default=None, help="weights directory (default: shipped weights/jpeg)")
    p.add_argument("--rate", type=float, default=None, help="override the rate read from the file (JPEG quality, QP)")
    p.add_argument("--tile", type=int, default=1024, help="tile size in pixels (multiple of 16); bounds memory")
    p.set_defaults(func=cmd_enhance)

    p = sub.add_parser("info", help="print a file's codec family, size and rate")
    p.add_argument("input")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("train", help="train (or resume training) an enhancer")
    p.add_argument("--codec", default="jpeg")
    p.add_argument("--data", nargs="+", required=True, help="directories of lossless training images")
    p.add_argument("--out", required=True, help="weights directory; resumes from its checkpoint if present")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except DiracError as exc:
        print(f"dirac: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dirac: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
