"""ResidualDenoiser options, one test each."""
import pytest
import torch

from dirac import ResidualDenoiser
from dirac.sampler import make_scheduler

from conftest import TINY_MODEL, TINY_STATS


def tiny_pair():
    """The same random weights without and with ``noisy_skip``."""
    torch.manual_seed(0)
    plain = ResidualDenoiser(**TINY_MODEL, **TINY_STATS)
    for p in plain.parameters():  # the zero-initialised head would hide the network's part
        torch.nn.init.normal_(p, std=0.05)
    skip = ResidualDenoiser(**TINY_MODEL, **TINY_STATS, noisy_skip=True)
    skip.load_state_dict(plain.state_dict())
    return plain.eval(), skip.eval()


def test_noisy_skip_is_edm_preconditioning_of_the_network():
    plain, skip = tiny_pair()
    g = torch.Generator().manual_seed(1)
    z_t, x = torch.randn(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    t, rate = torch.tensor([30, 600]), torch.tensor([0.2, 0.9])
    with torch.no_grad():
        network, out = plain(z_t, x, t, rate), skip(z_t, x, t, rate)
    alpha_bar = make_scheduler().alphas_cumprod[t].view(2, 1, 1, 1)
    c_out = (2 * (1 - alpha_bar)).sqrt().clamp(max=1)
    torch.testing.assert_close(out, alpha_bar.sqrt() * z_t + c_out * network, atol=1e-5, rtol=1e-4)
    assert c_out[0] < 0.1 and c_out[1] == 1  # late in sampling z_t carries the answer, not the network


@pytest.mark.parametrize("t_start", [500, 700])  # the pipeline's t_start range
def test_noisy_skip_leaves_the_one_call_output_unchanged(t_start):
    plain, skip = tiny_pair()
    z_t, x = torch.zeros(1, 3, 32, 32), torch.rand(1, 3, 32, 32) * 2 - 1
    t, rate = torch.tensor([t_start]), torch.tensor([0.3])
    with torch.no_grad():
        assert torch.equal(skip(z_t, x, t, rate), plain(z_t, x, t, rate))


def test_noisy_skip_round_trips_through_save_pretrained(tmp_path):
    _, skip = tiny_pair()
    skip.save_pretrained(tmp_path)
    loaded = ResidualDenoiser.from_pretrained(tmp_path)
    assert loaded.config.noisy_skip is True
    assert ResidualDenoiser.from_pretrained(tmp_path, noisy_skip=False).config.noisy_skip is False  # an override
