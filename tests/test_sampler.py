"""Exact sampler semantics, checked with stub networks of known output."""
import numpy as np
import pytest
import torch

from dirac import DiracError
from dirac.core.sampler import calls_for, sample_residual
from dirac.core.scheduler import DiracScheduler, check_detail_sigma, gaussian_blur, late_start_timesteps

SHAPE = (1, 3, 16, 16)


class Recorder:
    """A stub network: records (timestep, z_t) and returns ``fn(z_t)``."""

    def __init__(self, fn):
        self.fn, self.timesteps, self.inputs = fn, [], []

    def __call__(self, z_t, t):
        self.timesteps.append(t)
        self.inputs.append(z_t.clone())
        return self.fn(z_t)


def run(denoise, realism, steps=20, t_start=600, tau=3.0, seed=None, eta=0.0, gen=None):
    if seed is not None:
        gen = torch.Generator().manual_seed(seed)
    return sample_residual(denoise, SHAPE, DiracScheduler(), t_start, steps, realism, tau, generator=gen, eta=eta)


@pytest.mark.parametrize("realism,steps,expected", [(0.0, 20, 1), (0.01, 20, 1), (0.25, 20, 5), (0.5, 20, 10), (1.0, 20, 20), (1.0, 4, 4), (0.5, 5, 3), (0.5, 7, 4), (0.1, 5, 1)])
def test_calls_counted_equal_k(realism, steps, expected):
    rec = Recorder(lambda z: torch.full_like(z, 0.1))
    run(rec, realism, steps=steps)
    assert len(rec.timesteps) == expected == calls_for(realism, steps)


def test_late_start_honoured_and_timesteps_decrease():
    rec = Recorder(lambda z: 0.5 * z + 0.1)
    run(rec, 1.0, steps=10, t_start=450, seed=0)
    assert rec.timesteps == late_start_timesteps(450, 10)
    assert rec.timesteps[0] == 450
    assert all(a > b for a, b in zip(rec.timesteps, rec.timesteps[1:]))
    assert torch.count_nonzero(rec.inputs[0]) == 0  # the first call sees the zero residual
    assert rec.inputs[1].std() > 0.1  # later calls see the forward process (noise)


def test_realism_zero_is_one_deterministic_call_returning_the_prediction():
    target = torch.linspace(-1, 1, 16 * 16 * 3).reshape(SHAPE)
    out_a = run(lambda z, t: target.clone(), 0.0, seed=1)
    out_b = run(lambda z, t: target.clone(), 0.0, seed=2)
    assert torch.equal(out_a, target) and torch.equal(out_b, target)


@pytest.mark.parametrize("realism", [0.0, 0.3, 1.0])
def test_threshold_bounds_adversarial_network(realism):
    rec = Recorder(lambda z: torch.where(torch.rand_like(z) > 0.5, 1e6, -1e6))
    out = run(rec, realism, tau=0.7, seed=0)
    assert out.abs().max() <= 0.7
    # later calls see the forward process around *clipped* predictions: unit-scale, not 1e6
    assert all(z.abs().max() < 0.7 + 6 for z in rec.inputs)


def test_seed_determinism_and_different_seeds_differ():
    net = lambda z, t: 0.8 * z  # output depends on the noise it is fed
    a, b, c = run(net, 1.0, seed=7), run(net, 1.0, seed=7), run(net, 1.0, seed=8)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_eta_one_is_the_ddpm_posterior_of_diffusers():
    net = lambda z, t: 0.7 * z + 0.05  # noqa: E731
    ours = run(net, 1.0, steps=6, t_start=450, seed=3, eta=1.0)
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="sample", clip_sample=False, variance_type="fixed_small")
    timesteps = late_start_timesteps(450, 6)
    scheduler.set_timesteps(timesteps=timesteps)
    gen = torch.Generator().manual_seed(3)
    z_0 = net(torch.zeros(SHAPE), timesteps[0])
    a = scheduler.alphas_cumprod[timesteps[1]].item()
    z_t = a**0.5 * z_0 + (1 - a) ** 0.5 * torch.randn(SHAPE, generator=gen)
    for t in timesteps[1:]:
        z_0 = net(z_t, t)
        z_t = scheduler.step(z_0, t, z_t, generator=gen).prev_sample
    assert torch.allclose(ours, z_0, atol=1e-5)


def test_eta_zero_draws_noise_once_then_follows_the_deterministic_path():
    gen = torch.Generator().manual_seed(5)
    out = run(lambda z, t: 0.8 * z, 1.0, steps=8, gen=gen, eta=0.0)
    once = torch.Generator().manual_seed(5)
    torch.randn(SHAPE, generator=once)
    assert torch.equal(gen.get_state(), once.get_state())  # only the forward-process draw
    noisier = run(lambda z, t: 0.8 * z, 1.0, steps=8, seed=5, eta=1.0)
    assert not torch.allclose(out, noisier)


def test_bad_dial_settings_raise():
    with pytest.raises(DiracError, match="realism"):
        calls_for(1.5, 20)
    with pytest.raises(DiracError, match="steps"):
        calls_for(0.5, 0)
    with pytest.raises(DiracError, match="t_start"):
        late_start_timesteps(10, 20)
    with pytest.raises(DiracError, match="eta"):
        run(lambda z, t: z, 1.0, eta=-0.1)


def _split_network(first, later):
    """First call (zero input) returns ``first``, every later call ``later``."""
    return lambda z, t: (first if torch.count_nonzero(z) == 0 else later).clone()


def test_detail_sigma_keeps_the_first_calls_coarse_structure_and_the_trajectorys_fine_detail():
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    coarse = (xs / 63).expand(1, 3, 64, 64)  # the one-call estimate: a ramp
    checker = 0.2 * ((ys + xs) % 2 * 2 - 1).expand(1, 3, 64, 64)  # detail at the finest scale
    later = coarse + 0.5 + checker  # the trajectory: a coarse offset (wrong structure) plus detail
    net = _split_network(coarse, later)
    shape = (1, 3, 64, 64)
    whole = sample_residual(net, shape, DiracScheduler(), 600, 5, 1.0, 3.0, generator=torch.Generator().manual_seed(0))
    split = sample_residual(net, shape, DiracScheduler(), 600, 5, 1.0, 3.0, generator=torch.Generator().manual_seed(0),
                            detail_sigma=1.0)
    assert torch.allclose(whole, later)  # 0 (the default): the trajectory's output unchanged
    added = split - coarse
    assert abs(added.mean().item()) < 0.01  # the coarse offset is gone
    assert (added * checker).mean() > 0.9 * (checker * checker).mean()  # the finest detail stays
    one_call = sample_residual(net, shape, DiracScheduler(), 600, 5, 0.0, 3.0, detail_sigma=1.0)
    assert torch.equal(one_call, coarse)  # realism 0 is the one-call estimate, whatever the scale


def test_detail_sigma_output_stays_within_tau():
    net = _split_network(torch.full(SHAPE, 0.7), torch.where(torch.rand(SHAPE) > 0.5, 1e6, -1e6))
    out = sample_residual(net, SHAPE, DiracScheduler(), 600, 4, 1.0, 0.7, generator=torch.Generator().manual_seed(0), detail_sigma=2.0)
    assert out.abs().max() <= 0.7


def test_gaussian_blur_keeps_constants_and_the_mean_of_any_size():
    assert torch.allclose(gaussian_blur(torch.full((1, 3, 5, 1), 0.3), 1.0), torch.full((1, 3, 5, 1), 0.3))
    x = torch.randn(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    y = gaussian_blur(x, 1.5)
    assert y.shape == x.shape and y.std() < 0.5 * x.std() and abs(y.mean() - x.mean()) < 0.02


@pytest.mark.parametrize("value, message", [(-1.0, "must be 0 \\(the steps' whole output\\) or in \\[0.5, 64\\]"),
                                            (1e-50, "or in \\[0.5, 64\\]"), (0.3, "got 0.3"), (float("nan"), "got nan"),
                                            (100, "got 100"), ("1", "detail_sigma must be a number"),
                                            (True, "detail_sigma must be a number")])
def test_bad_detail_sigma_is_a_project_error(value, message):
    """Scales below 0.5 px keep next to nothing of the steps (and underflow to NaN): refused."""
    with pytest.raises(DiracError, match=message):
        check_detail_sigma(value)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.5])
def test_gaussian_blur_matches_scipy(sigma):
    from scipy.ndimage import gaussian_filter

    x = torch.randn(1, 2, 23, 31, generator=torch.Generator().manual_seed(1))
    ours = gaussian_blur(x, sigma)
    radius = max(1, -(-3 * sigma // 1))
    reference = [gaussian_filter(c.double().numpy(), sigma, mode="nearest", truncate=radius / sigma) for c in x[0]]
    assert torch.allclose(ours[0], torch.from_numpy(np.stack(reference)).float(), atol=1e-5)
