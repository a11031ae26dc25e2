"""The denoiser's architecture options: block kinds, the fine branch, growing a trained model."""
import pytest
import torch

from dirac.core.model import ResidualDenoiser

from conftest import TINY_MODEL, TINY_STATS


def inputs(size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    z, x = torch.randn(2, 3, size, size, generator=g), torch.rand(2, 3, size, size, generator=g) * 2 - 1
    return z, x, torch.tensor([600, 300]), torch.tensor([0.1, 0.8])


def trained_like(model: ResidualDenoiser, seed=1) -> ResidualDenoiser:
    """Every tensor randomised, as training would leave it (zero-initialised parts included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return model


@pytest.mark.parametrize("options", [{}, {"block": "gated"}, {"fine_channels": 8}, {"block": "gated", "fine_channels": 8, "fine_depth": 1}])
def test_every_architecture_starts_at_a_zero_residual_and_learns(options):
    """A new model predicts zero (the base decode itself), and one gradient step moves it."""
    model = ResidualDenoiser(**TINY_MODEL, **TINY_STATS, **options)
    z, x, t, r = inputs()
    assert torch.equal(model(z, x, t, r), torch.zeros_like(z))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(z, x, t, r).sub(z).square().mean().backward()
    opt.step()
    assert model(z, x, t, r).abs().max() > 0


def test_gated_blocks_cost_fewer_parameters_than_res_blocks_at_equal_width():
    res = ResidualDenoiser(**TINY_MODEL, **TINY_STATS)
    gated = ResidualDenoiser(**TINY_MODEL, **TINY_STATS, block="gated")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(gated) < count(res)


@pytest.mark.parametrize("small_options, grown_options", [
    ({}, {"fine_channels": 8}),
    ({}, {"encoder_depths": (2, 3), "middle_depth": 2, "decoder_depths": (3, 2)}),
    ({"fine_channels": 8, "fine_depth": 1}, {"fine_channels": 8, "fine_depth": 3}),
])
def test_a_grown_model_computes_what_the_smaller_one_did(small_options, grown_options):
    """New parts (a fine branch, more blocks per level) start at zero: grown from trained
    weights, the model's output is unchanged until training moves them."""
    small = trained_like(ResidualDenoiser(**{**TINY_MODEL, **small_options}, **TINY_STATS)).eval()
    grown = ResidualDenoiser(**{**TINY_MODEL, **grown_options}, **TINY_STATS).grown_from(small).eval()
    assert sum(p.numel() for p in grown.parameters()) > sum(p.numel() for p in small.parameters())
    with torch.no_grad():
        assert torch.equal(grown(*inputs()), small(*inputs()))


def test_growing_from_a_model_of_other_shapes_is_refused():
    small = ResidualDenoiser(**{**TINY_MODEL, "channels": (8, 16, 24)}, **TINY_STATS)
    with pytest.raises(ValueError, match="cannot grow from a model with other tensors"):
        ResidualDenoiser(**TINY_MODEL, **TINY_STATS, fine_channels=8).grown_from(small)


@pytest.mark.parametrize("options, message", [
    ({"block": "transformer"}, "block must be one of res, gated"),
    ({"fine_channels": 8, "unshuffle": 3}, "a fine branch needs an even unshuffle"),
    ({"latent_channels": 8, "unshuffle": 2}, "must sit at the latent's stride 16, not 8"),
])
def test_bad_architecture_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        ResidualDenoiser(**TINY_MODEL, **TINY_STATS, **options)


def latent(size=32, channels=6, seed=2):
    """A decoded latent as a learned codec gives it: integers, one position per 16x16 pixels."""
    return torch.randint(-4, 5, (2, channels, size // 16, size // 16), generator=torch.Generator().manual_seed(seed)).float()


def test_a_latent_conditioned_model_starts_as_its_source_and_learns_from_the_latent():
    """The latent joins through a zero-initialised conv: grown from trained weights the output is
    unchanged, and after one step the latent changes what the model predicts."""
    small = trained_like(ResidualDenoiser(**TINY_MODEL, **TINY_STATS)).eval()
    grown = ResidualDenoiser(**TINY_MODEL, **TINY_STATS, latent_channels=6).grown_from(small)
    with torch.no_grad():
        assert torch.equal(grown.eval()(*inputs(), latent()), small(*inputs()))
    opt = torch.optim.SGD(grown.parameters(), lr=0.1)
    z, x, t, r = inputs()
    grown.train()(z, x, t, r, latent()).sub(z).square().mean().backward()
    opt.step()
    with torch.no_grad():
        assert not torch.equal(grown.eval()(z, x, t, r, latent()), grown(z, x, t, r, latent(seed=3)))


@pytest.mark.parametrize("given", [None, latent(channels=5), latent(size=64)])
def test_a_latent_conditioned_model_refuses_a_missing_or_misshapen_latent(given):
    model = ResidualDenoiser(**TINY_MODEL, **TINY_STATS, latent_channels=6)
    with pytest.raises(ValueError, match=r"needs the decoded latent, shaped \(2, 6, 2, 2\)"):
        model(*inputs(), given)
