"""Rate-distortion-perception benchmark: every method on the same decodes, in the same run.

    python -m benchmarks.run --codec jpeg --dataset kodak --rates 5,10,20,40 --realism 0,0.5,1
    python -m benchmarks.run --codec jpeg --dataset live1 --protocol grey --rates 10,20,30,40
    python -m benchmarks.run --codec vvc --dataset vvc-kodak
    python -m benchmarks.run --codec jpeg --dataset kodak --quick      # smoke run (CI)

Writes one JSON per codec + dataset + protocol into benchmarks/results/.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

import base_codecs
from base_codecs import DiracError
from dirac.checks import default_device

from . import peers as peer_registry
from .command import run_command
from .datasets import open_dataset
from .environment import describe
from .options import detail_sigma, ensembles, fraction, integer, methods, numbers, realism
from .protocols import PROTOCOLS, cases, default_protocol
from .published import published
from .results import RESULTS, RUN_SCHEMA, run_filename, write_json
from .scoring import Scorer, SetScorer

DEFAULT_METHODS = ["base", "dncnn3", "jpegqs", "dirac"]
QUICK = {"limit": 2, "crop": 256}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--codec", default="jpeg", help="base codec (jpeg, vvc, hevc...)")
    p.add_argument("--dataset", default="kodak", help="kodak, live1, classic5, vvc-kodak, or a folder")
    p.add_argument("--originals", type=Path, help="originals of a coded dataset (default: beside it in shared/)")
    p.add_argument("--protocol", choices=PROTOCOLS, help="grey (Y, published JPEG tables) or colour "
                   "(default: grey for grey sets, else colour)")
    p.add_argument("--rates", type=lambda t: numbers(t, int), help="native rates: JPEG qualities or QPs "
                   "(default jpeg 5,10,20,30,40; a coded set: all it holds)")
    p.add_argument("--realism", type=realism, default=[0.0, 0.5, 1.0], help="dial settings (default 0,0.5,1)")
    p.add_argument("--steps", type=integer, default=20, help="N, the diffusion steps at realism 1 (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eta", type=fraction, default=0.0, help="dirac's fresh noise per step, 0 (DDIM, default) .. 1 (DDPM)")
    p.add_argument("--detail-sigma", type=detail_sigma, help="dirac's detail scale above realism 0 in pixels "
                   "(default: the weights' setting; 0 = the steps' whole output)")
    p.add_argument("--ensemble", type=ensembles, default=[1], help="dirac's self-ensemble views, each a method of its "
                   "own: 1 (default), 2, 4, 8, or several (e.g. 1,8, compared in one run)")
    p.add_argument("--methods", type=methods, default=",".join(DEFAULT_METHODS),
                   help=f"comma-separated, from {', '.join(DEFAULT_METHODS)} (default all)")
    p.add_argument("--weights", type=Path, help="dirac weights folder (default $DIRAC_WEIGHTS/<codec>, else dirac/weights/<codec>)")
    p.add_argument("--dncnn3-weights", type=Path, help="DnCNN3.mat (default shared/peers/dncnn3)")
    p.add_argument("--limit", type=integer, help="only the first N images (the file is then named -partial)")
    p.add_argument("--crop", type=integer, help="centre-crop images to N x N (the file is then named -partial)")
    p.add_argument("--no-perceptual", action="store_true", help="skip LPIPS, DISTS, FID/KID")
    p.add_argument("--device", help="torch device for dirac and the metric networks (default cpu / cuda)")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: {QUICK['limit']} images, {QUICK['crop']}px crops, first rate, realism 0")
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder (default benchmarks/results)")
    p.add_argument("--tag", default="", help="file name suffix, for a second run of one dataset and protocol "
                   "(e.g. 'dial' for the realism settings at low rates)")
    args = p.parse_args(argv)
    if args.tag and not args.tag.replace("_", "").isalnum():
        p.error(f"--tag must be letters, digits or '_', got {args.tag!r}")
    if args.quick:
        args.limit = args.limit or QUICK["limit"]
        args.crop = args.crop or QUICK["crop"]
        args.realism = [0.0]
    return args


def _mean(rows: List[dict], key: str) -> Optional[float]:
    """Mean over images; null if any image lacks the figure (a partial mean would mislead)."""
    values = [row.get(key) for row in rows]
    return None if not values or any(v is None for v in values) else float(np.mean(values))


def _check_output(name: str, image: str, out, decoded: np.ndarray) -> np.ndarray:
    if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.shape != decoded.shape:
        got = f"{type(out).__name__} {getattr(out, 'dtype', '')} {getattr(out, 'shape', '')}"
        raise DiracError(f"{name} on {image}: expected uint8 {decoded.shape}, got {got}")
    return out


class Run:
    """One benchmark run: its methods, scorers and the JSON it keeps up to date."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.dataset = open_dataset(args.dataset, args.originals)
        self.protocol = args.protocol or default_protocol(self.dataset)
        rates = args.rates or self.dataset.rates() or list(base_codecs.codec_type(args.codec).rate_scale.defaults)
        self.rates = rates[:1] if args.quick else rates
        self.device = args.device or default_device()
        self.peers, self.skipped = peer_registry.make_many(
            args.methods, args.codec, weights=args.weights, realism=args.realism, steps=args.steps,
            seed=args.seed, eta=args.eta, detail_sigma=args.detail_sigma, ensemble=args.ensemble, device=self.device, dncnn3_weights=args.dncnn3_weights)
        for name, reason in self.skipped.items():
            print(f"benchmarks: {reason}", file=sys.stderr)
        if not self.peers:
            raise DiracError("no method can run here: " + "; ".join(self.skipped.values()))
        self.scorer = Scorer(self.protocol, perceptual=not args.no_perceptual, device=self.device)
        self.sets = SetScorer(self.scorer, enabled=not args.no_perceptual)
        self.records: List[dict] = []
        name = run_filename(args.codec, self.dataset.name, self.protocol, args.quick, args.tag,
                            partial=bool(args.limit or args.crop))
        self.path = args.out / name
        self.environment = describe()

    def settings(self) -> dict:
        a = self.args
        n = min(a.limit or len(self.dataset.images), len(self.dataset.images))
        return {
            "tag": a.tag, "rates": self.rates, "realism": a.realism, "steps": a.steps, "seed": a.seed, "eta": a.eta,
            "detail_sigma": a.detail_sigma, "ensemble": a.ensemble,
            "methods": [p.name for p in self.peers], "images": n, "dataset_path": str(self.dataset.path),
            "crop": a.crop, "quick": a.quick, "perceptual": not a.no_perceptual, "device": self.device,
            "fid_protocol": "FID/256: non-overlapping 256x256 crops plus the grid shifted by 128",
            "lpips_net": "alex",
            "psnr": ("on Y (8-bit, whole image)" if self.protocol == "grey"
                     else "on RGB (8-bit, whole image), mean over images"),
            "bpp": "from the real bitstream bytes" + (" of the whole coded picture (crop after decode)"
                                                      if self.dataset.coded and a.crop else ""),
        }

    def document(self, complete: bool) -> dict:
        return {
            "schema": RUN_SCHEMA, "complete": complete,
            "codec": self.args.codec, "dataset": self.dataset.name, "protocol": self.protocol,
            "settings": self.settings(), "environment": self.environment,
            "methods": {p.name: p.info() for p in self.peers}, "skipped": self.skipped,
            "metric_notes": dict(self.scorer.notes), "records": self.records,
            "published": published(self.dataset.name, self.protocol, self.args.codec, self.rates),
        }

    def measure_rate(self, rate: int, progress) -> None:
        rows: Dict[str, List[dict]] = {p.name: [] for p in self.peers}
        native = set()
        for case in cases(self.dataset, self.protocol, self.args.codec, rate, self.args.crop, self.args.limit):
            if rate == self.rates[0]:
                self.sets.add_reference(case.reference)  # originals do not depend on the rate
            native.add(case.native_rate)
            for peer in self.peers:
                progress.set_postfix_str(f"q{rate} {case.image} {peer.name}", refresh=True)
                start = time.perf_counter()
                out = peer.enhance(case.decoded, case.native_rate, case.bitstream, case.latent)
                seconds = time.perf_counter() - start
                out = _check_output(peer.name, case.image, out, case.decoded)
                rows[peer.name].append({"image": case.image, "bpp": case.bpp, "seconds": seconds,
                                        **self.scorer.score(case.reference, out)})
                self.sets.add(peer.name, rate, out)
            progress.update(1)
        for peer in self.peers:
            per_image = rows[peer.name]
            keys = [k for k in per_image[0] if k != "image"] if per_image else []
            self.records.append({"method": peer.name, "rate": rate, "native_rate": sorted(native),
                                 "mean": {k: _mean(per_image, k) for k in keys},
                                 "set": self.sets.compute(peer.name, rate), "per_image": per_image})

    def execute(self) -> Path:
        from tqdm import tqdm

        n = self.settings()["images"]
        with tqdm(total=n * len(self.rates), desc=f"{self.args.codec}/{self.dataset.name}/{self.protocol}",
                  unit="img", disable=None) as progress:
            for rate in self.rates:
                self.measure_rate(rate, progress)
                write_json(self.path, self.document(complete=False))  # partial results survive a crash
        return write_json(self.path, self.document(complete=True))




def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: [Run(args).execute()])


if __name__ == "__main__":
    sys.exit(main())
