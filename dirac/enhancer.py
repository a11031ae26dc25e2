"""``Enhancer``: the user-facing API. Arrays, PIL images, torch tensors or raw codec bytes in,
the same kind out; thin glue over :class:`DiracPipeline` and ``base_codecs``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image

import base_codecs
from base_codecs import DiracError

from .checks import check_device
from .core.pipeline import DiracPipeline
from .core.pixels import pixels_to_tensor, tensor_to_pixels
from .core.rates import native_rate
from .core.sampler import check_seed
from .core.tiling import DEFAULT_OVERLAP, DEFAULT_TILE
from .core.weights import SHIPPED_WEIGHTS, default_weights

ImageInput = Union[np.ndarray, Image.Image, torch.Tensor]


def _how_to_train(codec: str, path: Path) -> str:
    """What to do about missing weights for ``codec``: train them as ``dirac train`` can."""
    if codec not in base_codecs.families():
        return f"{codec!r} is not a known codec (known: {', '.join(base_codecs.families())})"
    if base_codecs.codec_type(codec).degradation is not None:  # coded on the fly
        sources = ""
    else:  # no encoder here: pre-coded bitstreams beside their originals
        sources = " --sources ORIGINALS (trained on pre-coded bitstreams)"
    return f"train them with `dirac train --codec {codec} --data DIRS{sources} --out {path}` or give a weights directory"


class Enhancer:
    """Enhances base-codec decodes with a trained residual diffusion model.

    Stateless between calls: one instance may serve many threads.
    """

    def __init__(self, pipeline: DiracPipeline, device: Union[str, torch.device] = "cpu"):
        self.device = torch.device(check_device(device))
        self.pipeline = pipeline.to(self.device)
        self.pipeline.model.eval().to(memory_format=torch.channels_last)

    @classmethod
    def from_pretrained(
        cls, path: Union[str, Path, None] = None, device: Union[str, torch.device] = "cpu", codec: Optional[str] = None
    ) -> "Enhancer":
        """Load weights saved with ``save_pretrained``; without ``path``, the default weights of
        ``codec`` (default jpeg; :func:`default_weights`). JPEG's, HEVC's and VVC's ship; others are
        trained by the user. With both, the weights must be for ``codec``."""
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
                                     f"shipped weights in {shipped}, or {_how_to_train(family, path)}", option="weights")
                families = ", ".join(sorted(p.name for p in SHIPPED_WEIGHTS.iterdir() if (p / "model_index.json").is_file()))
                raise DiracError(f"no {family} weights at {path}: dirac ships weights for {families} only; "
                                 f"{_how_to_train(family, path)}", option="weights")
        enhancer = cls(DiracPipeline.from_pretrained(path), device)
        if codec is not None and enhancer.codec != codec:
            raise DiracError(f"the weights at {path} enhance {enhancer.codec}, not {codec}", option="weights")
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
        noise: Optional[torch.Tensor] = None,
        ensemble: int = 1,
    ) -> ImageInput:
        """Enhance ``image`` (the base decode) coded at native ``rate`` (e.g. JPEG quality).

        ``image`` may be the ``Decoded`` that ``base_codecs`` returns (its rate is then used unless
        ``rate`` is given), and ``rate`` a number, one per image of a batch, or a ``RateInfo``.
        Weights conditioned on a learned codec's latent need the ``Decoded`` (or :meth:`enhance_bytes`),
        which carries it.

        numpy uint8 HxW/HxWx3 and PIL images come back as the same type; torch tensors in
        [0, 1] (CxHxW or BxCxHxW) come back as float tensors on their own device.
        Above realism 0, the steps add detail finer than ``detail_sigma`` pixels to the one-call
        estimate (None: the weights' setting: 1 for the shipped JPEG, 0.75 VVC, 0.5 HEVC; 0: the steps' whole output).
        ``precision``: "fp32", "bf16" (autocast; weights stay fp32) or "auto" (default): bf16 where the
        device runs it natively, which costs under 0.001 dB (benchmarks/README.md), else fp32.
        ``noise`` (3xHxW, or Bx3xHxW for a batch, standard normal; None: drawn from ``seed``) is the
        sampling's first noise draw: a video's frames pass noise carried along their motion.
        ``ensemble`` (1, 2, 4 or 8) averages each network call over as many mirror views of the
        picture: at realism 0, 2 add 0.02-0.04 dB for twice the time, 8 add 0.04-0.09 dB for 8 times.
        """
        check_seed(seed)
        latent = None
        if isinstance(image, base_codecs.Decoded):  # a learned codec's decoded latent goes along, for weights that use it
            latent = None if image.latent is None else torch.from_numpy(image.latent)[None]
            image, rate = image.image, image.rate if rate is None else rate
        rate = native_rate(rate, self.codec)
        batch, restore = self._to_batch(image)
        if noise is not None:
            if not isinstance(noise, torch.Tensor) or noise.ndim not in (3, 4):
                raise DiracError(f"noise must be a 3xHxW or Bx3xHxW torch tensor, got {getattr(noise, 'shape', type(noise).__name__)}")
            noise = (noise if noise.ndim == 4 else noise[None]).to(self.device)
        generator = torch.Generator(self.device).manual_seed(int(seed)) if seed is not None else None
        with torch.inference_mode():  # conversions happen in place on the pipeline's output
            result = restore(
                self.pipeline(
                    batch.to(self.device), rate, realism=realism, steps=steps, eta=eta, generator=generator,
                    tile=tile, overlap=overlap, progress=progress, detail_sigma=detail_sigma, precision=precision,
                    noise=noise, latent=latent, ensemble=ensemble,
                )
            )
        return result.clone() if isinstance(result, torch.Tensor) else result  # a normal tensor again

    def enhance_decoded(self, decoded: base_codecs.Decoded, **options) -> np.ndarray:
        """Enhance what a base codec's ``decode`` returned, at the rate it read."""
        if not isinstance(decoded, base_codecs.Decoded):
            raise DiracError(f"enhance_decoded takes a base_codecs.Decoded, got {type(decoded).__name__}")
        return self.enhance(decoded, **options)

    def enhance_frames(
        self, frames: Iterable[Union[ImageInput, base_codecs.Decoded]], rate: Optional[float] = None, realism: float = 0.0,
        seed: int = 0, noise: str = "motion", **options
    ) -> Iterator[ImageInput]:
        """Enhance a stream of video frames (uint8 arrays, PIL images or ``Decoded``) lazily, one
        at a time: each at ``rate``, or, where the frames are the ``Decoded`` pictures of a codec's
        ``iter_decoded``, each at its own rate.

        Above realism 0 the frames share one noise field so synthesised texture does not flicker:
        ``noise`` "motion" (default) carries it from frame to frame along the decoded pictures'
        optical flow, so texture moves with objects (:mod:`dirac.temporal`); "screen" draws the
        same noise at the same pixels every frame, pinning texture to the screen.
        """
        from .temporal import frame_noise

        noise_of = frame_noise(noise, seed, realism, options.get("steps", 20))
        for frame in frames:
            pixels = frame.image if isinstance(frame, base_codecs.Decoded) else frame
            yield self.enhance(frame, rate, realism=realism, seed=seed, noise=noise_of(pixels), **options)

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
            raise DiracError(f"input is {family} but these weights enhance {self.codec}; load weights for {family}", option="weights")
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

        def restore(out: torch.Tensor):
            pixels = tensor_to_pixels(out)
            return Image.fromarray(pixels) if as_pil else pixels

        return pixels_to_tensor(base_codecs.as_uint8_array(image)), restore
