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

from ..checks import number, whole


@dataclass
class TrainConfig:
    """Every knob of a training run; saved beside the weights."""

    codec: str = "jpeg"
    data: List[str] = field(default_factory=list)
    sources: List[str] = field(default_factory=list)  # originals of pre-coded data (VVC manifests)
    out: str = "dirac/weights/jpeg"
    steps: int = 20000
    batch: int = 16
    patch: int = 128
    lr: float = 3e-4
    min_lr: float = 2e-5
    warmup: int = 200
    regression_fraction: float = 0.75  # the one-call (PSNR) end is the primary target
    perceptual_weight: float = 0.0  # rho (CDC; Brenig & Timofte): LPIPS of diffusion examples' predicted clean image
    ema_decay: float = 0.999  # reached gradually: decay = min(this, 1 - (1 + step) ** -2/3)
    checkpoint_minutes: float = 5.0
    val_every: int = 250
    seed: int = 0
    max_minutes: Optional[float] = None
    model: dict = field(default_factory=dict)  # ResidualDenoiser options for a new model
    init_from: Optional[str] = None  # a new model grows from these weights (their options, overridden by ``model``)
    precision: str = "auto"  # "bf16": autocast with fp32 master weights (about half the step time on AVX-512 BF16 CPUs); "fp32"; "auto": bf16 where native

    def __post_init__(self):
        rules = [  # field, its kind, whether it is in range, that range in words
            ("steps", int, lambda v: v >= 1, "be at least 1"),
            ("batch", int, lambda v: v >= 1, "be at least 1"),
            ("patch", int, lambda v: v >= 16 and v % 16 == 0, "be a positive multiple of 16 pixels"),
            ("warmup", int, lambda v: v >= 0, "be at least 0"),
            ("val_every", int, lambda v: v >= 1, "be at least 1"),
            ("seed", int, lambda v: v >= 0, "be at least 0"),
            ("lr", float, lambda v: v > 0, "be a positive number"),
            ("min_lr", float, lambda v: 0 <= v <= self.lr, f"lie in 0..lr ({self.lr!r})"),
            ("regression_fraction", float, lambda v: 0 <= v <= 1, "lie in 0..1"),
            ("perceptual_weight", float, lambda v: v >= 0, "be at least 0"),
            ("ema_decay", float, lambda v: 0 <= v < 1, "lie in 0..1 (exclusive)"),
            ("checkpoint_minutes", float, lambda v: v > 0, "be positive"),
            ("max_minutes", float, lambda v: v > 0, "be positive"),
        ]
        for what, kind, in_range, wanted in rules:
            value = getattr(self, what)
            if value is None and what == "max_minutes":  # no time limit
                continue
            try:  # numpy numbers count; saved as plain Python ones
                value = whole(what, value) if kind is int else number(what, value)
                if not math.isfinite(value):
                    raise DiracError(what)
            except DiracError:
                raise DiracError(f"training: {what} must be {'an integer' if kind is int else 'a finite number'}, "
                                 f"got {value!r}", option=what) from None
            if not in_range(value):
                raise DiracError(f"training: {what} must {wanted}, got {value!r}", option=what)
            setattr(self, what, value)
        if self.precision not in ("auto", "fp32", "bf16"):
            raise DiracError(f"training: precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.init_from is not None and not (isinstance(self.init_from, str) and self.init_from.strip()):
            raise DiracError(f"training: init_from must name a weights folder, got {self.init_from!r}")
        folders = lambda v: isinstance(v, list) and all(isinstance(p, str) for p in v)  # noqa: E731
        if not (isinstance(self.codec, str) and isinstance(self.model, dict) and folders(self.data) and folders(self.sources)):
            raise DiracError("training: codec must be a name, data and sources lists of folders, model a mapping of model options")


# What continuing a run keeps from its saved train_config.json unless told otherwise
CARRIED_OVER = ("codec", "sources", "steps", "batch", "patch", "lr", "min_lr", "warmup", "regression_fraction", "perceptual_weight", "ema_decay",
                "checkpoint_minutes", "val_every", "seed", "model", "init_from", "precision")


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
    except (OSError, ValueError):
        saved = None
    if not isinstance(saved, dict):
        raise DiracError(f"{path} is unreadable or not a JSON object; fix it, or train into another run folder "
                         "(removing it would resume the run with default settings)", option="out")
    codec, trained = given.get("codec"), _folder_codec(Path(out), saved)
    if codec is not None and trained is not None and trained != codec:
        raise DiracError(f"{out} holds {trained} training, not {codec}; train {codec} into another run folder", option="out")
    if "mixed_precision" in saved:  # its name (and "no" for fp32) before inference and training shared one spelling
        saved.setdefault("precision", {"no": "fp32"}.get(saved["mixed_precision"], saved["mixed_precision"]))
    kept = {k: saved[k] for k in CARRIED_OVER if k in saved}
    if trained is not None:
        kept["codec"] = trained
    return TrainConfig(out=str(out), **{**kept, **{k: v for k, v in given.items() if v is not None}})
