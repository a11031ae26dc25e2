"""How the realism end's detail scale (``detail_sigma``) was chosen: on held-out training images.

The weights' training run held out every 20th training image for validation (never a test
set). On centre crops of those, coded at each rate (JPEG quality, HEVC QP, neural quality; VVC: their pre-coded
streams at every QP), the enhancer runs at realism 1 for each candidate scale (0 = the steps'
whole output) and at realism 0; PSNR, LPIPS and DISTS per setting go to
``benchmarks/results/detail-scale-heldout[-hevc|-vvc|-neural].json``. JPEG's shipped value is the one with
the best DISTS summed over the qualities, LPIPS close behind.

    python -m benchmarks.detail_scale [--codec jpeg|hevc|vvc|neural] [--sigmas 0,0.5,0.75,1,1.5,2] [--rates 5,10,20] [--crop 384]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

import base_codecs
from base_codecs import DiracError

from .command import run_command
from .environment import describe
from .options import detail_sigma, integer, numbers
from .protocols import centre_crop
from .results import RESULTS, write_json
from .shared import shared_path

SCHEMA = "dirac.benchmarks.detail_scale/1"


def _run_config(weights: Path) -> dict:
    config = weights / "train_config.json"
    if not config.is_file():
        raise DiracError(f"{config} is missing: the held-out images are those of the run that trained the weights")
    return json.loads(config.read_text())


def heldout_images(weights: Path) -> List[Path]:
    """The validation images of the run that trained ``weights`` (its train_config's data folders,
    found under the shared datasets by name)."""
    from dirac.training.data import find_images, split_validation

    folders = [shared_path("datasets", "train", Path(d).name) for d in _run_config(weights)["data"]]
    return split_validation(find_images(folders))[1]


def heldout_cases(weights: Path, codec: str, rates: List[int], crop: int) -> Iterator[Tuple[str, int, float, np.ndarray, base_codecs.Decoded]]:
    """(image name, rate label, native rate, original, decode) of every held-out case. A run
    that coded its patches on the fly (JPEG, HEVC, neural) held out images: each one's central square,
    (block-aligned for a video codec) is coded at ``rates``. A run on pre-coded streams (VVC) held out streams:
    every QP of each, labelled by the decoder's slice QP, cropped alike."""
    from dirac.training.data import block_aligned_centre_crop, load_coded_pairs, split_validation

    config = _run_config(weights)
    if not config.get("sources"):
        plugin = base_codecs.get_codec(codec)
        for path in heldout_images(weights):
            original = square_crop(path, crop)
            original = block_aligned_centre_crop(original, crop) if plugin.video else original  # 4:2:0 frames: even sides
            for rate in rates:
                yield path.name, rate, rate, original, plugin.decode(plugin.encode(original, **{plugin.rate_scale.keyword: rate}))
        return
    pairs = load_coded_pairs([shared_path("datasets", "vvc", "train", Path(d).name) for d in config["data"]],
                             [shared_path("datasets", "train", Path(d).name) for d in config["sources"]], codec)
    for name in split_validation(sorted(pairs))[1]:
        for original, decoded, rate, _ in pairs[name]:
            yield (name, int(rate), rate, block_aligned_centre_crop(original, crop),
                   base_codecs.Decoded(block_aligned_centre_crop(decoded, crop), base_codecs.RateInfo(codec, rate)))


def square_crop(path: Path, size: int) -> np.ndarray:
    """The central square of the image, ``size`` pixels or its shorter side if that is less."""
    with Image.open(path) as im:
        image = np.asarray(im.convert("RGB"))
    return centre_crop(image, min(*image.shape[:2], size))


def measure(args) -> dict:
    from dirac import Enhancer
    from dirac.core.weights import default_weights
    from dirac.metrics import dists, lpips, psnr

    from .peers.dirac_peer import fingerprint

    weights = Path(args.weights) if args.weights else default_weights(args.codec)
    enhancer = Enhancer.from_pretrained(weights, codec=args.codec)
    settings = [("realism 0", 0.0, None), ("base decode", None, None)]
    settings += [(f"realism 1, detail_sigma {s:g}", 1.0, s) for s in args.sigmas]
    scores, images = {}, []
    rates = args.rates or ([5, 10, 20] if args.codec == "jpeg" else list(base_codecs.codec_type(args.codec).rate_scale.defaults))
    cases = list(heldout_cases(weights, args.codec, rates, args.crop))
    with tqdm(total=len(cases) * len(settings), desc="detail scale", unit="image") as bar:
        for index, (image, label, rate, original, decoded) in enumerate(cases):
            images += [image] if image not in images else []
            for name, realism, sigma in settings:
                out = decoded.image if realism is None else enhancer.enhance(decoded, rate, realism=realism, seed=index, detail_sigma=sigma)
                scores.setdefault((name, label), []).append([psnr(original, out), lpips(out, original), dists(out, original)])
                bar.update()
    rows = [{"setting": name, "quality": label, **dict(zip(("psnr", "lpips", "dists"), np.mean(values, axis=0).tolist()))}
            for (name, label), values in scores.items()]
    return {"schema": SCHEMA, "images": images,
            "settings": {**vars(args), "out": str(args.out), "weights_fingerprint": fingerprint(weights)},
            "environment": describe(), "rows": rows}


def report(data: dict) -> None:
    for row in data["rows"]:
        print(f"rate {row['quality']:>3}  {row['setting']:<32} PSNR {row['psnr']:.3f}  LPIPS {row['lpips']:.4f}  DISTS {row['dists']:.4f}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.detail_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", choices=["jpeg", "hevc", "vvc", "neural"], default="jpeg", help="whose weights and held-out images (default jpeg)")
    parser.add_argument("--sigmas", type=lambda t: [detail_sigma(v) for v in numbers(t)], default=[0.0, 0.5, 0.75, 1.0, 1.5, 2.0],
                        help="candidate scales in pixels (0: the steps' whole output)")
    parser.add_argument("--rates", "--qualities", type=lambda t: numbers(t, int), default=None,
                        help="rates to code at (default: JPEG quality 5,10,20; HEVC QP 22,27,32,37; neural quality 1,3,5; VVC: every QP its streams were coded at)")
    parser.add_argument("--crop", type=lambda t: integer(t, 64), default=384, help="centre crop side, at most (default 384; smaller images are cropped to their shorter side)")
    parser.add_argument("--weights", default=None, help="weights (default: the codec's shipped ones)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    def work():
        data = measure(args)
        report(data)
        yield write_json(args.out / f"detail-scale-heldout{'' if args.codec == 'jpeg' else '-' + args.codec}.json", data)

    return run_command(work)


if __name__ == "__main__":
    sys.exit(main())
