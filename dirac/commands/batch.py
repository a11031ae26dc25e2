"""``dirac batch``: enhance a large file list, or a video's frames, split across processes.

Run plainly for one process, or as ``accelerate launch --multi_gpu --num_processes N -m dirac batch ...``
to spread the work over processes or machines: each process takes every N-th still image and
every N-th frame of each video, and writes its own outputs, so no gathering is needed.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import List

import base_codecs
from base_codecs import DiracError

from ..io import check_output, check_unique_stems, expand_inputs, write_image
from ..temporal import frame_noise
from ..video import VIDEO_FAMILIES, is_video
from .common import (EnhancerCache, add_enhance_arguments, add_noise_argument, check_dial, decode_with_rate, dial_options,
                     for_each_file, output_path)

HELP = "enhance many files or video frames; scales out with `accelerate launch`"
def enhance_share(src: Path, out_dir: Path, args, cache, rank: int, world: int, video: bool) -> int:
    """Enhance frames ``rank``, ``rank + world``, ... of ``src``; returns how many were written.
    A video that fails part-way takes back the frames it wrote: no half-enhanced clips."""
    family, decoded, rate = decode_with_rate(src, args, video)
    enhancer = cache.get(family)
    if video and family not in VIDEO_FAMILIES:
        raise DiracError(f"holds {family} data, not a video dirac reads ({', '.join(VIDEO_FAMILIES)})")
    pictures = base_codecs.get_codec(family).iter_decoded(src) if video else iter([decoded])
    noise_of = frame_noise(args.noise if video else "screen", args.seed, args.realism, args.steps)
    written: List[Path] = []
    try:
        for index, picture in enumerate(pictures):
            noise = noise_of(picture.image)  # every frame, in order: a video's noise is carried through all
            if index % world != rank:
                continue
            dst = out_dir / (f"{src.stem}_{index:06d}.png" if video else f"{src.stem}.png")
            fmt = check_output(dst, [src], picture.image.shape)
            own = picture.rate if video and args.rate is None else rate  # each frame's own QP unless --rate
            out = enhancer.enhance(picture, own, noise=noise, **dial_options(args))  # a Decoded: its latent goes along
            write_image(out, dst, fmt)
            written.append(dst)
    except BaseException:
        for dst in written:
            dst.unlink(missing_ok=True)
        raise
    return len(written)


def check_frame_names(stills: List[Path], videos: List[Path]) -> None:
    """A still named like a video's frame output (``clip_000001.jpg`` beside ``clip.265``)
    would overwrite that frame, or be overwritten by it."""
    video_stems = {v.stem: v for v in videos}
    for still in stills:
        match = re.fullmatch(r"(.+)_\d{6}", still.stem)
        if match and match.group(1) in video_stems:
            raise DiracError(f"{still} and the frames of {video_stems[match.group(1)]} would both write {still.stem}.png; rename one")


def add_arguments(p) -> None:
    p.add_argument("inputs", nargs="+", help="files, directories or glob patterns (images, or HEVC/VVC videos: every frame)")
    p.add_argument("-o", "--output", required=True, help="existing output directory")
    add_enhance_arguments(p, "shared by all frames, so texture does not flicker", seed_default=0)
    add_noise_argument(p)


def run(args) -> None:
    from accelerate import PartialState

    from ..checks import default_device

    check_dial(args)
    state = PartialState(cpu=default_device() == "cpu")  # CPU-only machines still split work
    inputs = expand_inputs(args.inputs)
    check_unique_stems(inputs)
    out_dir = output_path(args.output, "an existing output directory")
    if not out_dir.is_dir():
        raise DiracError(f"{out_dir}: {'is a file, not' if out_dir.exists() else 'does not exist; -o names'} an output directory")
    cache = EnhancerCache(args.weights, str(state.device))
    rank, world = state.process_index, state.num_processes
    videos = [p for p in inputs if is_video(p)]
    stills = [p for p in inputs if p not in videos]
    check_frame_names(stills, videos)
    mine = stills[rank::world] + videos  # every process takes a share of each video's frames
    written = 0

    def enhance(src: Path) -> None:
        nonlocal written
        share = (rank, world) if src in videos else (0, 1)
        written += enhance_share(src, out_dir, args, cache, *share, video=src in videos)

    failures = for_each_file(mine, enhance, args, desc=f"batch[{rank}]", show=state.is_main_process, alone_raises=False)
    print(f"process {rank}/{world}: wrote {written} images, {failures} failures")
    if failures:
        raise DiracError(f"{failures} of {len(mine)} inputs failed in process {rank}")
