"""``DiracPipeline``: model + scheduler as a diffusers pipeline, the idiom diffusers users know.

Takes base decodes as float tensors in [0, 1] (Bx1xHxW grey or Bx3xHxW RGB) and a native
rate; returns enhanced tensors of the same shape. The dial lives in :mod:`dirac.core.sampler`,
late start, thresholding and the detail scale in :mod:`dirac.core.scheduler`, tiling in
:mod:`dirac.core.tiling`. ``from_pretrained`` refuses a damaged or foreign folder in one line.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import logging as diffusers_logging
from diffusers.utils.torch_utils import randn_tensor

from base_codecs import DiracError

from ..checks import number
from .ensemble import check_ensemble, self_ensemble
from .model import ResidualDenoiser
from .rates import interpolate_stat, normalise_rate
from .sampler import check_precision, check_steps, sample_residual
from .scheduler import DiracScheduler, check_detail_sigma
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE, apply_tiled, check_tiling


def check_images(images) -> None:
    """A batch the pipeline takes: a float Bx1xHxW or Bx3xHxW tensor of finite values, not empty."""
    if not isinstance(images, torch.Tensor):
        raise DiracError(f"expected a torch tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise DiracError(f"expected a Bx1xHxW or Bx3xHxW tensor, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise DiracError(f"expected a float tensor in [0, 1], got {images.dtype}")
    if images.shape[0] == 0:
        raise DiracError("got an empty batch (no images)")
    if 0 in images.shape[2:]:
        raise DiracError(f"image is empty (shape {tuple(images.shape)})")
    low, high = images.aminmax()  # NaN and infinities reach the ends, without a full-size mask
    if not bool(low.isfinite() & high.isfinite()):
        raise DiracError("tensor input holds NaN or infinite values")


@contextlib.contextmanager
def quiet_diffusers():
    """Loading without diffusers' progress bar (noise for two small files) or its log lines on
    odd files: the one-line error that follows says what is wrong."""
    was_enabled, verbosity = diffusers_logging.is_progress_bar_enabled(), diffusers_logging.get_verbosity()
    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity(diffusers_logging.CRITICAL)
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(verbosity)
        if was_enabled:
            diffusers_logging.enable_progress_bar()


def check_config(pipeline: "DiracPipeline", path: Path) -> None:
    """Parts, statistics and schedule a sampler can use, or a DiracError naming the problem."""
    model, scheduler = pipeline.model, pipeline.scheduler
    if not (isinstance(model, ResidualDenoiser) and isinstance(scheduler, DiracScheduler)):
        raise DiracError(f"weights at {path} are not dirac weights: their model is a {type(model).__name__}, "
                         f"their scheduler a {type(scheduler).__name__}")
    cfg = model.config
    try:
        rates, sigma, tau = (np.asarray(v, dtype=np.float64) for v in (cfg.stats_rates, cfg.stats_sigma, cfg.stats_tau))
    except (TypeError, ValueError):
        raise DiracError(f"weights at {path}: per-rate statistics must be lists of numbers") from None
    if not (rates.ndim == sigma.ndim == tau.ndim == 1 and len(rates) == len(sigma) == len(tau) > 0):
        raise DiracError(f"weights at {path}: per-rate statistics are missing or of unequal length")
    if not (np.isfinite(np.concatenate([rates, sigma, tau])).all() and (sigma > 0).all() and (tau > 0).all()):
        raise DiracError(f"weights at {path}: per-rate statistics must be finite and positive")
    if scheduler.config.num_train_timesteps != cfg.num_train_timesteps:
        raise DiracError(f"weights at {path}: the scheduler's noise schedule has {scheduler.config.num_train_timesteps} "
                         f"timesteps, the model's {cfg.num_train_timesteps}")


class DiracPipeline(DiffusionPipeline):
    """Residual diffusion enhancement of a base codec's reconstruction."""

    def __init__(self, model: ResidualDenoiser, scheduler: DiracScheduler):
        super().__init__()
        self.register_modules(model=model, scheduler=scheduler)
        self.set_progress_bar_config(desc="enhance", unit="call")

    @classmethod
    def from_pretrained(cls, path: Union[str, Path], **options) -> "DiracPipeline":
        """Weights saved with ``save_pretrained``, checked: a missing, damaged or foreign folder is
        a one-line DiracError. The parts are read by their folders, not by the module names in
        ``model_index.json``, so folders saved before a module moved, or before
        :class:`DiracScheduler` (a DDPMScheduler's config), still load."""
        if options:
            raise DiracError(f"dirac weights load from a local folder, in fp32, without options (got {', '.join(sorted(options))}); "
                             "move the pipeline with .to(device)")
        path = Path(path)
        if path.name == "model_index.json" and path.is_file():
            raise DiracError(f"{path} is the weights' index file; give the folder holding it ({path.parent})", option="weights")
        if not (path / "model_index.json").is_file():
            raise DiracError(f"no dirac weights at {path} (model_index.json missing); give a weights directory", option="weights")
        tensors = [path / "model" / f"diffusion_pytorch_model.{ext}" for ext in ("safetensors", "bin")]
        if (path / "model").is_dir() and not any(t.is_file() for t in tensors):
            raise DiracError(f"weights at {path} are incomplete: {tensors[0]} is missing")
        try:
            index = json.loads((path / "model_index.json").read_text())
            model, scheduler = (str(index[part][-1]) for part in ("model", "scheduler"))
        except Exception as exc:  # not JSON, or not a pipeline's index
            raise DiracError(f"weights at {path} are corrupt or incomplete: model_index.json: {exc}") from None
        if model != ResidualDenoiser.__name__ or scheduler not in (DiracScheduler.__name__, "DDPMScheduler"):
            raise DiracError(f"weights at {path} are not dirac weights: their model is a {model}, their scheduler a {scheduler}")
        try:
            with quiet_diffusers():
                pipeline = cls(ResidualDenoiser.from_pretrained(str(path / "model")), DiracScheduler.from_folder(path))
        except Exception as exc:  # diffusers raises many types for a damaged folder
            raise DiracError(f"weights at {path} are corrupt or incomplete: {exc}") from None
        check_config(pipeline, path)
        if not all(bool(p.isfinite().all()) for p in pipeline.model.parameters()):
            raise DiracError(f"weights at {path} hold NaN or infinite values: they are corrupt")
        return pipeline

    def residual_scale(self, rate: float) -> tuple[float, float]:
        """(sigma, tau) at ``rate``: residual std and clip bound, in [0, 1] pixel units."""
        cfg = self.model.config
        return interpolate_stat(cfg.stats_rates, cfg.stats_sigma, rate), interpolate_stat(cfg.stats_rates, cfg.stats_tau, rate)

    @torch.inference_mode()
    def __call__(
        self,
        images: torch.Tensor,
        rate: Union[float, Sequence[float]],
        realism: float = 0.0,
        steps: int = 20,
        eta: float = 0.0,
        generator: Optional[torch.Generator] = None,
        tile: int = DEFAULT_TILE,
        overlap: int = DEFAULT_OVERLAP,
        progress: bool = False,
        detail_sigma: Optional[float] = None,
        precision: str = "auto",
        noise: Optional[torch.Tensor] = None,
        latent: Optional[torch.Tensor] = None,
        ensemble: int = 1,
    ) -> torch.Tensor:
        """``detail_sigma`` None: the scheduler's (see :mod:`dirac.core.scheduler`); 0 keeps the trajectory whole.
        ``noise``: the sampling's first noise draw, Bx3xHxW standard normal, one per image (None: from
        ``generator``); a video passes noise carried along its motion (:mod:`dirac.temporal`).
        ``latent``: a learned codec's decoded latents, BxCxhxw (``Decoded.latent``), which weights
        with ``latent_channels`` need and others ignore.
        ``ensemble``: views of the picture (1, 2, 4 or 8) each network call averages over
        (:mod:`dirac.core.ensemble`): more fidelity for one call per view.
        ``precision`` "bf16" runs the network under bf16 autocast, "fp32" without; "auto" (default):
        bf16 where the device runs it natively (AVX-512 BF16 or AMX CPUs, most GPUs)."""
        check_images(images)
        ensemble = check_ensemble(ensemble)
        if ensemble > 1 and self.model.config.latent_channels:
            raise DiracError("ensemble works on pixels alone: these weights also read a codec latent, which has no mirror image",
                             option="ensemble")
        precision = check_precision(precision, images.device)
        detail_sigma = check_detail_sigma(self.scheduler.config.detail_sigma if detail_sigma is None else detail_sigma)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise DiracError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        scalar = isinstance(rate, (str, bytes)) or not hasattr(rate, "__iter__") or getattr(rate, "ndim", 1) == 0
        rates = [number("rate", rate)] * images.shape[0] if scalar else [number("rate", r) for r in rate]
        if len(rates) != images.shape[0]:
            raise DiracError(f"got {len(rates)} rates for a batch of {images.shape[0]} images")
        tile, overlap = check_tiling(tile, overlap, self.model.stride)
        total = images.shape[0] * check_steps(realism, steps, self.scheduler.config.t_start_min)
        bar = self.progress_bar(total=total) if progress and total > 1 else None  # diffusers' bar, as configured
        tick = bar.update if bar is not None else lambda n=1: None
        options = dict(realism=realism, steps=steps, eta=eta, generator=generator, detail_sigma=detail_sigma)
        if noise is not None and (not isinstance(noise, torch.Tensor) or not noise.is_floating_point()
                                  or tuple(noise.shape) != (images.shape[0], 3, *images.shape[2:])):
            raise DiracError(f"noise must be a float tensor of shape {(images.shape[0], 3, *images.shape[2:])}, got "
                             f"{tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__}")
        per_image = [None] * len(rates) if noise is None else noise
        latents = self._latents(latent, images)
        out = [self._enhance_one(img[None], r, tile, overlap, tick, options, precision, n, lat, ensemble)
               for img, r, n, lat in zip(images, rates, per_image, latents)]
        if bar is not None:
            bar.close()
        return out[0] if len(out) == 1 else torch.cat(out)

    def _latents(self, latent, images: torch.Tensor) -> list:
        """One latent (1xCxhxw, cut to the picture padded to the stride) per image, or Nones for
        weights that take none."""
        channels = self.model.config.latent_channels
        if not channels:
            return [None] * images.shape[0]
        if latent is None:
            raise DiracError(f"these {self.model.config.codec} weights are conditioned on the codec's decoded latent "
                             f"({channels} channels): give the bitstream or the Decoded its decoder returns, not pixels alone",
                             option="latent")
        if not isinstance(latent, torch.Tensor) or latent.ndim != 4 or latent.shape[:2] != (images.shape[0], channels):
            raise DiracError(f"these {self.model.config.codec} weights read a latent of {channels} channels, one per image; got "
                             f"{tuple(getattr(latent, 'shape', ())) or type(latent).__name__} (a stream of another codec model?)",
                             option="latent")
        size = [-(-n // self.model.stride) for n in images.shape[2:]]  # the picture padded to the stride
        if latent.shape[2] < size[0] or latent.shape[3] < size[1]:
            raise DiracError(f"a {latent.shape[2]}x{latent.shape[3]} latent does not cover a {images.shape[2]}x{images.shape[3]} "
                             f"picture at stride {self.model.stride}", option="latent")
        return list(latent[:, :, : size[0], : size[1]].float().to(images.device).split(1))

    def _enhance_one(self, image, rate, tile, overlap, tick, options, precision, noise=None, latent=None,
                     ensemble=1) -> torch.Tensor:
        """One image. Full-size float tensors are few (the input, one accumulator, one output):
        tiles are cut, padded to the network stride and scaled one at a time."""
        codec = self.model.config.codec
        rate_unit = normalise_rate(codec, rate)
        sigma, tau = self.residual_scale(float(rate))
        grey = image.shape[1] == 1
        x = image.float().expand(-1, 3, -1, -1)  # a view: grey costs no extra memory
        height, width = x.shape[-2:]
        multiple = self.model.stride
        padded = (1, 3, height + -height % multiple, width + -width % multiple)
        rate_t = torch.tensor([rate_unit], device=x.device)

        def network(z_t: torch.Tensor, x_tile: torch.Tensor, t_t: torch.Tensor, at) -> torch.Tensor:
            x_tile = x_tile.clamp(0, 1).mul_(2).sub_(1).contiguous(memory_format=torch.channels_last)
            under = None
            if latent is not None:  # the latent under this tile
                top, left = at[0] // multiple, at[1] // multiple
                under = latent[:, :, top : top + z_t.shape[2] // multiple, left : left + z_t.shape[3] // multiple]
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                return self.model(z_t, x_tile, t_t, rate_t, under).float()

        def denoise(z_t: torch.Tensor, t: int) -> torch.Tensor:
            t_t = torch.tensor([t], device=x.device)
            return self_ensemble(lambda z, xv: apply_tiled(lambda zt, xt, at: network(zt, xt, t_t, at), z, xv, tile, overlap),
                                 z_t, x, ensemble)

        if noise is not None and padded[2:] != (height, width):  # the padding's noise is drawn
            full = randn_tensor(padded, generator=options["generator"], device=x.device)
            full[0, :, :height, :width] = noise
            noise = full
        scheduler = DiracScheduler.from_config(self.scheduler.config)  # its own: steps change a scheduler's state
        z_0 = sample_residual(
            denoise, torch.Size(padded), scheduler, scheduler.t_start(rate_unit), tau=tau / sigma, device=x.device,
            progress=tick, noise=None if noise is None else noise.reshape(padded).to(x.device), **options,
        )
        out = z_0[:, :, :height, :width].mul_(sigma).add_(x).clamp_(0, 1)  # in place: no new full-size tensor
        return out.mean(dim=1, keepdim=True) if grey else out
