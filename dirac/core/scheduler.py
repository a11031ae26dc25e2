"""``DiracScheduler``: the diffusers scheduler of late-start residual sampling.

It owns what a sampling run takes from its schedule, saved in ``scheduler_config.json``:
where sampling starts at each rate (``t_start``: later, with less noise, at fine rates), the
timesteps of a late start (``set_timesteps``), the DDIM/DDPM step (``step``), the clip of
every clean prediction to [-tau, tau] (``threshold``) and the detail scale that joins the
first call's coarse structure to the trajectory's fine detail (``keep_detail``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Union

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_ddpm import betas_for_alpha_bar
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from base_codecs import DiracError

from ..checks import number, whole

T_START_MIN, T_START_MAX = 500, 700  # where sampling starts: at the finest and the coarsest rate
DETAIL_SIGMA = 1.0  # pixels; chosen on the held-out training images (benchmarks/detail_scale.py)
DETAIL_SIGMA_MIN, DETAIL_SIGMA_MAX = 0.5, 64.0


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


@dataclass
class DiracSchedulerOutput(BaseOutput):
    """``prev_sample``: z at the next timestep; ``pred_original_sample``: the clipped clean residual."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


class DiracScheduler(SchedulerMixin, ConfigMixin):
    """Cosine noise schedule with clean-residual prediction, started late.

    The first call of a run sees a zero residual at ``t_start`` and predicts the one-call (MMSE)
    estimate; its step re-noises that estimate by the forward process, and every later step is
    DDIM (``eta`` 0: deterministic after that first draw; ``eta`` 1: the DDPM posterior).
    Stateful as diffusers schedulers are (``set_timesteps`` then ``step``): a pipeline uses a copy
    per image, so one pipeline may serve many threads.
    """

    config_name = "scheduler_config.json"
    order = 1

    @register_to_config
    def __init__(self, num_train_timesteps: int = 1000, t_start_min: int = T_START_MIN, t_start_max: int = T_START_MAX,
                 detail_sigma: float = DETAIL_SIGMA):
        steps = whole("num_train_timesteps", num_train_timesteps)
        try:
            in_range = 0 < whole("t_start_min", t_start_min) <= whole("t_start_max", t_start_max) < steps
        except DiracError:
            in_range = False
        if not in_range:
            raise DiracError(f"the t_start range must be whole timesteps within 1..{steps - 1}, got {t_start_min!r}..{t_start_max!r}")
        check_detail_sigma(detail_sigma)
        # diffusers' "squaredcos_cap_v2" betas: the schedule the model trains with
        self.alphas_cumprod = torch.cumprod(1.0 - betas_for_alpha_bar(steps), dim=0)
        self.timesteps = torch.tensor([int(t_start_max)])
        self.num_inference_steps: Optional[int] = None
        self._step_index = 0

    @classmethod
    def from_ddpm(cls, ddpm, **sampling) -> "DiracScheduler":
        """The scheduler of weights saved with a diffusers ``DDPMScheduler`` (before this class) and
        their pipeline's sampling settings (``t_start_min``, ``t_start_max``, ``detail_sigma``)."""
        config = ddpm.config
        if (config.beta_schedule, config.prediction_type) != ("squaredcos_cap_v2", "sample"):
            raise DiracError(f"its DDPM scheduler has {config.beta_schedule} betas and predicts {config.prediction_type}: "
                             "not the cosine, clean-sample schedule dirac models train with")
        return cls(num_train_timesteps=config.num_train_timesteps, **sampling)

    @classmethod
    def from_folder(cls, folder) -> "DiracScheduler":
        """The scheduler of a saved weights folder, in either layout: a DiracScheduler's config, or
        (before this class) a DDPMScheduler's with the sampling settings in ``model_index.json``."""
        index = json.loads((Path(folder) / "model_index.json").read_text())
        if index.get("scheduler", [None, None])[-1] == "DiracScheduler":
            return cls.from_pretrained(str(folder), subfolder="scheduler")
        sampling = {k: index[k] for k in ("t_start_min", "t_start_max", "detail_sigma") if k in index}
        return cls.from_ddpm(DDPMScheduler.from_pretrained(str(folder), subfolder="scheduler"), **sampling)

    def t_start(self, rate_unit: float) -> int:
        """Where sampling starts at a rate in [0, 1] (0 the coarsest): later (less noise) at fine rates."""
        lo, hi = self.config.t_start_min, self.config.t_start_max
        return round(hi + (lo - hi) * rate_unit)

    def set_timesteps(self, num_inference_steps: int, t_start: Optional[int] = None,
                      device: Union[str, torch.device, None] = None) -> None:
        """A late-start schedule: ``num_inference_steps`` timesteps from ``t_start`` (default: the coarsest rate's) down."""
        t_start = self.config.t_start_max if t_start is None else t_start
        self.timesteps = torch.tensor(late_start_timesteps(t_start, num_inference_steps), device=device)
        self.num_inference_steps, self._step_index = num_inference_steps, 0

    @staticmethod
    def threshold(z_0: torch.Tensor, tau: float) -> torch.Tensor:
        """A clean-residual prediction clipped to [-tau, tau] in place, whatever the network said (NaN counts as zero)."""
        return z_0.nan_to_num_(0.0).clamp_(-tau, tau)

    def step(self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor, tau: float = math.inf, eta: float = 0.0,
             generator: Optional[torch.Generator] = None, return_dict: bool = True,
             noise: Optional[torch.Tensor] = None) -> Union[DiracSchedulerOutput, tuple]:
        """From the network's clean prediction at ``timestep`` (the current one of ``set_timesteps``)
        to the sample at the next: forward-process noise around it at the first step (``noise``
        where given, e.g. a video's, carried along its motion; else drawn), DDIM after."""
        if self._step_index >= len(self.timesteps) - 1 or int(timestep) != int(self.timesteps[self._step_index]):
            raise DiracError(f"step at timestep {timestep}: the schedule set by set_timesteps is "
                             f"{[int(t) for t in self.timesteps]}, at step {self._step_index}")
        z_0 = self.threshold(model_output, tau)
        a_prev = self.alphas_cumprod[int(self.timesteps[self._step_index + 1])].item()
        if self._step_index == 0:  # the late start: the forward process around the one-call estimate
            noise = self._noise(z_0, generator) if noise is None else noise.to(z_0)
            prev = a_prev**0.5 * z_0 + (1 - a_prev) ** 0.5 * noise
        else:
            a_t = self.alphas_cumprod[int(timestep)].item()
            sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) ** 0.5
            eps = (sample - a_t**0.5 * z_0) / (1 - a_t) ** 0.5
            prev = a_prev**0.5 * z_0 + max(0.0, 1 - a_prev - sigma**2) ** 0.5 * eps
            if sigma > 0:
                prev = prev + sigma * self._noise(z_0, generator)
        self._step_index += 1
        return DiracSchedulerOutput(prev, z_0) if return_dict else (prev, z_0)

    def keep_detail(self, first: torch.Tensor, last: torch.Tensor, tau: float, detail_sigma: Optional[float] = None) -> torch.Tensor:
        """``first`` (the one-call estimate) plus the part of ``last - first`` finer than
        ``detail_sigma`` pixels (None: the configured scale; 0: ``last`` whole), in ``last``'s memory."""
        detail_sigma = check_detail_sigma(self.config.detail_sigma if detail_sigma is None else detail_sigma)
        if detail_sigma == 0:
            return last
        detail = last.sub_(first)  # in place: last - first, then its fine part, then first + that
        return detail.sub_(gaussian_blur(detail, detail_sigma)).add_(first).clamp_(-tau, tau)

    @staticmethod
    def _noise(like: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
        return randn_tensor(like.shape, generator=generator, device=like.device, dtype=like.dtype)  # CPU generators work on GPU

    def __len__(self) -> int:
        return self.config.num_train_timesteps
