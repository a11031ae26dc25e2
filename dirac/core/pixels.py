"""The one conversion between 8-bit pixels and the network's tensors, for the API, training
and validation alike: uint8 HxW (grey) or HxWx3, or a BxHxWx3 batch, to Bx{1,3}xHxW floats in
[0, 1], and back with rounding."""
from __future__ import annotations

import numpy as np
import torch


def pixels_to_tensor(pixels: np.ndarray, device=None) -> torch.Tensor:
    """HxW, HxWx3 or BxHxWx3 uint8 -> Bx1xHxW or Bx3xHxW float32 in [0, 1] (a copy)."""
    tensor = torch.from_numpy(np.array(pixels, copy=True)).to(device).float().div_(255)
    if pixels.ndim == 2:
        return tensor[None, None]
    return (tensor[None] if pixels.ndim == 3 else tensor).permute(0, 3, 1, 2)


def tensor_to_pixels(images: torch.Tensor) -> np.ndarray:
    """The first image of a Bx1xHxW or Bx3xHxW float batch in [0, 1] as HxW or HxWx3 uint8;
    works in place on ``images``."""
    pixels = images[0].mul_(255).round_().clamp_(0, 255).to(torch.uint8).cpu()
    return pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy()
