"""Training: residual diffusion with a one-call regression branch, EMA, resumable checkpoints.

Each batch mixes two kinds of example. *Regression* examples see a zero residual at the
rate's ``t_start`` (exactly what the first sampling call sees), so the realism-0 output is
trained as an MMSE estimate. *Diffusion* examples see the forward process at a random
t < t_start, which is what the later, stochastic calls see. The loss is MSE on the residual
normalised by the rate's sigma, so every rate weighs alike, plus (weight rho, CDC's and
Brenig & Timofte's perceptual term) LPIPS between the diffusion examples' predicted clean
image and the original: the realism end's texture, never the MMSE end. Runs through
accelerate, in bf16 autocast where the CPU or GPU runs it natively (precision auto).
"""
from __future__ import annotations

import contextlib
import csv
import functools
import inspect
import json
import math
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch
from accelerate import Accelerator
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from base_codecs import DiracError

from ..checks import default_device
from ..core.model import ResidualDenoiser
from ..core.pipeline import DiracPipeline, check_config, quiet_diffusers
from ..core.pixels import pixels_to_tensor, tensor_to_pixels
from ..core.rates import interpolate_stat, normalise_rate
from ..core.sampler import check_precision
from ..core.scheduler import DiracScheduler
from ..io import atomic_file, process_umask
from ..metrics.fidelity import psnr
from .config import TrainConfig
from .data import PairSampler, PatchSampler, degradation_of, find_images, load_coded_pairs, load_images, split_validation

# What a saved config's ``model`` may set for a new model (the rest comes from the data)
MODEL_OPTIONS = sorted(set(inspect.signature(ResidualDenoiser.__init__).parameters) - {"self", "codec", "stats_rates", "stats_sigma", "stats_tau"})
MAX_DB = 100.0  # validation PSNR ceiling (an exact crop)
LOG_FIELDS = ["step", "seconds", "lr", "loss", "loss_regression", "loss_diffusion", "loss_perceptual", "val_psnr_gain_db"]


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr`` at ``steps``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def _mean_finite(values: List[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def make_samplers(cfg: TrainConfig, seed: int):
    """The training sampler and the fixed validation examples, from held-out images.

    With ``sources`` the data folders hold pre-coded bitstreams and manifests (VVC, which
    has no encoder here); otherwise patches are coded on the fly through ``base_codecs``.
    """
    if cfg.sources:
        pairs = load_coded_pairs(cfg.data, cfg.sources, cfg.codec)
        train, val = split_validation(sorted(pairs))
        flat = lambda names: [p for n in names for p in pairs[n]]  # noqa: E731
        return PairSampler(flat(train), cfg.patch, seed), PairSampler(flat(val), 1).fixed_crops()
    degradation_of(cfg.codec)  # refused before the images are read
    train, val = split_validation(find_images(cfg.data))
    sampler = PatchSampler(load_images(train, cfg.patch), cfg.codec, cfg.patch, seed)
    return sampler, PatchSampler(load_images(val, cfg.patch), cfg.codec, 1, seed=1234).fixed_crops()


def _remove(path: Path) -> None:
    """``path`` gone, file or folder, if it was there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def check_out(out: str) -> Path:
    """The run folder ``out``, once it can be one: said before any data is read."""
    path = Path(out)
    if not str(out).strip():
        raise DiracError("training: the run folder is empty; name one", option="out")
    if path.exists() and not path.is_dir():
        raise DiracError(f"training: {out} is a file, not a run folder", option="out")
    try:
        existing = next(p for p in [path, *path.resolve().parents] if p.exists())
    except (OSError, RuntimeError):  # a symbolic-link loop
        raise DiracError(f"training: cannot create or write the run folder {out} (too many levels of symbolic links)") from None
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise DiracError(f"training: cannot create or write the run folder {out} ({existing} is not a writable folder)")
    return path


class Trainer:
    """Owns model, EMA, optimiser, sampler and log; ``run()`` trains until done or out of time."""

    def __init__(self, cfg: TrainConfig):
        self.cfg, self.out = cfg, check_out(cfg.out)
        self.ckpt = self.out / "checkpoint" / "state.pt"
        unknown = sorted(set(cfg.model) - set(MODEL_OPTIONS))
        if unknown:
            raise DiracError(f"training: unknown model option(s) {', '.join(map(str, unknown))}; known: {', '.join(MODEL_OPTIONS)}")
        self.accelerator = Accelerator(cpu=default_device() == "cpu")  # CPU-only machines still split work
        torch.manual_seed(cfg.seed + self.accelerator.process_index)
        self.step, self.best, self.model, state, warm = 0, -math.inf, None, None, False
        if self.ckpt.exists():
            self.model, state = self._checkpoint()
            self.step = state["step"]
        elif (self.out / "model" / "config.json").exists():  # warm start from shipped weights
            self.model, warm = self._weights(), True
            self.step = self._logged_steps()
        if self.step >= cfg.steps:  # said before the minutes of decoding training data
            raise DiracError(f"{self.out} already holds {self.step} trained steps; give more steps in all to train further", option="steps")
        self.sampler, self.val = make_samplers(cfg, cfg.seed + self.accelerator.process_index)
        if self.model is None:
            self.model = self._new_model()
            if (self.out / "train_log.csv").exists() and self.accelerator.is_main_process:
                self._truncate_log(0)  # rows of an earlier start that saved nothing describe nothing kept
        self.model.to(memory_format=torch.channels_last)
        self.ema = EMAModel(self.model.parameters(), decay=cfg.ema_decay, use_ema_warmup=True, power=2 / 3)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=0.0)
        if state is not None:
            self.ema.load_state_dict(state["ema"])
            self.ema.decay, self.ema.use_ema_warmup, self.ema.power = cfg.ema_decay, True, 2 / 3
            self.optimizer.load_state_dict(state["optimizer"])
            self.step, self.best = state["step"], state["best"]
            if self.accelerator.is_main_process:  # the checkpoint holds the main process's streams
                self.sampler.rng.bit_generator.state = state["sampler_rng"]
                torch.set_rng_state(state["torch_rng"])
            else:  # the others draw fresh, distinct streams
                self.sampler.rng = np.random.default_rng([cfg.seed, self.accelerator.process_index, self.step])
                torch.manual_seed(cfg.seed + 1000 * self.accelerator.process_index + self.step)
            if self.accelerator.is_main_process:
                self._truncate_log(self.step)
        self.model, self.optimizer = self.accelerator.prepare(self.model, self.optimizer)
        self.ema.to(self.accelerator.device)  # the shadow weights live where the model does
        self.scheduler = self._saved_scheduler()
        self.pipeline_defaults = DiracPipeline(self.unwrapped, self.scheduler)
        if warm:
            self.best = self.validate(self.pipeline_defaults)

    def _new_model(self) -> ResidualDenoiser:
        """A model to train from scratch, or grown from ``init_from``'s weights: their tensors
        loaded, new parts as made (zero-initialised joins start at their quality). Weights of
        another codec warm-start a new codec's model: their tensors and options, with this
        codec's residual statistics measured on its own data."""
        cfg = self.cfg
        smaller = self._weights(Path(cfg.init_from)) if cfg.init_from else None
        same_codec = smaller is not None and smaller.config.codec == cfg.codec
        options = {} if smaller is None else {k: v for k, v in smaller.config.items() if k in MODEL_OPTIONS}
        if same_codec:  # its statistics and options, overridden by the run's model options
            options.update({k: v for k, v in smaller.config.items() if k.startswith("stats_")})
        else:
            options.update(self.sampler.residual_stats(per_rate=96, seed=cfg.seed))  # same on every process
        try:
            model = ResidualDenoiser(codec=cfg.codec, **{**options, **cfg.model})
            return model.grown_from(smaller) if smaller is not None else model
        except (TypeError, ValueError) as e:
            raise DiracError(f"training: bad model options {cfg.model}: {e}") from None

    def _weights(self, folder: Path = None) -> ResidualDenoiser:
        """The saved model a run warm-starts (or grows) from, or a one-line error."""
        folder = self.out if folder is None else folder
        try:
            with quiet_diffusers():
                return ResidualDenoiser.from_pretrained(folder / "model")
        except Exception as e:  # diffusers raises many types for a damaged folder
            raise DiracError(f"{folder / 'model'} holds damaged weights ({type(e).__name__}); fix or remove them, "
                             "or train into another run folder", option="out") from None

    def _saved_scheduler(self) -> DiracScheduler:
        """The scheduler of weights already in the run folder (t_start range, detail scale), else of those
        grown from: a continued run keeps its sampling settings rather than the defaults."""
        folder = self.out
        if not (folder / "model_index.json").exists() and self.cfg.init_from:  # a grown model samples as the one it grew from
            folder = Path(self.cfg.init_from)
        try:
            if not isinstance(json.loads((folder / "model_index.json").read_text()), dict):
                raise ValueError
        except (OSError, ValueError):  # none yet (a new run) or unreadable (replaced on the first save)
            return DiracScheduler(num_train_timesteps=self.unwrapped.config.num_train_timesteps)
        try:
            scheduler = DiracScheduler.from_folder(folder)
        except Exception as exc:  # diffusers raises many types for a damaged file
            raise DiracError(f"weights at {folder}: {exc}") from None
        check_config(DiracPipeline(self.unwrapped, scheduler), folder)
        return scheduler

    def _checkpoint(self):
        """(model, saved state) of the checkpoint being resumed, or a one-line error."""
        try:
            state = torch.load(self.ckpt, map_location="cpu", weights_only=False)
            model = ResidualDenoiser.from_config(state["model_config"])
            model.load_state_dict(state["model"])
            missing = {"ema", "optimizer", "step", "best", "sampler_rng", "torch_rng"} - set(state)
            if missing:  # found now, before any part is used
                raise KeyError(", ".join(sorted(missing)))
            return model, state
        except Exception as e:  # a damaged pickle raises almost anything
            raise DiracError(f"{self.ckpt} is damaged ({type(e).__name__}); remove it to warm-start from the "
                             f"weights in {self.out}, or train into another run folder", option="out") from None

    def _log_rows(self) -> List[dict]:
        """The log's rows, once each names a whole step (the resumed schedule is read from them)."""
        path = self.out / "train_log.csv"
        if not path.exists():
            return []
        try:
            with open(path) as f:
                rows = list(csv.DictReader(f))
            for row in rows:
                row["step"] = str(int(row["step"]))
            return rows
        except (OSError, KeyError, TypeError, ValueError, csv.Error):
            raise DiracError(f"{path} is damaged (each row must name its step); fix it, or train into another run folder", option="out") from None

    def _logged_steps(self) -> int:
        """Steps already trained according to the log, so a warm start continues the LR schedule."""
        rows = self._log_rows()
        return int(rows[-1]["step"]) if rows else 0

    def _truncate_log(self, step: int) -> None:
        """Forget log rows past the checkpoint being resumed, so the curve has no repeats."""
        rows = [r for r in self._log_rows() if int(r["step"]) <= step]
        with open(self.out / "train_log.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    def autocast(self):
        """bf16 autocast of forward passes when the run asks for it (the weights stay fp32).
        Not accelerate's mixed_precision: its state is one per process, fixed by the first run."""
        return torch.autocast(self.accelerator.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    @functools.cached_property
    def precision(self) -> str:
        """The run's arithmetic, "auto" resolved for this device."""
        return check_precision(self.cfg.precision, self.accelerator.device)

    @functools.cached_property
    def lpips(self) -> torch.nn.Module:
        """LPIPS (AlexNet, offline reference weights) as a frozen loss on [-1, 1] images."""
        from ..metrics.lpips_metric import model

        net = model("alex", str(self.accelerator.device))
        net.requires_grad_(False)
        return net

    @property
    def unwrapped(self) -> ResidualDenoiser:
        return self.accelerator.unwrap_model(self.model)

    def _noisy_inputs(self, z_0: torch.Tensor, rates: np.ndarray):
        """Per-example timestep and model input z_t (zero for regression examples)."""
        n = z_0.shape[0]
        starts = torch.tensor([self.scheduler.t_start(normalise_rate(self.cfg.codec, r)) for r in rates])
        regression = torch.rand(n) < self.cfg.regression_fraction
        t = torch.minimum((torch.rand(n) * starts).long() + 1, starts - 1)
        t = torch.where(regression, starts, t)
        a = self.scheduler.alphas_cumprod[t].to(z_0.device).view(n, 1, 1, 1)
        z_t = a.sqrt() * z_0 + (1 - a).sqrt() * torch.randn_like(z_0)
        z_t = torch.where(regression.view(n, 1, 1, 1).to(z_0.device), torch.zeros_like(z_0), z_t)
        return z_t, t, regression

    def _latent(self, latents: Optional[np.ndarray]) -> Optional[torch.Tensor]:
        """The batch's decoded latents for a model conditioned on them (else None), or a DiracError
        where the codec gives none."""
        if not self.unwrapped.config.latent_channels:
            return None
        if latents is None:
            raise DiracError(f"training: latent_channels needs a codec that decodes a latent; {self.cfg.codec} gives none", option="model")
        return torch.from_numpy(latents).to(self.accelerator.device)

    def train_step(self) -> dict:
        cfg, dev = self.cfg, self.accelerator.device
        originals, decodes, rates, latents = self.sampler.batch(cfg.batch)
        x, x_tilde = (pixels_to_tensor(b, dev).contiguous(memory_format=torch.channels_last) for b in (originals, decodes))
        latent = self._latent(latents)
        sigma = torch.tensor([interpolate_stat(self.unwrapped.config.stats_rates, self.unwrapped.config.stats_sigma, r) for r in rates], device=dev)
        z_0 = (x - x_tilde) / sigma.view(-1, 1, 1, 1).float()
        z_t, t, regression = self._noisy_inputs(z_0, rates)
        rate_unit = torch.tensor([normalise_rate(cfg.codec, r) for r in rates], device=dev)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(cfg, self.step)
        with self.autocast():
            pred = self.model(z_t.contiguous(memory_format=torch.channels_last), x_tilde * 2 - 1, t.to(dev), rate_unit, latent)
        per_example = (pred.float() - z_0).square().mean(dim=(1, 2, 3))
        loss = per_example.mean()
        diffusion = ~regression.to(dev)
        perceptual = None
        if cfg.perceptual_weight > 0 and bool(diffusion.any()):
            clean = x_tilde[diffusion] + sigma[diffusion].view(-1, 1, 1, 1) * pred[diffusion].float()
            with self.autocast():
                perceptual = self.lpips(clean.clamp(0, 1) * 2 - 1, x[diffusion] * 2 - 1).float().mean()
            loss = loss + cfg.perceptual_weight * perceptual
        self.optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        self.accelerator.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.ema.step(self.unwrapped.parameters())
        self.step += 1
        reg = per_example[~diffusion]
        dif = per_example[diffusion]
        return {
            "loss": loss.item(),
            "loss_regression": reg.mean().item() if len(reg) else float("nan"),
            "loss_diffusion": dif.mean().item() if len(dif) else float("nan"),
            "loss_perceptual": perceptual.item() if perceptual is not None else float("nan"),
            "lr": self.optimizer.param_groups[0]["lr"],
        }

    def _agreed(self, flag: bool) -> bool:
        """True when any process says so: all processes stop on the same step (no hung all-reduce)."""
        if self.accelerator.num_processes == 1:
            return flag
        return bool(self.accelerator.reduce(torch.tensor([float(flag)], device=self.accelerator.device), "max").item())

    def ema_pipeline(self) -> DiracPipeline:
        """A pipeline holding a copy of the model with the EMA weights."""
        model = ResidualDenoiser.from_config(self.unwrapped.config)
        model.load_state_dict(self.unwrapped.state_dict())
        self.ema.copy_to(model.parameters())
        return DiracPipeline(model.eval(), DiracScheduler.from_config(self.scheduler.config))

    def validate(self, pipe: DiracPipeline) -> float:
        """Mean PSNR gain (dB) of the one-call output over the base decode on held-out crops."""
        gains = []
        for original, decoded, rate, latent in self.val:
            with torch.inference_mode():
                latent = None if latent is None else torch.from_numpy(latent)[None]
                enhanced = tensor_to_pixels(pipe(pixels_to_tensor(decoded), rate, latent=latent))
            # capped: an exact crop has infinite PSNR, which would make the mean infinite or NaN
            gains.append(min(psnr(original, enhanced), MAX_DB) - min(psnr(original, decoded), MAX_DB))
        return float(np.mean(gains))

    def save_weights(self, pipe: DiracPipeline) -> None:
        """``pipe`` into the run folder, each part written aside first and then swapped in, so a full disk or
        an interrupt leaves the previous best weights whole; files follow the umask. The tensors
        are stored as fp16 (half the size in a clone; they load as fp32), the run's fp32 state
        stays in its checkpoint."""
        from safetensors.torch import load_file, save_file

        staging = self.out / ".saving"
        with self._writing(staging):
            shutil.rmtree(staging, ignore_errors=True)
            pipe.save_pretrained(staging)
            for tensors in staging.rglob("*.safetensors"):
                save_file({k: v.half() for k, v in load_file(tensors).items()}, tensors, metadata={"format": "pt"})
            mode = 0o666 & ~process_umask()
            for path in staging.rglob("*"):
                if path.is_file():
                    path.chmod(mode)  # safetensors writes 0600
            for part in sorted(staging.iterdir()):
                target, old = self.out / part.name, self.out / f".old-{part.name}"
                _remove(old)
                if target.exists():
                    target.rename(old)
                try:
                    part.rename(target)
                except BaseException:  # put the previous part back before giving up
                    if old.exists() and not target.exists():
                        old.rename(target)
                    raise
                _remove(old)
            staging.rmdir()

    @contextlib.contextmanager
    def _writing(self, path: Path):
        """A failed write (disk full, permissions) as a one-line error naming ``path``."""
        try:
            yield
        except (OSError, RuntimeError) as exc:  # torch and safetensors report I/O failures as RuntimeError too
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DiracError(f"cannot write {path}: {reason}") from None

    def save_checkpoint(self) -> None:
        self.ckpt.parent.mkdir(parents=True, exist_ok=True)
        with self._writing(self.ckpt), atomic_file(self.ckpt, "checkpoint") as tmp:
            self._save_state(tmp)

    def _save_state(self, tmp: Path) -> None:
        torch.save(
            {
                "model_config": dict(self.unwrapped.config),
                "model": self.unwrapped.state_dict(),
                "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "step": self.step,
                "best": self.best,
                "sampler_rng": self.sampler.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
            },
            tmp,
        )

    def _log(self, row: dict) -> None:
        path = self.out / "train_log.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in LOG_FIELDS})

    def run(self) -> float:
        """Train to ``cfg.steps`` (or ``max_minutes``); returns the best validation gain."""
        cfg, main = self.cfg, self.accelerator.is_main_process
        self.out.mkdir(parents=True, exist_ok=True)
        if main:
            (self.out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train", disable=not main)
        try:
            self._train(bar, time.time(), main)
        except BaseException as stop:  # Ctrl-C, or SIGTERM unwinding: keep the steps trained so far, then stop as asked
            if main and not isinstance(stop, Exception):
                self.save_checkpoint()
            raise
        bar.close()
        return self.best

    def _train(self, bar, start: float, main: bool) -> None:
        """Steps, logs, validations and checkpoints until done or out of time."""
        cfg, last_ckpt = self.cfg, start
        window: List[dict] = []
        while self.step < cfg.steps:
            window.append(self.train_step())
            bar.update(1)
            out_of_time = self._agreed(cfg.max_minutes is not None and time.time() - start > cfg.max_minutes * 60)
            if not main:
                if out_of_time:
                    break
                continue
            row = {}
            if self.step % 20 == 0:
                row = {k: _mean_finite([w[k] for w in window]) for k in window[0]}
                bar.set_postfix(loss=f"{row['loss']:.4f}")
                window = []
            if self.step % cfg.val_every == 0 or self.step == cfg.steps or out_of_time:
                pipe = self.ema_pipeline()
                row["val_psnr_gain_db"] = gain = self.validate(pipe)
                if gain > self.best:
                    self.save_weights(pipe)
                    self.best = gain  # only once they are saved: a checkpoint must not claim unsaved weights
            if row:
                self._log({"step": self.step, "seconds": round(time.time() - start, 1), **row})
            if time.time() - last_ckpt > cfg.checkpoint_minutes * 60 or self.step == cfg.steps or out_of_time:
                self.save_checkpoint()
                last_ckpt = time.time()
            if out_of_time:
                break
