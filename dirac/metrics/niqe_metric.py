"""NIQE (Mittal et al. 2013), the no-reference naturalness score, with the official pristine model.

Follows the MATLAB release as BasicSR re-implements it (which matches MATLAB to 4 decimals):
MATLAB luma rounded to 8 bits, 96x96 blocks without overlap, two scales (the second made with
MATLAB's antialiased bicubic ``imresize(0.5)``), 36 AGGD features per block, and the Mahalanobis-like
distance of their Gaussian fit to the pristine one from BasicSR's ``niqe_pris_params.npz``.
"""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from scipy.ndimage import convolve
from scipy.special import gamma

from base_codecs.core import ImageLike

from . import weights
from ._images import MetricError, at_least
from .fidelity import y_channel

BLOCK = 96
_SHAPES = np.arange(0.2, 10.001, 0.001)  # AGGD shape grid of the MATLAB code
_RATIOS = gamma(2 / _SHAPES) ** 2 / (gamma(1 / _SHAPES) * gamma(3 / _SHAPES))
_NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical, two diagonals


@functools.lru_cache(maxsize=None)
def _pristine():
    with np.load(weights.path("niqe"), allow_pickle=False) as params:
        return params["mu_pris_param"][0], params["cov_pris_param"], params["gaussian_window"]


def _aggd(values: np.ndarray):
    """Asymmetric generalised Gaussian fit by moment matching on the shape grid: (shape, left, right scale)."""
    left = np.sqrt(np.mean(values[values < 0] ** 2))
    right = np.sqrt(np.mean(values[values > 0] ** 2))
    g = left / right
    r = np.mean(np.abs(values)) ** 2 / np.mean(values**2)
    r_norm = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    shape = _SHAPES[np.argmin((_RATIOS - r_norm) ** 2)]
    k = np.sqrt(gamma(1 / shape) / gamma(3 / shape))
    return shape, left * k, right * k


def _block_features(block: np.ndarray) -> list:
    """18 features: the AGGD of the normalised block, and of its products with 4 (circularly) shifted copies."""
    shape, left, right = _aggd(block.ravel())
    features = [shape, (left + right) / 2]
    for shift in _NEIGHBOURS:
        shape, left, right = _aggd((block * np.roll(block, shift, axis=(0, 1))).ravel())
        features += [shape, (right - left) * gamma(2 / shape) / gamma(1 / shape), left, right]
    return features


def _cubic(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    return ((1.5 * a**3 - 2.5 * a**2 + 1) * (a <= 1)
            + (-0.5 * a**3 + 2.5 * a**2 - 4 * a + 2) * ((a > 1) & (a <= 2)))


def _matlab_downscale(n: int, scale: float) -> np.ndarray:
    """The ceil(n*scale) x n matrix of MATLAB's antialiased bicubic ``imresize`` along one axis (scale < 1)."""
    width = 4.0 / scale
    centres = np.arange(1, math.ceil(n * scale) + 1) / scale + 0.5 * (1 - 1 / scale)
    taps = np.floor(centres - width / 2)[:, None] + np.arange(math.ceil(width) + 2)
    kernel = scale * _cubic(scale * (centres[:, None] - taps))
    kernel /= kernel.sum(axis=1, keepdims=True)
    index = taps.astype(int) - 1
    index = np.where(index < 0, -index - 1, index)  # symmetric padding, edge pixel repeated
    index = np.where(index >= n, 2 * n - 1 - index, index)
    matrix = np.zeros((len(centres), n))
    np.add.at(matrix, (np.repeat(np.arange(len(centres)), taps.shape[1]), index.ravel()), kernel.ravel())
    return matrix


def niqe(image: ImageLike, crop_border: int = 0) -> float:
    """NIQE of one uint8 image (RGB via MATLAB luma, or grey); lower is more natural.

    Needs two 96x96 blocks after ``crop_border`` px are cut from each side, and texture in two of
    them: a flat or linear-gradient block has no AGGD fit (MATLAB and BasicSR fail there too).
    """
    crop_border = at_least("crop_border", crop_border, 0)
    luma = y_channel(image)
    img = luma[crop_border:luma.shape[0] - crop_border, crop_border:luma.shape[1] - crop_border].astype(np.float64)
    rows, cols = img.shape[0] // BLOCK, img.shape[1] // BLOCK
    if rows * cols < 2:
        cropped = f" ({luma.shape[1]}x{luma.shape[0]} less crop_border={crop_border} a side)" if crop_border else ""
        raise MetricError(f"NIQE needs at least two {BLOCK}x{BLOCK} blocks, "
                          f"got {img.shape[1]}x{img.shape[0]} px{cropped}")
    img = img[:rows * BLOCK, :cols * BLOCK]
    mu_pristine, cov_pristine, window = _pristine()

    per_scale = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # flat blocks give NaN features, dropped below as in MATLAB
        for scale in (1, 2):
            mu = convolve(img, window, mode="nearest")
            sigma = np.sqrt(np.abs(convolve(img**2, window, mode="nearest") - mu**2))
            normalised = (img - mu) / (sigma + 1)
            size = BLOCK // scale
            per_scale.append([_block_features(normalised[r * size:(r + 1) * size, c * size:(c + 1) * size])
                              for c in range(cols) for r in range(rows)])
            if scale == 1:
                img = _matlab_downscale(img.shape[0], 0.5) @ img @ _matlab_downscale(img.shape[1], 0.5).T
        features = np.concatenate([np.asarray(f) for f in per_scale], axis=1)
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        raise MetricError(f"NIQE: the image has no texture to measure (flat or a smooth gradient): {len(complete)} "
                          f"of its {len(features)} {BLOCK}x{BLOCK} blocks have texture, and NIQE needs 2")
    diff = mu_pristine - np.nanmean(features, axis=0)
    cov_image = np.cov(complete, rowvar=False)
    return float(np.sqrt(diff @ np.linalg.pinv((cov_pristine + cov_image) / 2) @ diff))
