"""Choosing the JPEG model's architecture by measurement: candidates trained for equal wall-clock
minutes on the same data and settings (bf16, grey and colour, QF 5-95), compared by held-out gain.

``train`` runs one candidate (each in turn, never two at once on 2 cores) into
``runs/search/<name>``; ``report`` measures every trained candidate in one process (FLOPs per
pixel, realism-0 seconds on grey and colour 768x512 next to DnCNN-3's grey time) and writes
their held-out curves and budgets to ``benchmarks/results/architecture-search.json``.

    python -m benchmarks.architecture_search train grown --minutes 40
    python -m benchmarks.architecture_search report
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Dict, List, Optional

from base_codecs import DiracError

from .command import run_command
from .environment import describe
from .results import RESULTS, SEARCH_FILE, SEARCH_SCHEMA, write_json
from .shared import shared_path
from .timing import median_seconds

RUNS = Path("runs/search")
TRAIN_SETS = ("cbsd68", "imagecompression_info", "usc_sipi_misc", "wikipedia_photos")
# What every candidate shares: only the model differs (the v1 run's example mix and EMA)
SETTINGS = dict(codec="jpeg", steps=1_000_000, batch=16, patch=128, lr=2e-4, warmup=200, regression_fraction=0.6,
                ema_decay=0.999, val_every=250, seed=7, precision="bf16")
CANDIDATES: Dict[str, dict] = {
    "fine": dict(description="res blocks, pixel-unshuffle 2, 48/96/192/256 channels, from scratch",
                 model=dict(unshuffle=2, channels=[48, 96, 192, 256], encoder_depths=[1, 2, 2], middle_depth=3,
                            decoder_depths=[1, 2, 2])),
    "gated": dict(description="NAFNet-style gated blocks with channel attention, unshuffle 4, 128/256/384 channels, "
                              "from scratch",
                  model=dict(unshuffle=4, block="gated", channels=[128, 256, 384], encoder_depths=[2, 4], middle_depth=6,
                             decoder_depths=[2, 2])),
    "grown": dict(description="the v1 model (weights/jpeg as of commit 8fd038e, sha256 8adb2b64...) grown by a "
                              "zero-initialised 48-channel branch at unshuffle 2, trained jointly",
                  model=dict(fine_channels=48, fine_depth=2), init_from="dirac/weights/jpeg"),
}


def train(name: str, minutes: float, runs: Path) -> float:
    """Train candidate ``name`` for ``minutes`` of wall-clock; returns its best held-out gain."""
    from dirac.training.trainer import Trainer
    from dirac.training.config import TrainConfig

    spec = CANDIDATES[name]
    data = [str(shared_path("datasets", "train", s)) for s in TRAIN_SETS]
    cfg = TrainConfig(data=data, out=str(runs / name), max_minutes=minutes, model=spec["model"],
                      init_from=spec.get("init_from"), **SETTINGS)
    return Trainer(cfg).run()


def curve(folder: Path) -> List[dict]:
    """(step, minutes, held-out gain) at every validation of a run's log."""
    with open(folder / "train_log.csv") as f:
        return [{"step": int(r["step"]), "minutes": round(float(r["seconds"]) / 60, 2), "gain_db": float(r["val_psnr_gain_db"])}
                for r in csv.DictReader(f) if r["val_psnr_gain_db"]]


def measure(folders: Dict[str, Path], image: Path) -> dict:
    """Per candidate: parameters, FLOPs per pixel and realism-0 seconds (grey and colour, fp32 and
    bf16) on ``image``, with DnCNN-3's grey time, all in this one process."""
    import numpy as np
    from PIL import Image
    from torch.utils.flop_counter import FlopCounterMode

    from dirac import Enhancer

    from dirac.metrics.fidelity import y_channel

    from .peers.dncnn3 import DnCNN3

    rgb = np.asarray(Image.open(image).convert("RGB"))
    grey = y_channel(rgb)
    dncnn = DnCNN3()
    out = {"dncnn3_grey_s": median_seconds(lambda: dncnn.enhance(grey, 10), runs=5)["median_s"], "candidates": {}}
    for name, folder in folders.items():
        enhancer = Enhancer.from_pretrained(folder)
        model = enhancer.pipeline.model
        with FlopCounterMode(display=False) as counter:
            enhancer.enhance(rgb, rate=10)
        row = {"parameters": sum(p.numel() for p in model.parameters()),
               "flops_per_pixel": counter.get_total_flops() / grey.size}
        for kind, pixels in (("grey", grey), ("colour", rgb)):
            for precision, suffix in (("fp32", ""), ("bf16", "_bf16")):
                call = lambda: enhancer.enhance(pixels, rate=10, precision=precision)  # noqa: E731
                row[f"{kind}{suffix}_s"] = median_seconds(call, runs=5)["median_s"]
        row["grey_vs_dncnn3"] = row["grey_s"] / out["dncnn3_grey_s"]
        out["candidates"][name] = row
    return out


def report(runs: Path, image: Path) -> Path:
    folders = {n: runs / n for n in CANDIDATES if (runs / n / "train_log.csv").exists()}
    if not folders:
        raise DiracError(f"no trained candidates under {runs}; run `python -m benchmarks.architecture_search train NAME`")
    speed = measure(folders, image)
    rows = []
    for name, folder in folders.items():
        points = curve(folder)
        rows.append({"name": name, "description": CANDIDATES[name]["description"], "model": CANDIDATES[name]["model"],
                     "init_from": CANDIDATES[name].get("init_from"), "curve": points,
                     "final_gain_db": points[-1]["gain_db"] if points else None,
                     "best_gain_db": max(p["gain_db"] for p in points) if points else None, **speed["candidates"][name]})
    data = {"schema": SEARCH_SCHEMA, "environment": describe(), "settings": {**SETTINGS, "image": str(image), "data": TRAIN_SETS},
            "dncnn3_grey_s": speed["dncnn3_grey_s"], "candidates": rows}
    return write_json(RESULTS / SEARCH_FILE, data)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.architecture_search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=RUNS, help=f"folder of the candidates' runs (default {RUNS})")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train one candidate for a fixed wall-clock budget")
    p.add_argument("name", choices=sorted(CANDIDATES))
    p.add_argument("--minutes", type=float, default=40.0, help="wall-clock budget (default 40)")
    p = sub.add_parser("report", help="measure the trained candidates and write the JSON")
    p.add_argument("--image", type=Path, default=None, help="768x512 test image (default Kodak kodim01)")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    def work():
        args = parse_args(argv)
        if args.command == "train":
            print(f"{args.name}: best held-out gain {train(args.name, args.minutes, args.runs):.3f} dB")
            yield args.runs / args.name
        else:
            yield report(args.runs, args.image or shared_path("datasets", "kodak", "kodim01.png"))

    return run_command(work)


if __name__ == "__main__":
    sys.exit(main())
