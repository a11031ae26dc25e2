"""Tiled inference: blending is exact for pointwise networks; one tile is one plain call."""
import pytest
import torch

from dirac import DiracError
from dirac.core.tiling import apply_tiled, check_tiling, tile_starts


def test_tile_starts_cover_and_stay_on_grid():
    starts = tile_starts(1000 - 1000 % 16, 256, 32)
    assert starts[0] == 0 and starts[-1] + 256 == 992
    assert all(s % 16 == 0 for s in starts)
    assert all(b - a <= 256 - 32 for a, b in zip(starts, starts[1:]))


def test_multi_tile_blend_equals_untiled_for_pointwise_network():
    g = torch.Generator().manual_seed(0)
    z, x = torch.randn(1, 3, 112, 176, generator=g), torch.randn(1, 3, 112, 176, generator=g)
    fn = lambda zt, xt, at: torch.tanh(zt) * xt + 0.3
    tiled = apply_tiled(fn, z, x, tile=64, overlap=16)
    assert torch.allclose(tiled, fn(z, x, (0, 0)), atol=1e-6)


def test_tiles_are_told_their_place():
    """fn gets each tile's (top, left): a condition cut there lines up with the image."""
    g = torch.Generator().manual_seed(1)
    z, x = torch.randn(1, 3, 112, 176, generator=g), torch.zeros(1, 3, 112, 176)
    rows = torch.arange(112.0).view(1, 1, 112, 1).expand(1, 3, 112, 176)
    fn = lambda zt, xt, at: zt + rows[:, :, at[0] : at[0] + zt.shape[2], at[1] : at[1] + zt.shape[3]]
    assert torch.allclose(apply_tiled(fn, z, x, tile=64, overlap=16), z + rows, atol=1e-5)


def test_single_tile_is_exactly_one_call():
    calls = []
    fn = lambda zt, xt, at: (calls.append((zt.shape, at)), zt + xt)[1]
    z, x = torch.ones(1, 3, 48, 64), torch.ones(1, 3, 48, 64)
    assert torch.equal(apply_tiled(fn, z, x, tile=64, overlap=16), z + x)
    assert calls == [(torch.Size([1, 3, 48, 64]), (0, 0))]


def test_tile_size_must_be_on_grid():
    for tile, overlap, message in [(50, 16, "tile must be a multiple of 16 above the 16-pixel overlap, got 50"),
                                   (16, 16, "above the 16-pixel overlap, got 16"),
                                   (64, 8, "overlap must be a non-negative multiple of 16, got 8")]:
        with pytest.raises(DiracError, match=message):
            check_tiling(tile, overlap)
