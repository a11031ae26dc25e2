"""The residual denoiser: a small conditional U-Net that runs at reduced resolution.

Input is the noisy (normalised) residual z_t concatenated with the base decode x~; the
output is the clean residual z_0 ("sample" prediction), so one call at the start of the
schedule is directly an MMSE estimate. Timestep and rate enter through FiLM on every block.
All convolutions run at reduced resolution (pixel-unshuffle stem; 1/4, 1/8 and 1/16 by
default), which is what makes a 2-core CPU practical; the coarse levels line up with JPEG's
8x8 blocks and 16x16 MCUs. Two options spend more compute where the one-call estimate needs
it: NAFNet-style gated blocks (``block="gated"``), and a finer branch at half the stem's
resolution (``fine_channels``). Every new block and join starts at zero, so a trained model
grows (a fine branch, more blocks per level) without changing what it computes at the start.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from base_codecs import LATENT_STRIDE


def sinusoidal_embedding(values: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style embedding of a batch of scalars (timesteps, scaled rates)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=values.device, dtype=torch.float32) / half)
    args = values.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def zeroed(layer: nn.Module) -> nn.Module:
    """Zero a layer's weight and bias, so a new part adds nothing until training moves it."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class ResBlock(nn.Module):
    """conv-act-conv with FiLM from the conditioning embedding, plus identity skip. The second
    conv starts at zero, so a new block is the identity: a trained model grows deeper (more
    blocks per level) without changing what it computes at the start."""

    def __init__(self, channels: int, emb_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = zeroed(nn.Conv2d(channels, channels, 3, padding=1))
        self.film = zeroed(nn.Linear(emb_dim, 2 * channels))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.conv1(x))
        h = h * (1 + scale) + shift
        return x + self.conv2(h)


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of each pixel (NAFNet's LayerNorm2d), cheap in channels-last."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class GatedBlock(nn.Module):
    """NAFNet's block (Chen et al. 2022): 1x1 expand, 3x3 depthwise, simple gate, simplified
    channel attention, 1x1 project; then a gated 1x1 feed-forward. About a third of a
    :class:`ResBlock`'s multiply-adds at equal width. FiLM modulates the first norm; the two
    branch scales start at zero, so a new block is the identity."""

    def __init__(self, channels: int, emb_dim: int, expand: int = 2):
        super().__init__()
        wide = expand * channels
        self.norm1, self.norm2 = ChannelNorm(channels), ChannelNorm(channels)
        self.expand = nn.Conv2d(channels, wide, 1)
        self.depthwise = nn.Conv2d(wide, wide, 3, padding=1, groups=wide)
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(wide // 2, wide // 2, 1))
        self.project = nn.Conv2d(wide // 2, channels, 1)
        self.ffn_in = nn.Conv2d(channels, wide, 1)
        self.ffn_out = nn.Conv2d(wide // 2, channels, 1)
        self.film = zeroed(nn.Linear(emb_dim, 2 * channels))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))

    @staticmethod
    def gate(x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.gate(self.depthwise(self.expand(self.norm1(x) * (1 + scale) + shift)))
        x = x + self.project(h * self.attention(h)) * self.beta
        return x + self.ffn_out(self.gate(self.ffn_in(self.norm2(x)))) * self.gamma


BLOCKS = {"res": ResBlock, "gated": GatedBlock}


class Level(nn.Module):
    """A run of blocks at one resolution."""

    def __init__(self, channels: int, depth: int, emb_dim: int, block: str = "res"):
        super().__init__()
        self.blocks = nn.ModuleList(BLOCKS[block](channels, emb_dim) for _ in range(depth))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, emb)
        return x


class ResidualDenoiser(ModelMixin, ConfigMixin):
    """Predicts the clean normalised residual z_0 from (z_t, x~, timestep, rate).

    The per-rate residual statistics (``stats_rates`` in the codec's native unit, the
    residual standard deviation ``stats_sigma`` and clip bound ``stats_tau`` in [0, 1]
    pixel units) are part of the config, so they travel with the weights.

    ``block`` picks the block of every level (``"res"`` or ``"gated"``). ``fine_channels`` > 0
    adds a branch at ``unshuffle // 2`` (half the stem's stride): its features enter the
    stem's output through a strided conv, and it refines the decoder's output into a second
    head that is added to the first; both joins start at zero.

    ``latent_channels`` > 0 conditions the model on a learned codec's decoded latent as well as
    on x~ (Brenig & Timofte): the latent, at the middle level's stride, enters it through two
    1x1 convs whose last starts at zero, so a model grown this way starts as its source.
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
        block: str = "res",
        fine_channels: int = 0,
        fine_depth: int = 2,
        latent_channels: int = 0,
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
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {', '.join(BLOCKS)}, got {block!r}")
        if fine_channels and (unshuffle < 2 or unshuffle % 2):
            raise ValueError(f"a fine branch needs an even unshuffle, got {unshuffle}")
        if latent_channels and unshuffle * 2 ** len(encoder_depths) != LATENT_STRIDE:
            raise ValueError(f"a latent joins the middle level, which must sit at the latent's stride {LATENT_STRIDE}, "
                             f"not {unshuffle * 2 ** len(encoder_depths)}")
        c0 = channels[0]
        self.stem = self._stem(image_channels, unshuffle, c0)
        self.embed = nn.Sequential(nn.Linear(2 * embedding_dim, embedding_dim), nn.SiLU(), nn.Linear(embedding_dim, embedding_dim))
        self.encoders = nn.ModuleList(Level(c, d, embedding_dim, block) for c, d in zip(channels[:-1], encoder_depths))
        self.downs = nn.ModuleList(nn.Conv2d(a, b, 2, stride=2) for a, b in zip(channels[:-1], channels[1:]))
        self.middle = Level(channels[-1], middle_depth, embedding_dim, block)
        self.ups = nn.ModuleList(self._up(b, a) for a, b in zip(channels[:-1], channels[1:]))
        self.decoders = nn.ModuleList(Level(c, d, embedding_dim, block) for c, d in zip(channels[:-1], decoder_depths))
        self.head = self._head(c0, image_channels, unshuffle)
        if fine_channels:
            fine = unshuffle // 2
            self.fine_stem = self._stem(image_channels, fine, fine_channels)
            self.fine_encoder = Level(fine_channels, fine_depth, embedding_dim, block)
            self.fine_down = zeroed(nn.Conv2d(fine_channels, c0, 2, stride=2))
            self.fine_up = self._up(c0, fine_channels)
            self.fine_decoder = Level(fine_channels, fine_depth, embedding_dim, block)
            self.fine_head = self._head(fine_channels, image_channels, fine)
        if latent_channels:
            width = channels[-1]
            self.latent_join = nn.Sequential(nn.Conv2d(latent_channels, width, 1), nn.SiLU(),
                                             zeroed(nn.Conv2d(width, width, 1)))

    @staticmethod
    def _stem(image_channels: int, unshuffle: int, channels: int) -> nn.Module:
        return nn.Sequential(nn.PixelUnshuffle(unshuffle), nn.Conv2d(2 * image_channels * unshuffle**2, channels, 3, padding=1))

    @staticmethod
    def _up(channels_in: int, channels_out: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(channels_in, 4 * channels_out, 1), nn.PixelShuffle(2))

    @staticmethod
    def _head(channels: int, image_channels: int, unshuffle: int) -> nn.Module:
        """Features to pixels; starts at zero (a new model predicts a zero residual)."""
        return nn.Sequential(zeroed(nn.Conv2d(channels, image_channels * unshuffle**2, 3, padding=1)), nn.PixelShuffle(unshuffle))

    @property
    def stride(self) -> int:
        """Input sizes must be multiples of this."""
        return self.config.unshuffle * 2 ** len(self.config.encoder_depths)

    def forward(self, z_t: torch.Tensor, x_tilde: torch.Tensor, timestep: torch.Tensor, rate: torch.Tensor,
                latent: Optional[torch.Tensor] = None) -> torch.Tensor:
        """z_t, x_tilde: Bx3xHxW (x~ scaled to [-1, 1]); timestep: B ints; rate: B floats in [0, 1];
        latent (models with ``latent_channels``): B x latent_channels x H/stride x W/stride."""
        if self.config.latent_channels:
            expected = (z_t.shape[0], self.config.latent_channels, z_t.shape[2] // self.stride, z_t.shape[3] // self.stride)
            if latent is None or tuple(latent.shape) != expected:
                raise ValueError(f"this model needs the decoded latent, shaped {expected}; got "
                                 f"{None if latent is None else tuple(latent.shape)}")
        batch = z_t.shape[0]
        timestep = torch.as_tensor(timestep, device=z_t.device).expand(batch)
        rate = torch.as_tensor(rate, device=z_t.device, dtype=torch.float32).expand(batch)
        dim = self.config.embedding_dim
        emb = self.embed(torch.cat([sinusoidal_embedding(timestep, dim), sinusoidal_embedding(rate * 1000, dim)], dim=1))
        inputs = torch.cat([z_t, x_tilde], dim=1)
        h = self.stem(inputs)
        if self.config.fine_channels:
            fine = self.fine_encoder(self.fine_stem(inputs), emb)
            h = h + self.fine_down(fine)
        skips = []
        for level, down in zip(self.encoders, self.downs):
            h = level(h, emb)
            skips.append(h)
            h = down(h)
        if self.config.latent_channels:
            h = h + self.latent_join(latent.to(h.dtype))
        h = self.middle(h, emb)
        for level, up, skip in zip(reversed(self.decoders), reversed(self.ups), reversed(skips)):
            h = level(up(h) + skip, emb)
        out = self.head(h)
        if self.config.fine_channels:
            out = out + self.fine_head(self.fine_decoder(self.fine_up(h) + fine, emb))
        return out

    def grown_from(self, smaller: "ResidualDenoiser") -> "ResidualDenoiser":
        """Load every tensor of ``smaller`` (a trained model this one extends, e.g. by a fine
        branch); the rest stays as made, so zero-initialised joins reproduce ``smaller``'s output."""
        own = self.state_dict()
        unmatched = [k for k, v in smaller.state_dict().items() if k not in own or own[k].shape != v.shape]
        if unmatched:
            raise ValueError(f"cannot grow from a model with other tensors ({', '.join(unmatched[:3])}...)")
        self.load_state_dict(smaller.state_dict(), strict=False)
        return self
