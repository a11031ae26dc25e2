"""What the commands that enhance share: their arguments (the input's codec and rate, the dial,
the weights), the checks of those arguments before any decoding, one loaded enhancer per codec
family, the rate given or read from a file, and the loop over many files."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from tqdm.auto import tqdm

import base_codecs
from base_codecs import DiracError

from ..core.rates import native_rate
from ..io import about, read_input

PRECISION_HELP = ("the network's arithmetic: fp32, bf16 autocast, or auto (default): bf16 where the CPU (AVX-512 BF16, AMX) "
                  "or GPU runs it natively, else fp32 (benchmarks/README.md: what it costs)")
WEIGHTS_HELP = "weights directory (default: $DIRAC_WEIGHTS/<codec>, else those shipped in the package, dirac/weights/<codec>)"


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """What every command that enhances asks of its input (its codec family and rate) and which weights to use."""
    p.add_argument("--codec", default="auto", choices=["auto", *base_codecs.families()], help="the codec family of a coded file (auto: as read); for an already decoded image (PNG, TIFF ...) the family it was coded with (auto: jpeg)")
    p.add_argument("--rate", type=float, default=None, help="the rate (JPEG quality, QP, neural quality index): overrides the one read from a coded file; required for an already decoded image")
    p.add_argument("--weights", default=None, help=WEIGHTS_HELP)


def add_enhance_arguments(p: argparse.ArgumentParser, seed_help: str, seed_default: Optional[int]) -> None:
    """What ``enhance`` and ``batch`` share: the input's codec and rate, the dial and the weights."""
    add_source_arguments(p)
    p.add_argument("--realism", type=float, default=0.0, help="0 = highest PSNR (one call) ... 1 = full trajectory, synthesised texture")
    p.add_argument("--steps", type=int, default=20, help="schedule length N, at most 500; realism*N calls run")
    p.add_argument("--seed", type=int, default=seed_default, help=seed_help)
    p.add_argument("--eta", type=float, default=0.0, help="fresh noise per step: 0 = DDIM (default) .. 1 = DDPM")
    p.add_argument("--detail-sigma", type=float, default=None, help="above realism 0, the steps add their detail finer than this many pixels (0.5 .. 64) to the realism-0 output (default: the weights' setting: JPEG 1, VVC 0.75, HEVC 0.5; 0 = the steps' whole output)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto", help=PRECISION_HELP)
    p.add_argument("--ensemble", type=int, default=1, help="average each network call over this many mirror views of "
                   "the picture: 1 (default), 2, 4 or 8; more fidelity (at realism 0, 2: +0.02-0.04 dB, 8: +0.04-0.09 dB) for one call per view")
    p.add_argument("--tile", type=int, default=None, help="tile size in pixels, a multiple of 16 above the 32-pixel overlap (default: the enhancer's, 768); bounds memory")


def add_noise_argument(p: argparse.ArgumentParser) -> None:
    """A video's noise above realism 0 (``enhance`` to a video, ``batch``)."""
    from ..temporal import NOISE_MODES

    p.add_argument("--noise", choices=NOISE_MODES, default="motion",
                   help="a video's frames share one noise field above realism 0: motion (default) carries it along the "
                        "decoded pictures' optical flow, so texture moves with objects; screen pins it to the screen")


def check_dial(args) -> None:
    """Bad dial, noise or tile settings fail once, as bad usage, before any decoding."""
    from ..core.ensemble import check_ensemble
    from ..core.sampler import check_eta, check_seed, check_steps
    from ..core.scheduler import check_detail_sigma
    from ..core.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, check_tiling

    check_steps(args.realism, args.steps)
    check_eta(args.eta)
    if args.detail_sigma is not None:
        check_detail_sigma(args.detail_sigma)
    check_seed(args.seed)
    check_ensemble(args.ensemble)
    check_tiling(DEFAULT_TILE if args.tile is None else args.tile, DEFAULT_OVERLAP)


def dial_options(args) -> dict:
    """The ``Enhancer.enhance`` keywords that ``enhance`` and ``batch`` take from the command line."""
    tile = {} if args.tile is None else {"tile": args.tile}  # none given: the enhancer's default
    return dict(realism=args.realism, steps=args.steps, seed=args.seed, eta=args.eta, detail_sigma=args.detail_sigma,
                precision=args.precision, ensemble=args.ensemble, **tile)


def output_path(text: str, what: str) -> Path:
    """The path ``-o`` names; an empty one would silently mean the current directory."""
    if not text.strip():
        raise DiracError(f"-o is empty; name {what}")
    return Path(text)


class EnhancerCache:
    """One loaded enhancer per codec family, so a mixed batch loads each model once."""

    def __init__(self, weights: Optional[str], device: str):
        self.weights, self.device, self.loaded = weights, device, {}

    def get(self, family: str):
        from ..enhancer import Enhancer

        if family not in self.loaded:  # refuses weights for another codec
            self.loaded[family] = Enhancer.from_pretrained(self.weights, device=self.device, codec=family)
        return self.loaded[family]


def decode_with_rate(src: Path, args, video: bool = False) -> Tuple[str, base_codecs.Decoded, float]:
    """(family, base decode, rate) of the file ``src``: a codec bitstream, or an ordinary image
    file (PNG, TIFF, ...) taken as an already decoded picture; the rate ``--rate`` if given,
    else the one the file carries."""
    decoded = base_codecs.decode_input(read_input(src, video), args.codec, args.rate)
    family = decoded.rate.family
    return family, decoded, native_rate(decoded.rate if args.rate is None else args.rate, family)


def for_each_file(files: List[Path], work: Callable[[Path], Optional[str]], args, desc: str, show: bool = True,
                  alone_raises: bool = True) -> int:
    """``work(file)`` on every file under one progress bar, printing the line it returns; a
    file that fails is named on its own error line and the rest go on (with ``alone_raises``,
    one file alone fails as the command's error). Returns how many failed."""
    failures = 0
    for src in tqdm(files, desc=desc, unit="file", disable=not show or len(files) < 2):
        try:
            message = work(src)
        except DiracError as exc:
            if alone_raises and len(files) == 1:
                raise about(src, exc) from None
            failures += 1
            tqdm.write(f"dirac: error: {about(src, exc).worded(args.flags)}", file=sys.stderr)
            continue
        if message:
            tqdm.write(message)
    return failures
