"""``dirac train-codec``: train the neural base codec that ships with the ``neural`` plugin."""
from __future__ import annotations

HELP = "train the shipped neural base codec (a narrowed CompressAI scale hyperprior per quality index)"


def add_arguments(p) -> None:
    from base_codecs.neural import SHIPPED_CODEC

    from ..training.neural_codec import CodecTrainConfig

    p.add_argument("--data", nargs="+", required=True, help="directories of lossless training images (every 20th is held out)")
    p.add_argument("--out", default=str(SHIPPED_CODEC), help=f"where q<index>.pt and its log go (default: the plugin's, {SHIPPED_CODEC})")
    p.add_argument("--qualities", type=int, nargs="+", default=[1, 3, 5], help="quality indices (1..8, CompressAI's lambdas) to train, in turn")
    p.add_argument("--minutes", type=float, default=CodecTrainConfig.minutes_per_quality, help="wall-clock minutes per quality")
    p.add_argument("--channels", type=int, default=CodecTrainConfig.channels, help="N, the transforms' width (CompressAI's zoo: 128)")
    p.add_argument("--latent-channels", type=int, default=CodecTrainConfig.latent_channels, help="M, the latent's channels (zoo: 192)")
    p.add_argument("--batch", type=int, default=CodecTrainConfig.batch, help="crops per step")
    p.add_argument("--patch", type=int, default=CodecTrainConfig.patch, help="crop size, a multiple of 64")
    p.add_argument("--lr", type=float, default=CodecTrainConfig.lr, help=f"Adam learning rate (default {CodecTrainConfig.lr:g})")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=CodecTrainConfig.precision,
                   help="the transforms in bf16 autocast (entropy models stay fp32), fp32, or auto: bf16 where the CPU runs it natively")
    p.add_argument("--seed", type=int, default=CodecTrainConfig.seed)


def run(args) -> None:
    from ..training.neural_codec import CodecTrainConfig, train_codec

    cfg = CodecTrainConfig(data=args.data, out=args.out, qualities=args.qualities, minutes_per_quality=args.minutes,
                           channels=args.channels, latent_channels=args.latent_channels, batch=args.batch, patch=args.patch,
                           lr=args.lr, precision=args.precision, seed=args.seed)
    train_codec(cfg)
