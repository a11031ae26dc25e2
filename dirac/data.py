"""Training data: random patches of the training images, degraded on the fly through
``base_codecs`` at random rates, plus the per-rate residual statistics."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

import base_codecs
from base_codecs import DiracError

IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".ppm", ".pgm"}


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` luma, rounded to uint8: the grey JPEG protocol's Y."""
    y = 16.0 + rgb.astype(np.float64) @ np.array([65.481, 128.553, 24.966]) / 255.0
    return np.clip(np.round(y), 0, 255).astype(np.uint8)


def find_images(dirs: Sequence[str | Path]) -> List[Path]:
    """Every lossless image under ``dirs`` (recursively), sorted for reproducibility."""
    paths = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise DiracError(f"training data directory not found: {d}")
        paths += [p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    if not paths:
        raise DiracError(f"no training images (PNG/BMP/TIFF/PPM) under {', '.join(map(str, dirs))}")
    return sorted(paths)


def load_image(path: Path) -> np.ndarray:
    """HxW (grey sources) or HxWx3 uint8."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L" if im.mode in ("L", "I;16", "I") else "RGB"))


@dataclass(frozen=True)
class Degradation:
    """How training degrades patches for one codec: its rate keyword and range, colour modes."""

    keyword: str
    low: int
    high: int
    skew: float = 1.0  # rate = low + u**skew * (high - low), u uniform: > 1 favours low values
    grid_step: int = 5
    grey_fraction: float = 0.35
    full_chroma_fraction: float = 0.2

    def sample(self, rng: np.random.Generator) -> Tuple[int, dict]:
        """A random rate (skewed towards the coarse end) and the encode keywords for it."""
        rate = int(round(self.low + rng.random() ** self.skew * (self.high - self.low)))
        sub = "4:4:4" if rng.random() < self.full_chroma_fraction else "4:2:0"
        return rate, {self.keyword: rate, "subsampling": sub}

    def grid(self) -> List[int]:
        """Rates at which residual statistics are measured."""
        return list(range(self.low, self.high + 1, self.grid_step))

    def encode_kwargs(self, rate: float) -> dict:
        return {self.keyword: int(rate)}


DEGRADATIONS: Dict[str, Degradation] = {
    "jpeg": Degradation("quality", 5, 95, skew=2.0),  # IJG quality; median about 27
    "hevc": Degradation("qp", 22, 47, skew=0.5),  # x265 intra QP; median about 40
}


class PatchSampler:
    """Draws (original, base decode, native rate) patch batches, uint8, 3 channels.

    Grey samples (the grey protocol's Y, or grey sources) are coded as grey and repeated
    to three channels, so one model serves grey and colour.
    """

    def __init__(self, images: List[np.ndarray], codec: str, patch: int, seed: int = 0):
        if codec not in DEGRADATIONS:
            raise DiracError(f"training for codec {codec!r} is not supported; supported: {', '.join(DEGRADATIONS)}")
        small = [im.shape for im in images if min(im.shape[:2]) < patch]
        if small:
            raise DiracError(f"{len(small)} training images are smaller than the {patch}px patch")
        self.images, self.patch = images, patch
        self.codec = base_codecs.get_codec(codec)
        self.rates = DEGRADATIONS[codec]
        self.rng = np.random.default_rng(seed)
        areas = np.array([im.shape[0] * im.shape[1] for im in images], dtype=np.float64)
        self.weights = areas / areas.sum()

    def _crop(self) -> np.ndarray:
        im = self.images[self.rng.choice(len(self.images), p=self.weights)]
        y = self.rng.integers(0, im.shape[0] - self.patch + 1)
        x = self.rng.integers(0, im.shape[1] - self.patch + 1)
        crop = np.rot90(im[y : y + self.patch, x : x + self.patch], self.rng.integers(4))
        if self.rng.random() < 0.5:
            crop = crop[:, ::-1]
        if crop.ndim == 3 and self.rng.random() < self.rates.grey_fraction:
            crop = rgb_to_y(crop)
        return np.ascontiguousarray(crop)

    def degrade(self, crop: np.ndarray, kwargs: dict) -> np.ndarray:
        if crop.ndim == 2:
            kwargs = {k: v for k, v in kwargs.items() if k != "subsampling"}
        decoded = self.codec.decode(self.codec.encode(crop, **kwargs)).image
        return decoded

    def batch(self, size: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """originals, decodes (both BxPxPx3 uint8) and native rates (B floats)."""
        originals, decodes, rates = [], [], []
        for _ in range(size):
            crop = self._crop()
            rate, kwargs = self.rates.sample(self.rng)
            decoded = self.degrade(crop, kwargs)
            if crop.ndim == 2:
                crop, decoded = np.repeat(crop[..., None], 3, 2), np.repeat(decoded[..., None], 3, 2)
            originals.append(crop)
            decodes.append(decoded)
            rates.append(rate)
        return np.stack(originals), np.stack(decodes), np.array(rates, dtype=np.float64)

    def residual_stats(self, per_rate: int = 48, quantile: float = 0.999) -> Dict[str, list]:
        """Residual std (sigma) and clip bound (tau, a high quantile of |r|) on a rate grid.

        The same crops and colour modes are coded at every rate, so the curve is smooth.
        """
        crops = [(self._crop(), self.rates.sample(self.rng)[1]) for _ in range(per_rate)]
        sigma, tau = [], []
        for rate in self.rates.grid():
            res = np.concatenate(
                [
                    (crop.astype(np.float32) - self.degrade(crop, {**kwargs, **self.rates.encode_kwargs(rate)})).ravel() / 255.0
                    for crop, kwargs in crops
                ]
            )
            sigma.append(float(np.sqrt(np.mean(res**2))))
            tau.append(float(np.quantile(np.abs(res), quantile)))
        return {"stats_rates": [float(r) for r in self.rates.grid()], "stats_sigma": sigma, "stats_tau": tau}
