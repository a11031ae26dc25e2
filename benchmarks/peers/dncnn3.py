"""DnCNN-3 (Zhang et al., TIP 2017), the published blind grey model, as a measured peer.

The weights are MatConvNet's ``DnCNN3.mat`` (MATLAB v7.3 = HDF5, read with h5py); they are
research-only and never shipped, so the path defaults to ``shared/peers/dncnn3``. Colour
images are handled one RGB channel at a time (the model only knows grey), which the JSON says.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Union

import numpy as np

from base_codecs import DiracError

from ..shared import shared_path
from . import Peer, PeerUnavailable, count_parameters, register

CONV_LAYERS = 20
PARAMETERS = 665_921  # the published model's size, checked on load


def default_path() -> Path:
    return shared_path("peers", "dncnn3", "DnCNN3.mat")


def _text(group) -> str:
    """A MATLAB char array stored by v7.3 as uint16 codes."""
    return "".join(map(chr, np.asarray(group[()]).ravel()))


def load_dncnn3(path: Union[str, Path, None] = None) -> "torch.nn.Sequential":  # noqa: F821
    """The network as conv/ReLU layers in float32, eval mode; it predicts the artefact x~ - x.

    MATLAB stores a kernel as H x W x in x out in column-major order, which HDF5 hands back
    reversed (out, in, W, H): swapping the last two axes gives PyTorch's OIHW. MATLAB drops a
    trailing singleton, so the last layer (out = 1) arrives as (in, W, H).
    """
    import h5py
    import torch

    path = Path(path) if path is not None else default_path()
    layers: List[torch.nn.Module] = []
    try:
        with h5py.File(path, "r") as f:
            for ref in f["net"]["layers"][:, 0]:
                layer = f[ref]
                kind = _text(layer["type"])
                if kind == "relu":
                    layers.append(torch.nn.ReLU(inplace=True))
                    continue
                if kind != "conv":
                    raise DiracError(f"{path}: unexpected layer type {kind!r} (batch norm should be folded)")
                w_ref, b_ref = layer["weights"][:, 0]
                weight = np.asarray(f[w_ref], np.float32)
                weight = (weight[None] if weight.ndim == 3 else weight).transpose(0, 1, 3, 2)
                bias = np.asarray(f[b_ref], np.float32).ravel()
                out_ch, in_ch, kh, kw = weight.shape
                conv = torch.nn.Conv2d(in_ch, out_ch, (kh, kw), padding=(kh // 2, kw // 2))
                conv.weight.data = torch.from_numpy(np.ascontiguousarray(weight))
                conv.bias.data = torch.from_numpy(bias)
                layers.append(conv)
    except (OSError, KeyError) as exc:
        raise DiracError(f"cannot read DnCNN-3 weights from {path}: {exc}") from None
    net = torch.nn.Sequential(*layers).eval()
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in net)
    if convs != CONV_LAYERS:
        raise DiracError(f"{path}: expected {CONV_LAYERS} conv layers, found {convs}")
    if count_parameters(net) != PARAMETERS:
        raise DiracError(f"{path}: expected {PARAMETERS:,} parameters, found {count_parameters(net):,}")
    return net


class DnCNN3(Peer):
    """x - net(x) on [0, 1] input, one grey plane at a time (RGB: each channel as its own plane)."""

    name = "dncnn3"
    description = "DnCNN-3 (Zhang et al. 2017), published blind grey weights, measured in this run"

    def __init__(self, path: Union[str, Path, None] = None, device: str = "cpu"):
        import torch

        self.path, self.device = (Path(path) if path is not None else default_path()), device
        self.net = load_dncnn3(self.path).to(device, memory_format=torch.channels_last)

    def enhance(self, decoded: np.ndarray, rate: float, bitstream: Optional[bytes] = None,
                latent: Optional[np.ndarray] = None) -> np.ndarray:
        import torch

        planes = decoded[None] if decoded.ndim == 2 else decoded.transpose(2, 0, 1)
        x = torch.from_numpy(planes.astype(np.float32)).to(self.device).div_(255)[:, None]
        with torch.inference_mode():
            y = x - self.net(x.contiguous(memory_format=torch.channels_last))
            out = y[:, 0].mul_(255).round_().clamp_(0, 255).to(torch.uint8).cpu().numpy()
        return out[0] if decoded.ndim == 2 else np.ascontiguousarray(out.transpose(1, 2, 0))

    def info(self) -> dict:
        return {"description": self.description,
                "colour": "applied to each RGB channel separately (the model is grey only)",
                "weights": str(self.path), "parameters": count_parameters(self.net)}


def _factory(dncnn3_weights: Union[str, Path, None] = None, device: str = "cpu", **_) -> List[Peer]:
    try:
        return [DnCNN3(dncnn3_weights, device or "cpu")]
    except DiracError as exc:
        raise PeerUnavailable(f"DnCNN-3 skipped: {exc}") from None


register("dncnn3", _factory)
