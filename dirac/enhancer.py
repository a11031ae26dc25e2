"""``Enhancer``: the user-facing API. Arrays, PIL images, torch tensors or raw codec bytes in,
the same kind out; thin glue over :class:`DiracPipeline` and ``base_codecs``."""
from __future__ import annotations

import contextlib
import importlib.resources
import os
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from diffusers import DDPMScheduler
from diffusers.utils import logging as diffusers_logging
from PIL import Image

import base_codecs
from base_codecs import DiracError

from .arguments import check_device
from .model import ResidualDenoiser
from .pipeline import DiracPipeline
from .sampler import check_seed
from .scheduler import DiracScheduler
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE

ImageInput = Union[np.ndarray, Image.Image, torch.Tensor]


# package data, so an installed wheel carries them as a checkout does
SHIPPED_WEIGHTS = Path(str(importlib.resources.files("dirac") / "weights"))


def default_weights(codec: str = "jpeg") -> Path:
    """Weights for ``codec``: ``$DIRAC_WEIGHTS/<codec>`` (when set and not empty), else those shipped in the package."""
    root = Path(os.environ.get("DIRAC_WEIGHTS") or SHIPPED_WEIGHTS)
    return root / codec


def _how_to_train(codec: str, path: Path) -> str:
    """What to do about missing weights for ``codec``: train them as ``dirac train`` can."""
    from .data import DEGRADATIONS

    if codec not in base_codecs.available():
        return f"{codec!r} is not a known codec (known: {', '.join(base_codecs.available())})"
    if codec in DEGRADATIONS:  # coded on the fly
        sources = ""
    elif codec == "vvc":  # no encoder: pre-coded bitstreams beside their originals
        sources = " --sources ORIGINALS (VVC trains on pre-coded bitstreams)"
    else:
        return f"dirac cannot train {codec} weights yet; give a weights directory (CLI: --weights DIR)"
    return (f"train them with `dirac train --codec {codec} --data DIRS{sources} --out {path}` "
            "or give a weights directory (CLI: --weights DIR)")


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


def _load_pipeline(path: Path) -> DiracPipeline:
    if path.name == "model_index.json" and path.is_file():
        raise DiracError(f"{path} is the weights' index file; give the folder holding it ({path.parent})")
    if not (path / "model_index.json").is_file():
        raise DiracError(f"no dirac weights at {path} (model_index.json missing); give a weights directory (CLI: --weights DIR)")
    tensors = [path / "model" / f"diffusion_pytorch_model.{ext}" for ext in ("safetensors", "bin")]
    if (path / "model").is_dir() and not any(t.is_file() for t in tensors):
        raise DiracError(f"weights at {path} are incomplete: {tensors[0]} is missing")
    try:
        with quiet_diffusers():
            pipeline = DiracPipeline.from_pretrained(str(path))
            if isinstance(pipeline.scheduler, DDPMScheduler):  # saved before DiracScheduler: convert as loaded
                pipeline.register_modules(scheduler=DiracScheduler.from_folder(path))
    except Exception as exc:  # diffusers raises many types for a damaged folder
        raise DiracError(f"weights at {path} are corrupt or incomplete: {exc}") from None
    check_config(pipeline, path)
    if not all(bool(p.isfinite().all()) for p in pipeline.model.parameters()):
        raise DiracError(f"weights at {path} hold NaN or infinite values: they are corrupt")
    return pipeline


def check_config(pipeline: DiracPipeline, path: Path) -> None:
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


class Enhancer:
    """Enhances base-codec decodes with a trained residual diffusion model.

    Stateless between calls: one instance may serve many threads.
    """

    def __init__(self, pipeline: DiracPipeline, device: Union[str, torch.device] = "cpu"):
        self.device = torch.device(check_device(device))
        self.pipeline = pipeline.to(self.device)
        self.pipeline.model.eval().to(memory_format=torch.channels_last)
        self.pipeline.set_progress_bar_config(disable=True)

    @classmethod
    def from_pretrained(
        cls, path: Union[str, Path, None] = None, device: Union[str, torch.device] = "cpu", codec: Optional[str] = None
    ) -> "Enhancer":
        """Load weights saved with ``save_pretrained``; without ``path``, the default weights of
        ``codec`` (default jpeg; :func:`default_weights`). Only JPEG's ship: others are trained
        by the user. With both, the weights must be for ``codec``."""
        if codec is not None and not isinstance(codec, str):
            raise DiracError(f"codec must be a codec name such as 'jpeg', got {codec!r}")
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise DiracError(f"path must be a weights folder (str or Path), got {type(path).__name__}")
        if path is None:
            family = codec or "jpeg"
            path = default_weights(family)
            if not (path / "model_index.json").is_file():
                shipped = SHIPPED_WEIGHTS / family
                if shipped != path and (shipped / "model_index.json").is_file():  # $DIRAC_WEIGHTS hides them
                    raise DiracError(f"no {family} weights at {path}, where $DIRAC_WEIGHTS points; unset it for the "
                                     f"shipped weights in {shipped}, or {_how_to_train(family, path)}")
                raise DiracError(f"no {family} weights at {path}: dirac ships JPEG weights only; {_how_to_train(family, path)}")
        enhancer = cls(_load_pipeline(Path(path)), device)
        if codec is not None and enhancer.codec != codec:
            raise DiracError(f"the weights at {path} enhance {enhancer.codec}, not {codec}")
        return enhancer

    @property
    def codec(self) -> str:
        """The codec family these weights were trained for."""
        return self.pipeline.model.config.codec

    def enhance(
        self,
        image: Union[ImageInput, base_codecs.Decoded],
        rate: Union[float, Sequence[float], base_codecs.RateInfo, None] = None,
        realism: float = 0.0,
        steps: int = 20,
        seed: Optional[int] = None,
        eta: float = 0.0,
        tile: int = DEFAULT_TILE,
        overlap: int = DEFAULT_OVERLAP,
        progress: bool = False,
        detail_sigma: Optional[float] = None,
        precision: str = "auto",
    ) -> ImageInput:
        """Enhance ``image`` (the base decode) coded at native ``rate`` (e.g. JPEG quality).

        ``image`` may be the ``Decoded`` that ``base_codecs`` returns (its rate is then used unless
        ``rate`` is given), and ``rate`` a number, one per image of a batch, or a ``RateInfo``.

        numpy uint8 HxW/HxWx3 and PIL images come back as the same type; torch tensors in
        [0, 1] (CxHxW or BxCxHxW) come back as float tensors on their own device.
        Above realism 0, the steps add detail finer than ``detail_sigma`` pixels to the one-call
        estimate (None: the weights' setting, 1 for the shipped ones; 0: the steps' whole output).
        ``precision``: "fp32", "bf16" (autocast; weights stay fp32) or "auto" (default): bf16 where the
        device runs it natively, which costs under 0.001 dB (benchmarks/README.md), else fp32.
        """
        check_seed(seed)
        if isinstance(image, base_codecs.Decoded):
            image, rate = image.image, image.rate if rate is None else rate
        rate = self._native_rate(rate)
        batch, restore = self._to_batch(image)
        generator = torch.Generator(self.device).manual_seed(int(seed)) if seed is not None else None
        with torch.inference_mode():  # conversions happen in place on the pipeline's output
            result = restore(
                self.pipeline(
                    batch.to(self.device), rate, realism=realism, steps=steps, eta=eta, generator=generator,
                    tile=tile, overlap=overlap, progress=progress, detail_sigma=detail_sigma, precision=precision,
                )
            )
        return result.clone() if isinstance(result, torch.Tensor) else result  # a normal tensor again

    def enhance_decoded(self, decoded: base_codecs.Decoded, **options) -> np.ndarray:
        """Enhance what a base codec's ``decode`` returned, at the rate it read."""
        if not isinstance(decoded, base_codecs.Decoded):
            raise DiracError(f"enhance_decoded takes a base_codecs.Decoded, got {type(decoded).__name__}")
        return self.enhance(decoded, **options)

    def _native_rate(self, rate):
        """The number(s) the network is conditioned on: a ``RateInfo`` must be of this codec and
        carry its value."""
        if rate is None:
            raise DiracError("rate is missing: pass the codec's rate (e.g. JPEG quality), a RateInfo or a Decoded")
        if isinstance(rate, base_codecs.RateInfo):
            if rate.family != self.codec:
                raise DiracError(f"the rate is {rate.family}'s but these weights enhance {self.codec}; load weights for {rate.family}")
            if rate.value is None:
                raise DiracError(f"the {rate.family} data does not say its rate; pass rate= as a number")
            return rate.value
        return rate

    def enhance_frames(
        self, frames: Iterable[ImageInput], rate: float, realism: float = 0.0, seed: int = 0, **options
    ) -> Iterator[ImageInput]:
        """Enhance a stream of video frames lazily, one at a time.

        Every frame is sampled with the same seed, i.e. the same noise at the same pixel
        positions: synthesised texture does not flicker from frame to frame (it is fixed to
        the screen, not to moving objects).
        """
        for frame in frames:
            yield self.enhance(frame, rate, realism=realism, seed=seed, **options)

    def enhance_bytes(self, data: bytes, rate: Optional[float] = None, **options) -> np.ndarray:
        """Decode ``data`` with its base codec (family sniffed, rate read from the data) and enhance;
        an ordinary image file (PNG, TIFF, ...) is taken as a decode of this codec at ``rate``."""
        return self.enhance(self.decode(data, rate), rate, **options)

    def decode(self, data: bytes, rate: Optional[float] = None) -> base_codecs.Decoded:
        """The base decode of ``data``, checked against the codec these weights serve; an image
        file (PNG, TIFF, ...) is taken as a decode of that codec at ``rate``."""
        data = base_codecs.as_bytes(data)
        if base_codecs.images.sniff(data) is not None:
            return base_codecs.decode_input(data, self.codec, rate)
        family = base_codecs.sniff(data)
        if family != self.codec:
            raise DiracError(f"input is {family} but these weights enhance {self.codec}; load weights for {family} (CLI: --weights)")
        return base_codecs.get_codec(family).decode(data)

    @staticmethod
    def _to_batch(image: ImageInput):
        """A Bx{1,3}xHxW float batch in [0, 1] and a function turning the output back."""
        if isinstance(image, torch.Tensor):
            if image.ndim not in (3, 4) or not image.is_floating_point():
                raise DiracError(f"tensor input must be float CxHxW or BxCxHxW in [0, 1], got {tuple(image.shape)} {image.dtype}")
            device = image.device
            batch = image if image.ndim == 4 else image[None]  # the pipeline checks the rest
            return batch, lambda out: (out if image.ndim == 4 else out[0]).to(device, image.dtype)
        as_pil = isinstance(image, Image.Image)
        array = base_codecs.as_uint8_array(image)
        grey = array.ndim == 2
        tensor = torch.from_numpy(array.copy()).float().div_(255)
        tensor = tensor[None, None] if grey else tensor.permute(2, 0, 1)[None]

        def restore(out: torch.Tensor):
            pixels = out[0].mul_(255).round_().clamp_(0, 255).to(torch.uint8).cpu()
            pixels = pixels[0].numpy() if grey else pixels.permute(1, 2, 0).numpy()
            return Image.fromarray(pixels) if as_pil else pixels

        return tensor, restore
