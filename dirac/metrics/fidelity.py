"""Fidelity metrics: PSNR on RGB or on MATLAB luma (the published JPEG tables' protocol), and MS-SSIM."""
from __future__ import annotations

import math

import numpy as np

from base_codecs.core import ImageLike

from ._images import as_image, as_pair, need_side

# MATLAB rgb2ycbcr, luma row (ITU-R BT.601, studio range) for 8-bit input.
_LUMA = np.array([65.481, 128.553, 24.966]) / 255.0
# pytorch_msssim's 5 scales with an 11-tap window need more than (11 - 1) * 2**4 pixels.
MS_SSIM_MIN_SIDE = 161


def psnr(a: ImageLike, b: ImageLike) -> float:
    """PSNR in dB of two 8-bit images (RGB or grey) over all pixels and channels; inf if identical."""
    a, b = as_pair(a, b)
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def y_channel(image: ImageLike) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` luma of an RGB image, rounded to uint8 as MATLAB does; grey passes through."""
    image = as_image(image)
    if image.ndim == 2:
        return image
    return np.round(16.0 + image.astype(np.float64) @ _LUMA).astype(np.uint8)


def psnr_y(a: ImageLike, b: ImageLike) -> float:
    """PSNR on the 8-bit Y channel, the grey JPEG protocol of the DnCNN/FBCNN/SwinIR tables."""
    a, b = as_pair(a, b)
    return psnr(y_channel(a), y_channel(b))


def ms_ssim(a: ImageLike, b: ImageLike) -> float:
    """MS-SSIM (Wang et al. 2003; pytorch_msssim, 8-bit data range, float32), averaged over RGB channels."""
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    a, b = as_pair(a, b)
    need_side(a, MS_SSIM_MIN_SIDE, "MS-SSIM")

    def tensor(x: np.ndarray) -> torch.Tensor:
        x = x[:, :, None] if x.ndim == 2 else x
        return torch.from_numpy(x.transpose(2, 0, 1).astype(np.float32))[None]  # float64: 1e-7 closer, 2.5x slower

    with torch.no_grad():
        return float(_ms_ssim(tensor(a), tensor(b), data_range=255.0, size_average=True))
