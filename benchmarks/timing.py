"""Measuring one method in this process: median wall time after a warm-up, FLOPs counted by
torch, and the process's peak resident memory. ``benchmarks.speed`` runs each setting in its
own process so peaks of different settings never mix."""
from __future__ import annotations

import resource
import statistics
import time
from pathlib import Path
from typing import Callable, Optional, Tuple

import numpy as np
from PIL import Image

import base_codecs

from .protocols import Case, centre_crop, reference


def jpeg_case(path: Path, quality: int, megapixels: Optional[float] = None, crop: Optional[int] = None,
              grey: bool = False) -> Case:
    """The colour-protocol case of one image (with ``grey``, the grey protocol's: its Y coded as a
    grey JPEG), optionally resized (bicubic) to about ``megapixels`` or centre-cropped to ``crop``
    pixels square."""
    with Image.open(path) as im:  # the colour protocol's RGB, as Pillow reads it
        image = centre_crop(np.asarray(im.convert("RGB")), crop)
    if grey:
        image = reference(image, "grey", path.name)
    if megapixels:
        size = scaled_size(image.shape[1], image.shape[0], megapixels)
        image = np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))
    codec = base_codecs.get_codec("jpeg")
    data = codec.encode(image, quality=quality, subsampling="4:2:0")
    decoded = codec.decode(data)
    return Case(path.name, quality, image, data, decoded.image, float(decoded.rate.value),
                len(data) * 8.0 / (image.shape[0] * image.shape[1]))


def scaled_size(width: int, height: int, megapixels: float) -> Tuple[int, int]:
    """(width, height) scaled to about ``megapixels``, in whole macroblocks (0 where too small)."""
    scale = (megapixels * 1e6 / (width * height)) ** 0.5
    return round(width * scale / 16) * 16, round(height * scale / 16) * 16


def peak_rss_bytes() -> int:
    """Peak resident set of this process, in bytes."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_maxrss * 1024  # Linux reports KiB


def current_rss_bytes() -> Optional[int]:
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        return None


def median_seconds(call: Callable[[], object], runs: int, warmup: int = 1) -> dict:
    """Median (and min, max) wall seconds of ``call`` over ``runs`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "runs": runs, "warmup": warmup}


def count_flops(call: Callable[[], object]) -> Optional[int]:
    """FLOPs of one ``call`` as torch.utils.flop_counter counts them (convolutions and matrix
    products, multiply-add = 2); None when nothing ran through torch (an external tool)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        call()
    total = counter.get_total_flops()
    return int(total) if total else None
