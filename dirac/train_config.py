"""Every knob of a training run, checked when made, and how a continued run keeps its own.

Kept apart from the trainer so the CLI can show defaults and refuse bad options without
importing torch."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from base_codecs import DiracError


@dataclass
class TrainConfig:
    """Every knob of a training run; saved beside the weights."""

    codec: str = "jpeg"
    data: List[str] = field(default_factory=list)
    sources: List[str] = field(default_factory=list)  # originals of pre-coded data (VVC manifests)
    out: str = "weights/jpeg"
    steps: int = 20000
    batch: int = 16
    patch: int = 128
    lr: float = 3e-4
    min_lr: float = 2e-5
    warmup: int = 200
    regression_fraction: float = 0.75  # the one-call (PSNR) end is the primary target
    ema_decay: float = 0.999  # reached gradually: decay = min(this, 1 - (1 + step) ** -2/3)
    checkpoint_minutes: float = 5.0
    val_every: int = 250
    seed: int = 0
    max_minutes: Optional[float] = None
    model: dict = field(default_factory=dict)  # ResidualDenoiser options for a new model

    def __post_init__(self):
        finite = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)  # noqa: E731
        whole = lambda x: isinstance(x, int) and not isinstance(x, bool)  # noqa: E731
        if not all(whole(v) for v in (self.steps, self.batch, self.patch, self.warmup, self.val_every, self.seed)):
            raise DiracError("training: steps, batch, patch, warmup, val_every and seed must be integers")
        numbers = {"lr": self.lr, "min lr": self.min_lr, "regression fraction": self.regression_fraction,
                   "ema_decay": self.ema_decay, "checkpoint minutes": self.checkpoint_minutes}
        if self.max_minutes is not None:
            numbers["max minutes"] = self.max_minutes
        for name, value in numbers.items():
            if not finite(value):
                raise DiracError(f"training: {name} must be a finite number, got {value!r}")
        if not (isinstance(self.codec, str) and isinstance(self.model, dict)):
            raise DiracError("training: codec must be a name and model a mapping of model options")
        problems = [
            (self.steps >= 1, f"steps must be at least 1, got {self.steps}"),
            (self.batch >= 1, f"batch must be at least 1, got {self.batch}"),
            (self.patch >= 16 and self.patch % 16 == 0, f"patch must be a positive multiple of 16 pixels, got {self.patch}"),
            (self.lr > 0, f"lr must be a positive number, got {self.lr}"),
            (0 <= self.min_lr <= self.lr,
             f"min lr (--min-lr) must lie in 0..lr ({self.lr:g}), got {self.min_lr}"),
            (self.warmup >= 0, f"warmup must be at least 0, got {self.warmup}"),
            (0 <= self.regression_fraction <= 1,
             f"regression fraction must lie in 0..1, got {self.regression_fraction}"),
            (0 <= self.ema_decay < 1, f"ema_decay must lie in 0..1 (exclusive), got {self.ema_decay}"),
            (self.checkpoint_minutes > 0,
             f"checkpoint minutes must be positive, got {self.checkpoint_minutes}"),
            (self.val_every >= 1, f"val_every must be at least 1, got {self.val_every}"),
            (self.seed >= 0, f"seed must be at least 0, got {self.seed}"),
            (self.max_minutes is None or self.max_minutes > 0,
             f"max minutes must be positive, got {self.max_minutes}"),
        ]
        for ok, message in problems:
            if not ok:
                raise DiracError(f"training: {message}")


# What continuing a run keeps from its saved train_config.json unless told otherwise
CARRIED_OVER = ("codec", "steps", "batch", "patch", "lr", "min_lr", "warmup", "regression_fraction", "ema_decay",
                "checkpoint_minutes", "val_every", "seed", "model")


def _folder_codec(out: Path, saved: dict) -> Optional[str]:
    """The codec a run folder was trained for: its saved config's, else its weights'."""
    if "codec" in saved:
        return saved["codec"]
    model = out / "model" / "config.json"
    try:
        return json.loads(model.read_text()).get("codec") if model.is_file() else None
    except (OSError, ValueError, AttributeError):
        return None


def continued_config(out: str, **given) -> TrainConfig:
    """The config of a run into ``out``: options ``given`` (those not None) override what the
    folder's ``train_config.json`` saved, which overrides the defaults. Continuing a run (or
    the shipped weights) thus keeps its learning rate, example mix and schedule."""
    path = Path(out) / "train_config.json"
    try:
        saved = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        saved = exc
    if not isinstance(saved, dict):
        raise DiracError(f"{path} is unreadable or not a JSON object; fix it, or train into another --out "
                         "(removing it would resume the run with default settings)")
    codec, trained = given.get("codec"), _folder_codec(Path(out), saved)
    if codec is not None and trained is not None and trained != codec:
        raise DiracError(f"{out} holds {trained} training, not {codec}; train {codec} into another --out")
    kept = {k: saved[k] for k in CARRIED_OVER if k in saved}
    if trained is not None:
        kept["codec"] = trained
    return TrainConfig(out=str(out), **{**kept, **{k: v for k, v in given.items() if v is not None}})
