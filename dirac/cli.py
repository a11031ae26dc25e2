"""The ``dirac`` command: enhance, info, train. Exit codes: 0 ok, 2 bad input or usage, 1 internal error."""
from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

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


def expand_inputs(specs: List[str]) -> List[Path]:
    """Files, directories (their files, sorted) and glob patterns, in order, without repeats."""
    paths: List[Path] = []
    for spec in specs:
        if any(ch in spec for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())
            if not matches:
                raise DiracError(f"{spec}: no files match")
            paths += matches
        elif Path(spec).is_dir():
            paths += sorted(p for p in Path(spec).iterdir() if p.is_file() and not p.name.startswith("."))
        else:
            paths.append(Path(spec))
    return list(dict.fromkeys(paths))


def output_for(src: Path, output: Path, into_dir: bool) -> Path:
    return output / (src.stem + ".png") if into_dir else output


class EnhancerCache:
    """One loaded enhancer per codec family, so a mixed batch loads each model once."""

    def __init__(self, weights: Optional[str], device: str):
        self.weights, self.device, self.loaded = weights, device, {}

    def get(self, family: str):
        from .enhancer import Enhancer, default_weights

        if family not in self.loaded:
            path = self.weights if self.weights is not None else default_weights(family)
            self.loaded[family] = Enhancer.from_pretrained(path, device=self.device)
        return self.loaded[family]


def enhance_file(src: Path, dst: Path, args, cache: EnhancerCache, inputs: List[Path]) -> str:
    data = read_input(src)
    family = base_codecs.sniff(data)
    if args.codec != "auto" and family != args.codec:
        raise DiracError(f"--codec {args.codec} given, but the file is {family}")
    enhancer = cache.get(family)
    decoded = enhancer.decode(data)
    rate = args.rate if args.rate is not None else decoded.rate.value
    if rate is None:
        raise DiracError("the file does not say its rate; pass --rate")
    out = enhancer.enhance(
        decoded.image, rate, realism=args.realism, steps=args.steps, seed=args.seed, tile=args.tile,
        progress=len(inputs) == 1,
    )
    write_image_atomic(out, dst, inputs)
    return f"{src} -> {dst}: {family} rate {rate:g}, realism {args.realism:g}"


def cmd_enhance(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    inputs = expand_inputs(args.inputs)
    output = Path(args.output)
    into_dir = len(inputs) > 1 or output.is_dir()
    if into_dir and not output.is_dir():
        raise DiracError(f"{output}: with several inputs, -o must be an existing directory")
    cache = EnhancerCache(args.weights, args.device)
    failures = []
    for src in tqdm(inputs, desc="files", unit="file", disable=len(inputs) < 2):
        try:
            message = enhance_file(src, output_for(src, output, into_dir), args, cache, inputs)
        except DiracError as exc:
            message = str(exc) if str(exc).startswith(str(src)) else f"{src}: {exc}"
            if len(inputs) == 1:
                raise DiracError(message) from None
            failures.append(src)
            tqdm.write(f"dirac: error: {message}", file=sys.stderr)
            continue
        tqdm.write(message)
    if failures:
        raise DiracError(f"{len(failures)} of {len(inputs)} files failed")


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

    p = sub.add_parser("enhance", help="enhance JPEG (or other base-codec) files")
    p.add_argument("inputs", nargs="+", help="files, directories or glob patterns")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp), or a directory for several inputs")
    p.add_argument("--codec", default="auto", choices=["auto", "jpeg", "hevc", "vvc", "neural"], help="expected family")
    p.add_argument("--realism", type=float, default=0.0, help="0 = highest PSNR (one call) ... 1 = most realistic texture")
    p.add_argument("--steps", type=int, default=20, help="schedule length N; realism*N calls run")
    p.add_argument("--seed", type=int, default=None, help="make stochastic (realism > 0) output reproducible")
    p.add_argument("--weights", default=None, help="weights directory (default: shipped weights/jpeg)")
    p.add_argument("--rate", type=float, default=None, help="override the rate read from the file (JPEG quality, QP)")
    p.add_argument("--tile", type=int, default=1024, help="tile size in pixels (multiple of 16); bounds memory")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
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
    except Exception as exc:  # a bug, not bad input: say so, keep the traceback for DIRAC_DEBUG
        if os.environ.get("DIRAC_DEBUG"):
            raise
        print(f"dirac: internal error: {type(exc).__name__}: {exc} (set DIRAC_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
