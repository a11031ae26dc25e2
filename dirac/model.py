"""The residual denoiser: a small conditional U-Net that runs at reduced resolution.

Input is the noisy (normalised) residual z_t concatenated with the base decode x~; the
output is the clean residual z_0 ("sample" prediction), so one call at the start of the
schedule is directly an MMSE estimate. Timestep and rate enter through FiLM on every block.
All convolutions run at 1/4, 1/8 and 1/16 resolution (pixel-unshuffle stem), which is what
makes a 2-core CPU practical; the coarse levels line up with JPEG's 8x8 blocks and 16x16 MCUs.
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


def sinusoidal_embedding(values: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style embedding of a batch of scalars (timesteps, scaled rates)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=values.device, dtype=torch.float32) / half)
    args = values.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    """conv-act-conv with FiLM from the conditioning embedding, plus identity skip."""

    def __init__(self, channels: int, emb_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * channels)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.conv1(x))
        h = h * (1 + scale) + shift
        return x + self.conv2(h)


class Level(nn.Module):
    """A run of residual blocks at one resolution."""

    def __init__(self, channels: int, depth: int, emb_dim: int):
        super().__init__()
        self.blocks = nn.ModuleList(ResBlock(channels, emb_dim) for _ in range(depth))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, emb)
        return x


class ResidualDenoiser(ModelMixin, ConfigMixin):
    """Predicts the clean normalised residual z_0 from (z_t, x~, timestep, rate).

    The per-rate residual statistics (``stats_rates`` in the codec's native unit, the
    residual standard deviation ``stats_sigma`` and clip bound ``stats_tau`` in [0, 1]
    pixel units) are part of the config, so they travel with the weights.
    """

    @register_to_config
    def __init__(
        self,
        image_channels: int = 3,
        channels: Tuple[int, ...] = (64, 128, 256),
        encoder_depths: Tuple[int, ...] = (2, 3),
        middle_depth: int = 4,
        decoder_depths: Tuple[int, ...] = (2, 3),
        unshuffle: int = 4,
        embedding_dim: int = 128,
        num_train_timesteps: int = 1000,
        codec: str = "jpeg",
        stats_rates: Tuple[float, ...] = (),
        stats_sigma: Tuple[float, ...] = (),
        stats_tau: Tuple[float, ...] = (),
    ):
        super().__init__()
        if len(channels) != len(encoder_depths) + 1 or len(decoder_depths) != len(encoder_depths):
            raise ValueError("channels needs one entry per encoder level plus the middle level")
        c0 = channels[0]
        self.stem = nn.Sequential(nn.PixelUnshuffle(unshuffle), nn.Conv2d(2 * image_channels * unshuffle**2, c0, 3, padding=1))
        self.embed = nn.Sequential(nn.Linear(2 * embedding_dim, embedding_dim), nn.SiLU(), nn.Linear(embedding_dim, embedding_dim))
        self.encoders = nn.ModuleList(Level(c, d, embedding_dim) for c, d in zip(channels[:-1], encoder_depths))
        self.downs = nn.ModuleList(nn.Conv2d(a, b, 2, stride=2) for a, b in zip(channels[:-1], channels[1:]))
        self.middle = Level(channels[-1], middle_depth, embedding_dim)
        self.ups = nn.ModuleList(
            nn.Sequential(nn.Conv2d(b, 4 * a, 1), nn.PixelShuffle(2)) for a, b in zip(channels[:-1], channels[1:])
        )
        self.decoders = nn.ModuleList(Level(c, d, embedding_dim) for c, d in zip(channels[:-1], decoder_depths))
        self.head = nn.Sequential(nn.Conv2d(c0, image_channels * unshuffle**2, 3, padding=1), nn.PixelShuffle(unshuffle))
        nn.init.zeros_(self.head[0].weight)
        nn.init.zeros_(self.head[0].bias)

    @property
    def stride(self) -> int:
        """Input sizes must be multiples of this."""
        return self.config.unshuffle * 2 ** len(self.config.encoder_depths)

    def forward(self, z_t: torch.Tensor, x_tilde: torch.Tensor, timestep: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        """z_t, x_tilde: Bx3xHxW (x~ scaled to [-1, 1]); timestep: B ints; rate: B floats in [0, 1]."""
        batch = z_t.shape[0]
        timestep = torch.as_tensor(timestep, device=z_t.device).expand(batch)
        rate = torch.as_tensor(rate, device=z_t.device, dtype=torch.float32).expand(batch)
        dim = self.config.embedding_dim
        emb = self.embed(torch.cat([sinusoidal_embedding(timestep, dim), sinusoidal_embedding(rate * 1000, dim)], dim=1))
        h = self.stem(torch.cat([z_t, x_tilde], dim=1))
        skips = []
        for level, down in zip(self.encoders, self.downs):
            h = level(h, emb)
            skips.append(h)
            h = down(h)
        h = self.middle(h, emb)
        for level, up, skip in zip(reversed(self.decoders), reversed(self.ups), reversed(skips)):
            h = level(up(h) + skip, emb)
        return self.head(h)
