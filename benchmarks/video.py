"""Temporal consistency: does the enhancer add flicker to video?

A slow pan over a Kodak image is coded frame by frame (all-intra, as motion JPEG) and enhanced
at several dial settings twice: with one seed for every frame (noise pinned to the screen,
``noise="screen"``; ``benchmarks.video_motion`` measures the default, noise carried along the
motion) and with a new seed per frame. Flicker
(``dirac.metrics.flicker``) and PSNR per setting go to ``benchmarks/results/video-jpeg-kodak.json``,
with the network's frames per second on a 640x360 frame at each setting.

    python -m benchmarks.video [--image kodim23.png] [--frames 8] [--quality 10] [--quick]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

import base_codecs
from base_codecs import DiracError

from .command import run_command
from .environment import describe
from .options import integer, jpeg_quality, realism
from .results import RESULTS, write_json
from .shared import shared_path

SCHEMA = "dirac.benchmarks.video/1"


def panning_clip(image: np.ndarray, frames: int, size: tuple, step: int) -> List[np.ndarray]:
    """``frames`` crops of ``size`` (h, w), each ``step`` pixels right of the last."""
    h, w = size
    return [np.ascontiguousarray(image[:h, i * step : i * step + w]) for i in range(frames)]


def kodak_image(name: str) -> np.ndarray:
    """A shared Kodak image as RGB."""
    with Image.open(shared_path("datasets", "kodak", name)) as im:
        return np.asarray(im.convert("RGB"))


def frame_size(args) -> tuple:
    """(height, width) of a clip's frames: small for a smoke run."""
    return (128, 192) if args.quick else (256, 384)


def add_clip_arguments(parser: argparse.ArgumentParser, realism_default: List[float]) -> None:
    """The options every video benchmark shares: the dial settings, the weights, a smoke run, where to write."""
    parser.add_argument("--realism", type=realism, default=realism_default)
    parser.add_argument("--steps", type=integer, default=20)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--quick", action="store_true", help="small frames, for a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)


def run_clip_benchmark(args, stem: str, measure_fn) -> int:
    """Measure and write ``<stem>.json`` (``<stem>-quick.json`` for a smoke run)."""
    name = f"{stem}-quick.json" if args.quick else f"{stem}.json"
    return run_command(lambda: [write_json(args.out / name, measure_fn(args))])


def source_image(args, size: tuple) -> np.ndarray:
    """The image panned over, checked to be wide enough for ``--frames`` crops ``--step`` apart."""
    image = kodak_image(args.image)
    need = (size[0], size[1] + (args.frames - 1) * args.step)
    if image.shape[0] < need[0] or image.shape[1] < need[1]:
        raise DiracError(f"--image {args.image} is {image.shape[1]}x{image.shape[0]}: a pan of --frames {args.frames} "
                         f"at --step {args.step} over {size[1]}x{size[0]} frames needs {need[1]}x{need[0]}")
    return image


def measure(args) -> dict:
    size = frame_size(args)
    image = source_image(args, size)  # before loading anything, so a bad option costs nothing

    from dirac import Enhancer
    from dirac.metrics import flicker, psnr

    originals = panning_clip(image, args.frames, size, args.step)
    codec = base_codecs.get_codec("jpeg")
    decodes = [codec.decode(codec.encode(f, quality=args.quality)).image for f in originals]
    from dirac.core.weights import default_weights

    from .peers.dirac_peer import fingerprint

    weights = Path(args.weights) if args.weights else default_weights("jpeg")
    enhancer = Enhancer.from_pretrained(weights)
    rows = [{"method": "jpeg decode", "flicker": flicker(originals, decodes),
             "psnr": float(np.mean([psnr(o, d) for o, d in zip(originals, decodes)]))}]
    for setting in tqdm(args.realism, desc="video", unit="setting"):
        for noise in ("shared", "per-frame"):
            out = [enhancer.enhance(d, args.quality, realism=setting, steps=args.steps, seed=0 if noise == "shared" else i)
                   for i, d in enumerate(decodes)]
            rows.append({"method": f"dirac realism {setting:g}", "noise": noise, "realism": setting,
                         "flicker": flicker(originals, out), "psnr": float(np.mean([psnr(o, e) for o, e in zip(originals, out)]))})
    settings = {**vars(args), "out": str(args.out), "size": size, "weights_fingerprint": fingerprint(weights)}
    return {"schema": SCHEMA, "settings": settings, "environment": describe(), "rows": rows,
            "frame_rates": frame_rates(enhancer, image, args)}


def frame_rates(enhancer, image: np.ndarray, args, size=(360, 640), runs: int = 5) -> List[dict]:
    """Frames per second of the network on one 640x360 frame (the same network serves every
    codec), per realism setting: the median of ``runs`` calls after a warm-up."""
    from .timing import median_seconds

    codec = base_codecs.get_codec("jpeg")
    frame = codec.decode(codec.encode(np.ascontiguousarray(image[: size[0], : size[1]]), quality=args.quality)).image
    size = frame.shape[:2]  # a smaller --image gives smaller frames: say which
    rates = []
    for setting in args.realism:
        timing = median_seconds(lambda: enhancer.enhance(frame, args.quality, realism=setting, steps=args.steps, seed=0), runs)
        rates.append({"realism": setting, "size": f"{size[1]}x{size[0]}", **timing, "fps": 1.0 / timing["median_s"]})
        print(f"realism {setting:g}: {1.0 / timing['median_s']:.2f} frames/s at {size[1]}x{size[0]}")
    return rates


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.video", description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="kodim23.png")
    parser.add_argument("--frames", type=lambda t: integer(t, 2), default=8, help="clip length (at least 2)")
    parser.add_argument("--step", type=lambda t: integer(t, 0), default=4, help="pan speed, pixels per frame")
    parser.add_argument("--quality", type=jpeg_quality, default=10)
    add_clip_arguments(parser, [0.0, 0.5, 1.0])
    return run_clip_benchmark(parser.parse_args(argv), "video-jpeg-kodak", measure)


if __name__ == "__main__":
    sys.exit(main())
