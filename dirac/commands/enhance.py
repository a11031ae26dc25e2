"""``dirac enhance``: enhance coded files (or already decoded images with their rate) into
images, or a video clip into a video (``-o clip.mkv``, ``.mp4`` or ``.mov``)."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import List

from base_codecs import DiracError

from ..io import about, check_output, check_unique_stems, check_writable, expand_inputs, status, write_image
from ..video import CODECS, DEFAULT_CRF, MAX_CRF, is_video_output
from .common import (EnhancerCache, add_enhance_arguments, add_noise_argument, check_dial, decode_with_rate, dial_options,
                     for_each_file, output_path)

HELP = "enhance JPEG (or other base-codec) files into images, or a video clip into a video"
MAX_THREADS = 1024


def add_arguments(p) -> None:
    p.add_argument("inputs", nargs="+", help="files, directories or glob patterns")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp), a directory for several inputs, "
                   "or, for one video clip, a video (.mkv, .mp4, .mov) with the clip's timing, audio and subtitles")
    add_enhance_arguments(p, "make stochastic (realism > 0) output reproducible (a video's frames share one, default 0)",
                          seed_default=None)
    add_noise_argument(p)
    p.add_argument("--video-codec", choices=CODECS, default=None,
                   help="a video output's codec (default: ffv1, lossless, in .mkv; libx264 in .mp4 and .mov)")
    p.add_argument("--crf", type=int, default=None,
                   help=f"libx264/libx265 constant quality, 0 (lossless) .. {MAX_CRF} (default {DEFAULT_CRF['libx264']} / {DEFAULT_CRF['libx265']})")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")


def run(args) -> None:
    import torch

    from ..checks import check_device

    if args.threads is not None:
        if not 1 <= args.threads <= MAX_THREADS:
            raise DiracError(f"--threads must be in 1..{MAX_THREADS}, got {args.threads}")
        torch.set_num_threads(args.threads)
    check_device(args.device, "--device")
    check_dial(args)
    inputs = expand_inputs(args.inputs)
    output = output_path(args.output, "an output file or an existing directory")
    if is_video_output(output):
        return enhance_clip(inputs, output, args)
    if args.video_codec is not None or args.crf is not None:
        raise DiracError("--video-codec and --crf set a video output's codec; -o names no video (.mkv, .mp4, .mov)")
    found = status(output, output=True)
    is_dir = found is not None and stat.S_ISDIR(found.st_mode)
    into_dir = len(inputs) > 1 or is_dir or args.output.endswith(os.sep)
    if into_dir and not is_dir:
        raise DiracError(f"{output}: {'with several inputs, ' if len(inputs) > 1 else ''}-o must be an existing directory")
    if into_dir:
        check_unique_stems(inputs)
    cache = EnhancerCache(args.weights, args.device)

    def enhance_file(src: Path) -> str:
        from ..core.sampler import calls_for

        dst = output / (src.stem + ".png") if into_dir else output
        family, decoded, rate = decode_with_rate(src, args)
        fmt = check_output(dst, inputs, decoded.image.shape)
        write_image(cache.get(family).enhance(decoded, rate, progress=len(inputs) == 1, **dial_options(args)), dst, fmt)
        calls = calls_for(args.realism, args.steps)  # says so when a small realism x steps rounds to one call
        return f"{src} -> {dst}: {family} rate {rate:g}, realism {args.realism:g} ({calls} of {args.steps} network calls)"

    failures = for_each_file(inputs, enhance_file, args, desc="files")
    if failures:
        raise DiracError(f"{failures} of {len(inputs)} files failed")


def enhance_clip(inputs: List[Path], output: Path, args) -> None:
    """One video clip into one video file, every frame with one progress bar."""
    from ..video import enhance_video

    if len(inputs) != 1:
        raise DiracError(f"{output}: a video output takes one input clip, got {len(inputs)}")
    check_writable(output, inputs)
    dial = {**dial_options(args), "seed": 0 if args.seed is None else args.seed}  # shared noise: no flicker

    def enhancer_for(family: str, device: str = args.device):  # under accelerate launch: the process's device
        return EnhancerCache(args.weights, device).get(family)

    try:
        report = enhance_video(enhancer_for, inputs[0], output, rate=args.rate, codec=None if args.codec == "auto" else args.codec,
                               video_codec=args.video_codec, crf=args.crf, progress=True, noise=args.noise, **dial)
    except DiracError as exc:
        raise about(inputs[0], exc) from None
    if not report.frames:  # under accelerate launch, a process that only wrote its share
        return
    copied = f", {report.copied_streams} audio/subtitle streams copied" if report.copied_streams else ""
    low, high = report.rates
    rates = f"rate {low:g}" if low == high else f"rates {low:g}..{high:g}"
    print(f"{inputs[0]} -> {output}: {report.frames} frames of {report.family} {rates}, realism {args.realism:g}, "
          f"{report.codec}{copied}")
