"""Training the neural base codec that ships with the ``neural`` plugin, since no pretrained
CompressAI weights can be downloaded at run time: a narrowed Ballé scale hyperprior (CompressAI's
``bmshj2018-hyperprior`` architecture) per quality index, trained on random crops of the
training images with CompressAI's rate-distortion loss (lambda x 255^2 x MSE + bits per pixel)
and its auxiliary loss for the entropy model's quantiles. The four transforms run in bf16
autocast where the CPU has it natively (about half the step time); the entropy models, whose
likelihoods are differences of nearby CDF values, stay fp32.

Each quality is saved as ``q<index>.pt`` (architecture, quality, state dict) into the folder the
plugin reads, with a CSV log of the training and of the held-out images' real coded bpp and PSNR.
"""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Tuple

import numpy as np

from base_codecs import DiracError

from ..checks import number, whole
from ..io import atomic_file
from ..metrics.fidelity import psnr
from .data import find_images, load_images, split_validation, three_channels

ARCHITECTURE = "bmshj2018-hyperprior"
# CompressAI's MSE lambdas for its quality indices 1..8
LAMBDAS = {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.0130, 5: 0.0250, 6: 0.0483, 7: 0.0932, 8: 0.1800}
LOG_FIELDS = ["step", "seconds", "loss", "bpp_estimate", "mse", "aux", "heldout_bpp", "heldout_psnr", "stored"]


@dataclass
class CodecTrainConfig:
    """One training of the neural base codec, every quality in turn."""

    data: List[str]
    out: str
    qualities: List[int] = field(default_factory=lambda: [1, 3, 5])
    channels: int = 64  # N: the transforms' width (CompressAI's zoo uses 128 at qualities 1..5)
    latent_channels: int = 96  # M: the latent's channels (zoo: 192)
    minutes_per_quality: float = 20.0
    batch: int = 8
    patch: int = 128
    # CompressAI trains at 1e-4 for days; in minutes 5e-4 goes further: quality 3, 5 min, same data and
    # seed: held-out 24.19 dB at 0.435 bpp against 22.59 dB at 0.427 bpp at 1e-4 (benchmarks/README.md)
    lr: float = 5e-4
    precision: str = "auto"  # "bf16" (the transforms in autocast), "fp32", or "auto": bf16 where native
    seed: int = 0

    def __post_init__(self):
        for name in ("channels", "latent_channels", "batch", "patch", "seed"):
            value = whole(name, getattr(self, name))
            if value < (0 if name == "seed" else 1):
                raise DiracError(f"codec training: {name} must be {'at least 0' if name == 'seed' else 'positive'}, got {value}", option=name)
        if self.patch % 64:
            raise DiracError(f"codec training: patch must be a multiple of 64 (the model's stride), got {self.patch}", option="patch")
        for name in ("minutes_per_quality", "lr"):
            if not number(name, getattr(self, name)) > 0:
                raise DiracError(f"codec training: {name} must be positive, got {getattr(self, name)}", option=name)
        if self.precision not in ("auto", "fp32", "bf16"):
            raise DiracError(f"codec training: precision must be auto, fp32 or bf16, got {self.precision!r}", option="precision")
        bad = [q for q in self.qualities if q not in LAMBDAS]
        if not self.qualities or bad:
            raise DiracError(f"codec training: qualities must be among {sorted(LAMBDAS)}, got {self.qualities}", option="qualities")


def random_crops(images: List[np.ndarray], count: int, patch: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` RGB crops (grey images repeated to three channels), randomly flipped, as BxHxWx3 uint8."""
    crops = []
    for _ in range(count):
        image = images[rng.integers(len(images))]
        y, x = rng.integers(image.shape[0] - patch + 1), rng.integers(image.shape[1] - patch + 1)
        crop = image[y : y + patch, x : x + patch]
        crop = three_channels(crop)
        crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return np.stack(crops)


def heldout_rd(net, images: List[np.ndarray], size: int = 256) -> Tuple[float, float]:
    """(mean bpp, mean PSNR) of held-out centre crops really coded with the codec's entropy coder."""
    from base_codecs.neural import NeuralCodec

    from .data import block_aligned_centre_crop

    codec = NeuralCodec(net=net, model=ARCHITECTURE, quality=1)
    bpps, psnrs = [], []
    for image in images:
        crop = block_aligned_centre_crop(image, size)
        decoded = codec.decode(codec.encode(crop))
        bpps.append(decoded.rate.bpp)
        psnrs.append(psnr(crop, decoded.image))
    return float(np.mean(bpps)), float(np.mean(psnrs))


def forward(net, x, bf16: bool) -> dict:
    """A scale hyperprior's training forward (CompressAI's ``ScaleHyperprior.forward``) with its
    transforms in bf16 autocast when ``bf16``: the entropy models take and give fp32."""
    import torch

    def transform(module, value):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return module(value).float()

    y = transform(net.g_a, x)
    z_hat, z_likelihoods = net.entropy_bottleneck(transform(net.h_a, torch.abs(y)))
    y_hat, y_likelihoods = net.gaussian_conditional(y, transform(net.h_s, z_hat))
    return {"x_hat": transform(net.g_s, y_hat), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}


def _train_step(net, x, criterion, optimizer, aux_optimizer, main, bf16: bool) -> Tuple[float, float, float, float]:
    """One rate-distortion step and one step of the entropy model's quantiles: (loss, bpp, MSE, aux loss)."""
    import torch

    net.train()
    losses = criterion(forward(net, x, bf16), x)
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    torch.nn.utils.clip_grad_norm_(main, 1.0)
    optimizer.step()
    aux_loss = net.aux_loss()
    aux_optimizer.zero_grad(set_to_none=True)
    aux_loss.backward()
    aux_optimizer.step()
    return losses["loss"].item(), losses["bpp_loss"].item(), losses["mse_loss"].item(), aux_loss.item()


def train_quality(cfg: CodecTrainConfig, quality: int, train: List[np.ndarray], val: List[np.ndarray], progress: bool = True) -> Path:
    """Train and save one quality; returns the checkpoint's path."""
    import torch
    from compressai.losses import RateDistortionLoss
    from compressai.models import ScaleHyperprior
    from tqdm.auto import tqdm

    from ..core.pixels import pixels_to_tensor
    from ..core.sampler import check_precision

    bf16 = check_precision(cfg.precision, "cpu") == "bf16"
    torch.manual_seed(cfg.seed + quality)
    rng = np.random.default_rng([cfg.seed, quality])
    net = ScaleHyperprior(cfg.channels, cfg.latent_channels)
    main = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
    aux = [p for n, p in net.named_parameters() if n.endswith(".quantiles")]
    optimizer, aux_optimizer = torch.optim.Adam(main, lr=cfg.lr), torch.optim.Adam(aux, lr=1e-3)
    criterion = RateDistortionLoss(lmbda=LAMBDAS[quality])
    out = Path(cfg.out)
    log_path = out / f"q{quality}_log.csv"
    start, step, window = time.time(), 0, []
    with open(log_path, "w", newline="") as log, tqdm(desc=f"quality {quality}", unit="step", disable=not progress) as bar:
        writer = csv.DictWriter(log, fieldnames=LOG_FIELDS)
        writer.writeheader()
        while time.time() - start < cfg.minutes_per_quality * 60:
            x = pixels_to_tensor(random_crops(train, cfg.batch, cfg.patch, rng))
            window.append(_train_step(net, x, criterion, optimizer, aux_optimizer, main, bf16))
            step += 1
            bar.update(1)
            if step % 50 == 0:
                means = np.mean(window, axis=0)
                window = []
                row = dict(zip(LOG_FIELDS[2:6], means.tolist()), step=step, seconds=round(time.time() - start, 1))
                if step % 500 == 0:
                    net.update(force=True)
                    row["heldout_bpp"], row["heldout_psnr"] = heldout_rd(net.eval(), val)
                writer.writerow(row)
                log.flush()
                bar.set_postfix(loss=f"{means[0]:.3f}", bpp=f"{means[1]:.3f}")
    with open(log_path, "a", newline="") as log:  # the last two rows: held out in fp32, then as shipped (fp16)
        for stored in ("fp32", "fp16"):
            if stored == "fp16":
                with torch.no_grad():
                    for parameter in net.parameters():
                        parameter.copy_(parameter.half())
            net.update(force=True)
            bpp, quality_db = heldout_rd(net.eval(), val)
            csv.DictWriter(log, fieldnames=LOG_FIELDS).writerow({"step": step, "seconds": round(time.time() - start, 1),
                                                                 "heldout_bpp": bpp, "heldout_psnr": quality_db, "stored": stored})
    # parameters in fp16 (half the file; they load into fp32); the entropy coder's tables as built from them
    parameters = {name for name, _ in net.named_parameters()}
    state = {key: value.half() if key in parameters else value for key, value in net.state_dict().items()}
    target = out / f"q{quality}.pt"
    with atomic_file(target, "codec weights") as tmp:
        torch.save({"architecture": ARCHITECTURE, "quality": quality, "state_dict": state}, tmp)
    if progress:
        print(f"quality {quality}: {step} steps, held-out {bpp:.3f} bpp at {quality_db:.2f} dB -> {target}")
    return target


def train_codec(cfg: CodecTrainConfig, progress: bool = True) -> List[Path]:
    """Every quality of ``cfg`` in turn, on the training images less every 20th (held out: at
    most eight of them measure the real coded bpp and PSNR)."""
    train, val = split_validation(find_images(cfg.data))
    try:
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        (Path(cfg.out) / ".writable").touch()
        (Path(cfg.out) / ".writable").unlink()
    except OSError as exc:
        raise DiracError(f"codec training: cannot write {cfg.out} ({exc.strerror or exc})", option="out") from None
    train_images, val_images = load_images(train, cfg.patch), load_images(val[:8], 64)
    return [train_quality(cfg, q, train_images, val_images, progress) for q in cfg.qualities]
