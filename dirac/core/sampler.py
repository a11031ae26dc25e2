"""The realism dial over late-start residual sampling (:class:`dirac.core.scheduler.DiracScheduler`).

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
from typing import Callable, Optional, Union

import torch

from base_codecs import DiracError

from ..checks import number, whole
from .scheduler import T_START_MIN, DiracScheduler

Denoiser = Callable[[torch.Tensor, int], torch.Tensor]


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


PRECISIONS = ("fp32", "bf16")  # what the network can run in
PRECISION_CHOICES = ("auto",) + PRECISIONS  # what a caller may ask for


def fast_bf16(device: Union[str, torch.device]) -> bool:
    """Whether ``device`` runs bf16 natively: CUDA with bf16, or a CPU with AVX-512 BF16 or AMX
    (elsewhere CPU bf16 is emulated and slower than fp32)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return any(getattr(torch.cpu, probe, lambda: False)() for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return False


def check_precision(precision: str, device: Union[str, torch.device]) -> str:
    """The network's arithmetic on ``device``: fp32, bf16 autocast (weights and the sampler stay
    fp32), or auto: bf16 where the device runs it natively, else fp32."""
    if precision not in PRECISION_CHOICES:
        raise DiracError(f"precision must be one of {', '.join(PRECISION_CHOICES)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if fast_bf16(device) else "fp32"
    return precision


def sample_residual(
    denoise: Denoiser,
    shape: torch.Size,
    scheduler: DiracScheduler,
    t_start: int,
    steps: int,
    realism: float,
    tau: float,
    generator: Optional[torch.Generator] = None,
    device: torch.device | str = "cpu",
    progress: Optional[Callable[[], None]] = None,
    eta: float = 0.0,
    detail_sigma: float = 0.0,
    noise: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Run the dial's ``k`` calls of ``denoise(z_t, t) -> z_0`` and return the last z_0, or with
    ``detail_sigma`` > 0 the first z_0 plus the part of (last z_0 - first z_0) finer than that scale.

    Every prediction is clipped to [-tau, tau] before it is used, whatever the network says
    (NaN counts as zero). ``eta`` scales the fresh noise of each later step (DDIM); the
    deterministic path (0) keeps the synthesised texture and loses less fidelity than 1.
    ``noise`` (of ``shape``; None: drawn) is the first step's, the only draw when ``eta`` is 0.
    ``scheduler`` is set to this run's timesteps.
    """
    check_eta(eta)
    calls = calls_for(realism, steps)
    scheduler.set_timesteps(steps if calls > 1 else 1, t_start, device)
    z_t = torch.zeros(1, 1, 1, 1, device=device).expand(shape)  # zero residual, no memory
    first = None
    for i, t in enumerate(scheduler.timesteps[:calls].tolist()):
        z_0 = denoise(z_t, t)
        if progress is not None:
            progress()
        if i == calls - 1:
            z_0 = scheduler.threshold(z_0, tau)
            break
        z_t, z_0 = scheduler.step(z_0, t, z_t, tau=tau, eta=eta, generator=generator, return_dict=False,
                                  noise=noise if i == 0 else None)
        first = z_0 if i == 0 else first
    if first is None:
        return z_0
    del z_t  # the blur's working memory: one full-size tensor fewer
    return scheduler.keep_detail(first, z_0, tau, detail_sigma)
