"""Speed table: median seconds per Kodak image and per megapixel, FLOPs per pixel and peak memory,
for each dial setting (fp32 and bf16 inference) and each peer, colour and grey (the grey JPEG
protocol), realism 0 with each self-ensemble size (bf16), with ratios to DnCNN-3 on the same
input measured in the same run; a 24-megapixel dirac case that shows tiling keeps memory
bounded; training steps per second in fp32 and bf16; and what bf16 inference costs in PSNR on
LIVE1 grey QF 10.

    python -m benchmarks.speed                       # writes benchmarks/results/speed.json
    python -m benchmarks.speed --quick               # smoke run: 256px crop, 1 run, no 24 MP case
    (any other --image, --crop, --runs, --big-megapixels, --methods, --realism, --ensemble, --steps or --quality:
    written as speed-partial.json)

Every setting runs in its own subprocess (same interpreter, same thread settings), so peak
resident memory is that setting's alone.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

from PIL import Image

from base_codecs import DiracError

from . import peers as peer_registry
from .command import run_command
from .environment import describe
from .options import ensembles, integer, jpeg_quality, methods, realism
from .results import NARROWED, RESULTS, SPEED_FILE, SPEED_SCHEMA, write_json
from .shared import shared_root
from .timing import count_flops, current_rss_bytes, jpeg_case, median_seconds, peak_rss_bytes, scaled_size

MARK = "SPEED-RESULT "
REPO = Path(__file__).resolve().parents[1]
CHILD_TIMEOUT_S = 3600


TRAIN_BATCH, TRAIN_PATCH = 16, 128  # the training step measured: the shipped run's batch
PRECISION_CASE = ("live1", "grey", 10)  # where bf16 inference must cost at most 0.01 dB


def _settings(args: argparse.Namespace) -> List[dict]:
    """One entry per measured setting: dirac once per realism and precision, the grey protocol
    for DnCNN-3 and dirac's realism 0, dirac at 24 MP and its training step, each per precision;
    realism 0 in bf16 once per self-ensemble size (colour, and grey where grey is measured)."""
    from dirac.core.sampler import PRECISIONS  # here, not at the top: in a child, torch would inflate the baseline RSS

    specs = []
    for method in args.methods:
        if method == "dirac":
            specs += [{"method": "dirac", "realism": r, "precision": p} for p in PRECISIONS for r in args.realism]
        else:
            specs.append({"method": method})
    if args.grey:
        specs += [{"method": "dncnn3", "grey": True}] if "dncnn3" in args.methods else []
        specs += [{"method": "dirac", "realism": 0.0, "precision": p, "grey": True} for p in PRECISIONS if "dirac" in args.methods]
    if "dirac" in args.methods:
        specs += [{"method": "dirac", "realism": 0.0, "precision": "bf16", "ensemble": e, **grey}
                  for grey in ({}, {"grey": True})[: 1 + args.grey] for e in args.ensemble if e > 1]
    if "dirac" in args.methods and args.train_runs:
        specs += [{"method": "training", "precision": p} for p in PRECISIONS]
    if "dirac" in args.methods and args.big_megapixels:
        specs += [{"method": "dirac", "realism": 0.0, "megapixels": args.big_megapixels, "precision": p, "runs": 1,
                   "warmup": 0, "flops": False} for p in PRECISIONS]
    return specs


def _megapixels(text: str) -> float:
    """A finite size in megapixels, 0 meaning no such case."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < float("inf"):  # nan fails too
        raise argparse.ArgumentTypeError(f"expected megapixels >= 0 (0: skip), got {text!r}")
    return value


def measure_training(spec: dict, args: argparse.Namespace) -> dict:
    """Seconds per training step of the weights' model (batch 16 of 128 px, real JPEG pairs cut
    from the test image, forward + backward + AdamW + EMA) in one precision."""
    import tempfile

    from dirac.core.weights import default_weights
    from dirac.training.trainer import Trainer
    from dirac.training.config import TrainConfig

    weights = args.weights or default_weights("jpeg")
    with tempfile.TemporaryDirectory() as tmp, Image.open(args.image) as im:
        data = Path(tmp) / "data"
        data.mkdir()
        for i in range(2):  # training holds one image out for validation
            im.convert("RGB").save(data / f"{i}.png")
        cfg = TrainConfig(data=[str(data)], out=str(Path(tmp) / "run"), batch=TRAIN_BATCH, patch=TRAIN_PATCH,
                          init_from=str(weights), precision=spec["precision"])
        timing = median_seconds(Trainer(cfg).train_step, args.train_runs, warmup=2)
    return {"precision": spec["precision"], "batch": TRAIN_BATCH, "patch": TRAIN_PATCH, **timing,
            "steps_per_s": 1.0 / timing["median_s"], "weights": str(weights), "peak_rss_bytes": peak_rss_bytes()}


def precision_psnr(args: argparse.Namespace) -> dict:
    """Mean PSNR of dirac's realism 0 in fp32 and in bf16 on LIVE1 grey QF 10, and their difference."""
    from dirac.metrics.fidelity import psnr
    from dirac.core.sampler import PRECISIONS

    from .datasets import open_dataset
    from .protocols import cases

    dataset, protocol, quality = PRECISION_CASE
    enhancers = {p: peer_registry.make("dirac", "jpeg", weights=args.weights, precision=p)[0] for p in PRECISIONS}
    scores = {p: [] for p in PRECISIONS}
    for case in cases(open_dataset(dataset), protocol, "jpeg", quality):
        for p, peer in enhancers.items():
            scores[p].append(psnr(peer.enhance(case.decoded, case.native_rate), case.reference))
    means = {p: sum(v) / len(v) for p, v in scores.items()}
    return {"dataset": dataset, "protocol": protocol, "quality": quality, "images": len(scores["fp32"]),
            **{f"{p}_db": means[p] for p in PRECISIONS}, "difference_db": means["bf16"] - means["fp32"],
            "max_image_difference_db": max(abs(a - b) for a, b in zip(scores["bf16"], scores["fp32"]))}


def measure_child(spec: dict, args: argparse.Namespace) -> dict:
    """Measure one setting in this process (the subprocess side)."""
    if spec["method"] == "training":
        return measure_training(spec, args)
    if spec["method"] == "precision":
        return precision_psnr(args)
    case = jpeg_case(args.image, args.quality, spec.get("megapixels"), args.crop, grey=spec.get("grey", False))
    if spec["method"] == "base":
        import base_codecs

        codec = base_codecs.get_codec("jpeg")
        name, info = "jpeg decode", {"description": "the base JPEG decode itself (libjpeg-turbo via Pillow)"}
        external = False
        call = lambda: codec.decode(case.bitstream)  # noqa: E731
    else:
        peer = peer_registry.make(spec["method"], "jpeg", realism=[spec.get("realism", 0.0)], steps=args.steps,
                                  seed=0, weights=args.weights, dncnn3_weights=args.dncnn3_weights,
                                  precision=spec.get("precision", "fp32"), ensemble=[spec.get("ensemble", 1)])[0]
        name, info, external = peer.name, peer.info(), peer.external_tool
        call = lambda: peer.enhance(case.decoded, case.native_rate, case.bitstream)  # noqa: E731
    rss_before = current_rss_bytes()
    timing = median_seconds(call, spec.get("runs", args.runs), spec.get("warmup", 1))
    peak, peak_tool = peak_rss_bytes(), peer.peak_rss_bytes if external else None
    flops = count_flops(call) if spec.get("flops", True) else None
    height, width = case.decoded.shape[:2]
    megapixels = height * width / 1e6
    return {"method": name, **{k: spec[k] for k in ("realism", "megapixels", "precision") if k in spec},
            "protocol": "grey" if spec.get("grey") else "colour",
            "width": width, "height": height, **timing, "seconds_per_megapixel": timing["median_s"] / megapixels,
            "flops": flops, "flops_per_pixel": flops / (height * width) if flops else None,
            "rss_before_bytes": rss_before, "peak_rss_bytes": peak,
            "peak_rss_tool_bytes": peak_tool, "info": info}


def _run_child(spec: dict, argv: List[str]) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.speed", *argv, "--child", json.dumps(spec)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=CHILD_TIMEOUT_S)
    lines = [line[len(MARK):] for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise DiracError(f"speed measurement of {spec} failed (exit {done.returncode}): {last}")
    return json.loads(lines[-1])


def _with_ratios(rows: List[dict]) -> None:
    """Seconds and FLOPs relative to DnCNN-3 on the same input (colour or grey) in the same run."""
    refs = {r.get("protocol", "colour"): r for r in rows if r["method"] == "dncnn3"}
    for row in rows:
        ref = refs.get(row.get("protocol", "colour"))
        if ref is None or "megapixels" in row:
            row["vs_dncnn3"] = None
            continue
        flops = row["flops"] / ref["flops"] if row["flops"] and ref["flops"] else None
        row["vs_dncnn3"] = {"seconds": row["median_s"] / ref["median_s"], "flops": flops}


def measure_all(args: argparse.Namespace, argv: List[str]) -> Path:
    """Every setting, each in its own subprocess; writes and returns the speed JSON."""
    from tqdm import tqdm

    rows, training, skipped = [], [], {}
    for spec in tqdm(_settings(args), desc="speed", unit="setting", disable=None):
        result = _run_child(spec, argv)
        if "skipped" in result:
            skipped[spec["method"]] = result["skipped"]
            print(f"benchmarks: {result['skipped']}", file=sys.stderr)
        else:
            (training if spec["method"] == "training" else rows).append(result)
    if not rows:
        raise DiracError("no method could be measured here: " + "; ".join(skipped.values()))
    _with_ratios(rows)
    document = {
        "schema": SPEED_SCHEMA, "environment": describe(),
        "settings": {"image": str(args.image), "quality": args.quality, "runs": args.runs, "steps": args.steps,
                     "crop": args.crop, "quick": args.quick, "partial": args.partial, "device": "cpu",
                     "protocol": "colour (RGB JPEG 4:2:0)",
                     "flops": "torch.utils.flop_counter (convolutions and matrix products; multiply-add = 2)",
                     "peak_rss": "ru_maxrss of a fresh process per setting; external tools: their own "
                                 "VmHWM, sampled while they run (peak_rss_tool_bytes)"},
        "rows": rows, "training": training, "skipped": skipped,
        "precision_psnr": _run_child({"method": "precision"}, argv) if args.precision_check and "dirac" in args.methods else None,
    }
    ending = NARROWED[0] if args.quick else NARROWED[1] if args.partial else ""
    return write_json(args.out / SPEED_FILE.replace(".json", f"{ending}.json"), document)


TABLE_CASE = ("image", "crop", "runs", "big_megapixels", "methods", "realism", "ensemble", "steps", "quality", "grey", "train_runs",
              "precision_check")  # what the table measures


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--image", type=Path, help="test image (default shared kodak/kodim01.png, 768x512)")
    p.add_argument("--quality", type=jpeg_quality, default=10, help="JPEG quality of the test decode (default 10)")
    p.add_argument("--runs", type=integer, default=5, help="timed runs after one warm-up (default 5)")
    p.add_argument("--realism", type=realism, default=[0.0, 0.25, 0.5, 1.0])
    p.add_argument("--steps", type=integer, default=20)
    p.add_argument("--ensemble", type=ensembles, default=[2, 8], help="dirac's self-ensemble sizes timed at realism 0 "
                   "(bf16; default 2,8; 1: none)")
    p.add_argument("--methods", type=methods, default="base,dncnn3,jpegqs,dirac")
    p.add_argument("--weights", type=Path, help="dirac weights folder (default $DIRAC_WEIGHTS/jpeg, else dirac/weights/jpeg)")
    p.add_argument("--dncnn3-weights", type=Path)
    p.add_argument("--big-megapixels", type=_megapixels, default=24.0, help="size of the bounded-memory case (0: skip)")
    p.add_argument("--crop", type=integer, help="centre-crop the test image first (smoke runs)")
    p.add_argument("--no-grey", dest="grey", action="store_false", help="skip the grey-protocol cases")
    p.add_argument("--train-runs", type=lambda t: integer(t, minimum=0), default=10,
                   help="timed training steps per precision (default 10; 0: skip)")
    p.add_argument("--no-precision-check", dest="precision_check", action="store_false",
                   help="skip the PSNR of bf16 against fp32 inference on LIVE1 grey QF 10")
    p.add_argument("--quick", action="store_true", help="smoke run: 256px crop, 1 run, no large case")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args, table = p.parse_args(argv), p.parse_args([])
    # a smaller or different case than the table's is a smoke run: it must not replace speed.json
    args.partial = not args.quick and any(getattr(args, k) != getattr(table, k) for k in TABLE_CASE)
    if args.quick:
        args.crop, args.runs, args.big_megapixels, args.train_runs, args.precision_check = args.crop or 256, 1, 0, 1, False
    if args.image is None:
        args.image = shared_root() / "datasets" / "kodak" / "kodim01.png"
    if not args.image.is_file():
        p.error(f"test image {args.image} not found (pass --image or set DIRAC_SHARED)")
    try:
        with Image.open(args.image) as im:
            width, height = (min(side, args.crop or side) for side in im.size)
    except OSError as exc:
        p.error(f"cannot read test image {args.image}: {exc}")
    big = scaled_size(width, height, args.big_megapixels) if args.big_megapixels else (1, 1)
    if 0 in big:
        p.error(f"--big-megapixels {args.big_megapixels:g} is too small: it scales the {width}x{height} "
                f"test image to {big[0]}x{big[1]}")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        try:
            print(MARK + json.dumps(measure_child(json.loads(args.child), args)), flush=True)
        except peer_registry.PeerUnavailable as exc:
            print(MARK + json.dumps({"skipped": str(exc)}), flush=True)
        return 0
    return run_command(lambda: [measure_all(args, argv)])


if __name__ == "__main__":
    sys.exit(main())
