"""Training data: random patches of the training images, degraded on the fly through
``base_codecs`` at random rates, plus the per-rate residual statistics."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

import base_codecs
from base_codecs import LATENT_STRIDE, DiracError, images

from ..io import unique_files
from ..metrics.fidelity import y_channel

IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".ppm", ".pgm"}
POOL_SIZE = 64  # coded crops kept for reuse by a slow encoder's batches


class Pair(NamedTuple):
    """An original, its base decode, the rate as the decoder reports it and, from a learned
    codec, its decoded latent (Cxhxw at ``base_codecs.LATENT_STRIDE``; None from other codecs)."""

    original: np.ndarray
    decoded: np.ndarray
    rate: float
    latent: Optional[np.ndarray] = None


class Batch(NamedTuple):
    """Training patches: originals and decodes (BxPxPx3 uint8), rates (B floats) and latents
    (BxCxP/16xP/16 float32, or None)."""

    originals: np.ndarray
    decodes: np.ndarray
    rates: np.ndarray
    latents: Optional[np.ndarray] = None


def stack(pairs: Sequence[Pair]) -> Batch:
    """Patches of one size as a :class:`Batch` (decodes as RGB)."""
    latents = None if pairs[0].latent is None else np.stack([p.latent for p in pairs])
    return Batch(np.stack([three_channels(p.original) for p in pairs]), np.stack([three_channels(p.decoded) for p in pairs]),
                 np.array([p.rate for p in pairs], dtype=np.float64), latents)


def cut(pair: Pair, y: int, x: int, height: int, width: int) -> Pair:
    """The part of ``pair`` at (y, x), its latent cut alike (offsets and sizes on the 16-pixel grid)."""
    latent = pair.latent
    if latent is not None:
        s = LATENT_STRIDE
        latent = np.ascontiguousarray(latent[:, y // s : (y + height) // s, x // s : (x + width) // s])
    return Pair(*(np.ascontiguousarray(im[y : y + height, x : x + width]) for im in pair[:2]), pair.rate, latent)


def find_images(dirs: Sequence[str | Path]) -> List[Path]:
    """Every lossless image under ``dirs`` (recursively), sorted for reproducibility."""
    paths = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise DiracError(f"training data {d} is {'a file, not' if d.exists() else 'not found; give'} a directory of images")
        paths += [p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    if not paths:
        raise DiracError(f"no training images (PNG/BMP/TIFF/PPM) under {', '.join(map(str, dirs))}")
    return unique_files(sorted(paths))  # a folder named twice gives its images once


def split_validation(items: List, every: int = 20) -> tuple[List, List]:
    """Hold out every ``every``-th training image for validation (never a test set)."""
    if len(items) < 2:
        raise DiracError(f"training needs at least 2 images (one in {every} is held out for validation), found {len(items)}")
    val = items[::every]
    return [p for p in items if p not in val], val


def degradation_of(codec: str) -> base_codecs.Degradation:
    """How training codes plain images with ``codec`` (its plugin says), or a DiracError where it
    cannot: training from plain images codes them on the fly, so only codecs with an encoder can."""
    degradation = base_codecs.codec_type(codec).degradation
    if degradation is None:
        able = [f for f in base_codecs.families() if base_codecs.codec_type(f).degradation is not None]
        raise DiracError(f"{codec} cannot be coded on the fly (only {', '.join(able)} can); give pre-coded bitstreams "
                         "as the data and their originals as the sources", option="sources")
    return degradation


def load_images(paths: Sequence[Path], patch: int) -> List[np.ndarray]:
    """Every image of ``paths``, once none is smaller than ``patch`` (validation crops too are cut
    on the block grid): a too-small file is named, not met later as an empty crop."""
    loaded = [load_image(p) for p in paths]
    small = [p for p, im in zip(paths, loaded) if min(im.shape[:2]) < patch]
    if small:
        raise DiracError(f"{len(small)} training images are smaller than the {patch}px patch (e.g. {small[0]}); "
                         "remove them or give a smaller patch", option="patch")
    return loaded


def three_channels(image: np.ndarray) -> np.ndarray:
    """``image`` as HxWx3: a grey one repeated to the three channels one model serves."""
    return np.repeat(image[..., None], 3, 2) if image.ndim == 2 else image


def load_image(path: Path) -> np.ndarray:
    """HxW (grey sources) or HxWx3 uint8, by the rules every other image input follows
    (``base_codecs.images``: 16-bit keeps the top 8 bits, alpha composited onto white)."""
    return images.decode_file(path)


class PatchSampler:
    """Draws patch batches (:class:`Batch`: originals, base decodes, native rates, latents), uint8, 3 channels.

    Grey samples (the grey protocol's Y, or grey sources) are coded as grey and repeated
    to three channels, so one model serves grey and colour.
    """

    def __init__(self, images: List[np.ndarray], codec: str, patch: int, seed: int = 0):
        self.rates = degradation_of(codec)
        small = [im.shape for im in images if min(im.shape[:2]) < patch]
        if small:
            raise DiracError(f"{len(small)} training images are smaller than the {patch}px patch")
        self.images, self.patch = images, patch
        self.codec = base_codecs.get_codec(codec)
        self.rng = np.random.default_rng(seed)
        areas = np.array([im.shape[0] * im.shape[1] for im in images], dtype=np.float64)
        self.weights = areas / areas.sum()
        self.pool: List[Pair] = []  # recently coded crops, where the degradation reuses them

    def _crop(self, rng: np.random.Generator, size: int = 0) -> np.ndarray:
        """A random square of ``size`` pixels (the patch by default; at most the image's side)."""
        im = self.images[rng.choice(len(self.images), p=self.weights)]
        size = min(size or self.patch, *im.shape[:2])
        y = rng.integers(0, im.shape[0] - size + 1)
        x = rng.integers(0, im.shape[1] - size + 1)
        crop = np.rot90(im[y : y + size, x : x + size], rng.integers(4))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if crop.ndim == 3 and rng.random() < self.rates.grey_fraction:
            crop = y_channel(crop)
        return np.ascontiguousarray(crop)

    def code(self, crop: np.ndarray, rate: int, subsampling: Optional[str]) -> Pair:
        """``crop`` coded and decoded at ``rate`` (grey crops have no chroma to subsample)."""
        options = {self.codec.rate_scale.keyword: int(rate)}
        if crop.ndim == 3 and subsampling is not None:
            options["subsampling"] = subsampling
        decoded = self.codec.decode(self.codec.encode(crop, **options))
        return Pair(crop, decoded.image, rate, decoded.latent)

    def _coded(self, size: int = 0) -> Pair:
        """A fresh random crop of ``size`` pixels, coded at a random rate."""
        crop = self._crop(self.rng, size)
        return self.code(crop, *self.rates.sample(self.rng))

    def batch(self, size: int) -> Batch:
        """Patches of the native rates (as :class:`Batch`).

        A codec whose degradation reuses coded crops (x265) codes ``size / reuse`` crops of twice
        the patch size per batch (``size`` for the first) into a pool of the :data:`POOL_SIZE`
        latest, and cuts the batch from the pool: each coded crop serves about ``reuse`` patches."""
        if self.rates.reuse == 1:  # a latent covers the crop as padded by the codec: cut to the patch
            return stack([cut(self._coded(), 0, 0, self.patch, self.patch) for _ in range(size)])
        fresh = size if not self.pool else max(1, round(size / self.rates.reuse))  # the first batch: one crop per patch
        self.pool = (self.pool + [self._coded(2 * self.patch) for _ in range(fresh)])[-POOL_SIZE:]
        return cut_patches(self.pool, None, size, self.patch, self.rng)

    def fixed_crops(self, size: int = 256) -> List[Pair]:
        """Validation examples: centre crops coded at a coarse and a medium rate (one where the grid
        has three, as the neural codec's), grey and colour."""
        grid = self.rates.grid()
        subsampling = None if self.rates.full_chroma_fraction is None else "4:2:0"
        examples = []
        for im in self.images:
            crop = block_aligned_centre_crop(im, size)
            for rate in dict.fromkeys((grid[1], grid[len(grid) // 3])):  # one rate where they coincide
                for c in [crop] if crop.ndim == 2 else [crop, y_channel(crop)]:
                    examples.append(self.code(c, rate, subsampling))
        return examples

    def residual_stats(self, per_rate: int = 48, quantile: float = 0.999, seed: int = 0) -> Dict[str, list]:
        """Residual std (sigma) and clip bound (tau, a high quantile of |r|) on a rate grid.

        The same crops and colour modes are coded at every rate, so the curve is smooth; the
        crops come from ``seed`` alone, so every process of a run gets the same statistics.
        """
        rng = np.random.default_rng(seed)
        crops = [(self._crop(rng), self.rates.sample(rng)[1]) for _ in range(per_rate)]
        sigma, tau = [], []
        for rate in self.rates.grid():
            res = np.concatenate(
                [
                    (crop.astype(np.float32) - self.code(crop, rate, subsampling).decoded).ravel() / 255.0
                    for crop, subsampling in crops
                ]
            )
            s, t = residual_summary(res, quantile)
            sigma.append(s)
            tau.append(t)
        return {"stats_rates": [float(r) for r in self.rates.grid()], "stats_sigma": sigma, "stats_tau": tau}


def centre_window(shape: Sequence[int], size: int) -> Tuple[int, int, int, int]:
    """(y, x, height, width) of the central region of at most ``size`` pixels a side, on the 16-pixel block grid."""
    h, w = (min(size, s - s % 16) for s in shape[:2])
    return (shape[0] - h) // 2 // 16 * 16, (shape[1] - w) // 2 // 16 * 16, h, w


def block_aligned_centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central region of at most ``size`` pixels a side, on the 16-pixel block grid."""
    y0, x0, h, w = centre_window(image.shape, size)
    return np.ascontiguousarray(image[y0 : y0 + h, x0 : x0 + w])


def residual_summary(residuals: np.ndarray, quantile: float) -> Tuple[float, float]:
    """(sigma, tau) of residuals in [0, 1] pixel units."""
    return float(np.sqrt(np.mean(residuals**2))), float(np.quantile(np.abs(residuals), quantile))


def _manifest_entries(manifest: Path) -> List[Tuple[str, str, Tuple[int, int, int, int]]]:
    """(source name, bitstream path, crop x0 y0 w h) of every entry, or a one-line error."""
    import json

    try:
        entries = json.loads(manifest.read_text())
    except (OSError, ValueError) as e:
        raise DiracError(f"{manifest}: unreadable ({e})") from None
    whole = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
    for i, e in enumerate(entries if isinstance(entries, list) else [None]):
        crop = e.get("crop") if isinstance(e, dict) else None
        if not (isinstance(e, dict) and isinstance(e.get("source"), str) and isinstance(e.get("bitstream"), str)
                and isinstance(crop, list) and len(crop) == 4 and all(whole(v) and v >= 0 for v in crop) and min(crop[2:]) > 0):
            raise DiracError(f"{manifest}: entry {i} is not {{source: name, bitstream: path, crop: [x0, y0, w, h]}} "
                             f"(whole numbers, a non-empty box): {e!r}"[:300])
    return [(e["source"], e["bitstream"], tuple(e["crop"])) for e in entries]


def load_coded_pairs(manifest_dirs: Sequence[str | Path], source_dirs: Sequence[str | Path], codec: str) -> Dict[str, List[Pair]]:
    """Pre-coded ``codec`` training pairs, for codecs with no encoder here (VVC): every bitstream
    listed in a ``manifest.json`` under ``manifest_dirs``, decoded, beside its source (found by
    file name in ``source_dirs``) cropped to the manifest's ``crop``. Keyed by source name."""
    sources = {p.name: p for p in find_images(source_dirs)}
    pairs: Dict[str, List[Pair]] = {}
    manifests = [m for d in manifest_dirs for m in sorted(Path(d).rglob("manifest.json"))]
    if not manifests:
        raise DiracError(f"no manifest.json under {', '.join(map(str, manifest_dirs))}")
    for manifest in manifests:
        for source, bitstream, (x0, y0, w, h) in _manifest_entries(manifest):
            if source not in sources:
                raise DiracError(f"{manifest}: source image {source} not found in {', '.join(map(str, source_dirs))}")
            original = three_channels(load_image(sources[source])[y0 : y0 + h, x0 : x0 + w])  # decoders give grey as RGB
            try:
                data = (manifest.parent / bitstream).read_bytes()
            except OSError as e:
                raise DiracError(f"{manifest}: cannot read {bitstream} ({e.strerror or e})") from None
            try:
                family = base_codecs.sniff(data)
                decoded = base_codecs.get_codec(family).decode(data) if family == codec else None
            except DiracError as e:
                raise DiracError(f"{manifest}: {bitstream}: {e}") from None
            if decoded is None:
                raise DiracError(f"{manifest}: {bitstream} is {family}, not {codec}; train codec {family}", option="codec")
            if decoded.image.shape != original.shape or decoded.rate.value is None:
                raise DiracError(f"{manifest}: {bitstream} does not match its source crop or has no rate")
            pairs.setdefault(source, []).append(Pair(original, decoded.image, float(decoded.rate.value), decoded.latent))
    return pairs


def cut_patches(pairs: Sequence[Pair], weights: Optional[np.ndarray], size: int, patch: int,
                rng: np.random.Generator) -> Batch:
    """``size`` patches from pairs drawn with ``weights`` (None: uniformly), each at a random
    offset on the 16-pixel grid, turned and flipped alike in original and decode (not where a
    latent comes along: it describes the picture as coded)."""
    patches = []
    for _ in range(size):
        pair = pairs[rng.choice(len(pairs), p=weights)]
        y = rng.integers(0, (pair.original.shape[0] - patch) // 16 + 1) * 16
        x = rng.integers(0, (pair.original.shape[1] - patch) // 16 + 1) * 16
        turns, flip = rng.integers(4), rng.random() < 0.5
        part = cut(pair, y, x, patch, patch)
        if pair.latent is None:
            turned = (np.rot90(im, turns) for im in part[:2])
            part = part._replace(**dict(zip(("original", "decoded"), (im[:, ::-1] if flip else im for im in turned))))
        patches.append(part)
    return stack(patches)


class PairSampler:
    """Patch batches cut from pre-coded pairs (same interface as :class:`PatchSampler`)."""

    def __init__(self, pairs: List[Pair], patch: int, seed: int = 0):
        if not pairs or any(min(p.original.shape[:2]) < patch for p in pairs):
            raise DiracError(f"no coded pairs, or pairs smaller than the {patch}px patch")
        self.pairs, self.patch = pairs, patch
        self.rng = np.random.default_rng(seed)
        areas = np.array([p.original.shape[0] * p.original.shape[1] for p in pairs], dtype=np.float64)
        self.weights = areas / areas.sum()

    def batch(self, size: int) -> Batch:
        """Patches starting on the 16-pixel grid."""
        return cut_patches(self.pairs, self.weights, size, self.patch, self.rng)

    def fixed_crops(self, size: int = 256) -> List[Pair]:
        return [cut(p, *centre_window(p.original.shape, size)) for p in self.pairs]

    def residual_stats(self, per_rate: int = 48, quantile: float = 0.999, seed: int = 0) -> Dict[str, list]:
        """sigma and tau per rate present in the pairs, over whole images: no sampling, so
        ``per_rate`` and ``seed`` (kept for :class:`PatchSampler`'s interface) do not apply."""
        rates = sorted({p.rate for p in self.pairs})
        stats = [
            residual_summary(np.concatenate([(o.astype(np.float32) - d).ravel() / 255.0 for o, d, r, _ in self.pairs if r == rate]), quantile)
            for rate in rates
        ]
        return {"stats_rates": rates, "stats_sigma": [s for s, _ in stats], "stats_tau": [t for _, t in stats]}
