"""Late-start residual sampling with rate-dependent thresholding and the realism dial.

The first call sees a zero residual at ``t_start`` and returns the one-call (MMSE) estimate;
later calls follow a DDIM trajectory (``eta`` 0: deterministic after the first noise draw;
``eta`` 1: the DDPM posterior) that starts from the forward process around that estimate.
After ``k = max(1, realism * steps rounded half up)`` calls, the current clean-residual prediction is
the answer, so realism 0 is one deterministic call and realism 1 the full path. With ``detail_sigma``
the answer keeps the first (MMSE) call's coarse structure and takes only the fine detail, finer than
a Gaussian of that many pixels, from the trajectory: the detail is what the steps synthesise, while
their coarse deviations cost fidelity and read as wrong structure (measured in benchmarks/README.md).
"""
from __future__ import annotations

import math
from typing import Callable, List, Optional

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from diffusers.utils.torch_utils import randn_tensor

from base_codecs import DiracError

from .arguments import number, whole

Denoiser = Callable[[torch.Tensor, int], torch.Tensor]
T_START_MIN, T_START_MAX = 500, 700  # where sampling starts: at the finest and the coarsest rate
DETAIL_SIGMA = 1.0  # pixels; chosen on the held-out training images (benchmarks/detail_scale.py)
DETAIL_SIGMA_MIN, DETAIL_SIGMA_MAX = 0.5, 64.0


def make_scheduler(num_train_timesteps: int = 1000) -> DDPMScheduler:
    """The scheduler the model is trained for: cosine betas, clean-sample prediction."""
    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="sample",
        clip_sample=False,
        variance_type="fixed_small",
    )


def calls_for(realism: float, steps: int) -> int:
    """Network calls the dial asks for: k = max(1, round(realism * steps)), halves rounded up."""
    realism, steps = number("realism", realism), whole("steps", steps)
    if not 0.0 <= realism <= 1.0:
        raise DiracError(f"realism must be in [0, 1], got {realism}")
    if steps < 1:
        raise DiracError(f"steps must be at least 1, got {steps}")
    return max(1, math.floor(realism * steps + 0.5 + 1e-9))


def check_steps(realism: float, steps: int, t_start_min: int = T_START_MIN) -> int:
    """The dial's calls, once the ``steps`` of a multi-call setting are known to fit below every
    rate's ``t_start`` (at realism 0 only the first timestep is used, so any count will do)."""
    calls = calls_for(realism, steps)
    if calls > 1 and steps > t_start_min:
        raise DiracError(f"steps must be at most {t_start_min} (sampling starts at t={t_start_min} at the finest rates), got {steps}")
    return calls


def check_eta(eta: float) -> None:
    """The share of fresh noise per step: 0 (DDIM) .. 1 (DDPM)."""
    if not 0.0 <= number("eta", eta) <= 1.0:
        raise DiracError(f"eta must be in [0, 1], got {eta}")


def check_seed(seed: Optional[int]) -> None:
    """A seed torch's generator accepts: a non-negative integer below 2**64, or None."""
    if seed is not None and not 0 <= whole("seed", seed) < 2**64:
        raise DiracError(f"seed must be an integer in 0 .. 2**64 - 1, got {seed!r}")


PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    """The network's arithmetic: fp32, or bf16 autocast (weights and the sampler stay fp32)."""
    if precision not in PRECISIONS:
        raise DiracError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def check_detail_sigma(detail_sigma: float) -> float:
    """The scale (pixels) below which the trajectory's detail is kept: 0 (keep all of its output),
    else 0.5 .. 64 (smaller scales keep next to nothing: the answer nears the one-call estimate)."""
    detail_sigma = number("detail_sigma", detail_sigma)
    if not (detail_sigma == 0.0 or DETAIL_SIGMA_MIN <= detail_sigma <= DETAIL_SIGMA_MAX):
        raise DiracError(f"detail_sigma must be 0 (the steps' whole output) or in [{DETAIL_SIGMA_MIN:g}, "
                         f"{DETAIL_SIGMA_MAX:g}] pixels, got {detail_sigma}")
    return detail_sigma


def late_start_timesteps(t_start: int, steps: int) -> List[int]:
    """``steps`` evenly spaced, strictly decreasing timesteps from ``t_start`` towards 0."""
    if steps > t_start:
        raise DiracError(f"{steps} steps do not fit below t_start={t_start}")
    return [round(t_start * (steps - i) / steps) for i in range(steps)]


def sample_residual(
    denoise: Denoiser,
    shape: torch.Size,
    scheduler: DDPMScheduler,
    t_start: int,
    steps: int,
    realism: float,
    tau: float,
    generator: Optional[torch.Generator] = None,
    device: torch.device | str = "cpu",
    progress: Optional[Callable[[], None]] = None,
    eta: float = 0.0,
    detail_sigma: float = 0.0,
) -> torch.Tensor:
    """Run the dial's ``k`` calls of ``denoise(z_t, t) -> z_0`` and return the last z_0, or with
    ``detail_sigma`` > 0 the first z_0 plus the part of (last z_0 - first z_0) finer than that scale.

    Every prediction is clipped to [-tau, tau] before it is used, whatever the network says
    (NaN counts as zero). ``eta`` scales the fresh noise of each later step (DDIM); the
    deterministic path (0) keeps the synthesised texture and loses less fidelity than 1.
    """
    check_eta(eta)
    detail_sigma = check_detail_sigma(detail_sigma)
    calls = calls_for(realism, steps)
    timesteps = late_start_timesteps(t_start, steps) if calls > 1 else [t_start]
    alphas = scheduler.alphas_cumprod  # only the noise schedule is read: the scheduler is not changed
    z_t = torch.zeros(1, 1, 1, 1, device=device).expand(shape)  # zero residual, no memory
    for i in range(calls):
        z_0 = denoise(z_t, timesteps[i]).nan_to_num_(0.0).clamp_(-tau, tau)  # NaN adds nothing
        if progress is not None:
            progress()
        if i == calls - 1:
            break
        a_prev = alphas[timesteps[i + 1]].item()
        if i == 0:  # forward process around the one-call estimate
            first = z_0
            z_t = a_prev**0.5 * z_0 + (1 - a_prev) ** 0.5 * _noise(shape, generator, device)
        else:
            z_t = ddim_step(z_0, z_t, alphas[timesteps[i]].item(), a_prev, eta, generator, device)
    if calls == 1 or detail_sigma == 0:
        return z_0
    del z_t  # the blur's working memory: one full-size tensor fewer
    detail = z_0.sub_(first)  # in place: z_0 - first, then its fine part, then first + that
    return detail.sub_(gaussian_blur(detail, detail_sigma)).add_(first).clamp_(-tau, tau)


def ddim_step(z_0: torch.Tensor, z_t: torch.Tensor, a_t: float, a_prev: float, eta: float,
              generator: Optional[torch.Generator], device: torch.device | str) -> torch.Tensor:
    """z_{t-1} from the clean prediction: the implied noise carried over, plus ``eta`` fresh noise.

    With ``eta`` 1 this is the DDPM posterior (diffusers ``DDPMScheduler.step``, fixed_small).
    """
    sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) ** 0.5
    eps = (z_t - a_t**0.5 * z_0) / (1 - a_t) ** 0.5
    z_prev = a_prev**0.5 * z_0 + max(0.0, 1 - a_prev - sigma**2) ** 0.5 * eps
    return z_prev + sigma * _noise(z_t.shape, generator, device) if sigma > 0 else z_prev


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of each channel of NCHW ``x`` (3 sigma radius, edges replicated),
    one channel at a time so that only single-channel temporaries are made."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma
    kernel = torch.exp(-0.5 * taps**2)
    kernel = (kernel / kernel.sum()).to(x.dtype).to(x.device).view(1, 1, 1, -1)
    out = torch.empty_like(x)
    for c in range(x.shape[1]):
        rows = F.conv2d(F.pad(x[:, c : c + 1], (radius, radius, 0, 0), mode="replicate"), kernel)
        out[:, c : c + 1] = F.conv2d(F.pad(rows, (0, 0, radius, radius), mode="replicate"), kernel.transpose(2, 3))
    return out


def _noise(shape, generator, device) -> torch.Tensor:
    return randn_tensor(shape, generator=generator, device=torch.device(device))  # CPU generators work on GPU
