"""``dirac train``: train (or resume training) an enhancer into a run folder."""
from __future__ import annotations

import argparse
import json

from ..training.config import TrainConfig, continued_config

HELP = "train (or resume training) an enhancer"
DESCRIPTION = ("Train an enhancer into --out, resuming its checkpoint or warm-starting from its weights. Options not given "
               "(but --data and --max-minutes) keep the values a run continued in --out saved (train_config.json), else the "
               "defaults shown.")


def _json_object(text: str) -> dict:
    """A JSON object given on the command line."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"fine_channels\": 48}}', got {text!r}")
    return value


def add_arguments(p) -> None:
    p.add_argument("--codec", default=None, help=f"base codec (default {TrainConfig.codec})")
    p.add_argument("--data", nargs="+", required=True, help="directories of lossless training images (or of coded bitstreams with manifest.json, with --sources)")
    p.add_argument("--sources", nargs="+", default=None, help="with pre-coded --data (VVC): directories holding the original images")
    p.add_argument("--out", required=True, help="weights directory; resumes from its checkpoint, or warm-starts from its weights, if present")
    p.add_argument("--steps", type=int, default=None, help=f"total steps, counting those already trained (default {TrainConfig.steps})")
    p.add_argument("--batch", type=int, default=None, help=f"patches per step (default {TrainConfig.batch})")
    p.add_argument("--patch", type=int, default=None, help=f"patch size in pixels, a multiple of 16 (default {TrainConfig.patch})")
    p.add_argument("--lr", type=float, default=None, help=f"peak learning rate (default {TrainConfig.lr:g})")
    p.add_argument("--min-lr", type=float, default=None, help=f"learning rate the cosine decay ends at (default {TrainConfig.min_lr:g})")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    p.add_argument("--checkpoint-minutes", type=float, default=None, help=f"minutes between checkpoints (default {TrainConfig.checkpoint_minutes:g})")
    p.add_argument("--seed", type=int, default=None, help=f"data and noise seed (default {TrainConfig.seed})")
    p.add_argument("--regression-fraction", type=float, default=None,
                   help=f"share of one-call (realism 0) examples per batch (default {TrainConfig.regression_fraction:g})")
    p.add_argument("--perceptual-weight", type=float, default=None,
                   help=f"rho: weight of LPIPS on the diffusion examples' predicted image (default {TrainConfig.perceptual_weight:g})")
    p.add_argument("--init-from", default=None,
                   help="a new run grows its model from these weights (their tensors loaded, new parts starting at zero); "
                   "another codec's weights warm-start this codec's model, with its own residual statistics")
    p.add_argument("--model", type=_json_object, default=None,
                   help='options of a new model as JSON, e.g. \'{"fine_channels": 48}\' (see dirac.core.model.ResidualDenoiser)')
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=None,
                   help=f"bf16 autocast with fp32 master weights, fp32, or auto: bf16 where the CPU or GPU runs it natively (default {TrainConfig.precision})")


def run(args) -> None:
    from ..training.trainer import Trainer

    cfg = continued_config(
        args.out, codec=args.codec, data=args.data, sources=args.sources, steps=args.steps, batch=args.batch, patch=args.patch,
        lr=args.lr, min_lr=args.min_lr, max_minutes=args.max_minutes, checkpoint_minutes=args.checkpoint_minutes, seed=args.seed,
        regression_fraction=args.regression_fraction, perceptual_weight=args.perceptual_weight, init_from=args.init_from,
        precision=args.precision, model=args.model,
    )
    print(f"training {cfg.codec} into {cfg.out}: {cfg.steps} steps, batch {cfg.batch} of {cfg.patch}px, "
          f"lr {cfg.lr:g} -> {cfg.min_lr:g}, regression fraction {cfg.regression_fraction:g}, perceptual weight "
          f"{cfg.perceptual_weight:g}, {cfg.precision} precision, seed {cfg.seed}")
    best = Trainer(cfg).run()
    print(f"best validation PSNR gain {best:.3f} dB; weights in {cfg.out}")
