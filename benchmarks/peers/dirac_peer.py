"""The enhancer itself, one method per dial setting, all sharing one loaded model.

The weights may be retrained while a benchmark runs, so they are loaded once and their
fingerprint (SHA-256 of the safetensors, modification time) goes into the JSON.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np

import base_codecs
from base_codecs import DiracError
from dirac.core.sampler import calls_for

from ..labels import setting_name
from . import Peer, PeerUnavailable, count_parameters, register


def fingerprint(folder: Path) -> dict:
    """Which weights these were: SHA-256 and time of each safetensors file under ``folder``."""
    files = sorted(folder.rglob("*.safetensors"))
    return {str(f.relative_to(folder)): {
        "sha256": hashlib.sha256(f.read_bytes()).hexdigest(),
        "modified": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(f.stat().st_mtime)),
    } for f in files}


class DiracSetting(Peer):
    """``Enhancer.enhance`` at one realism setting, seeded so every run repeats."""

    def __init__(self, enhancer, weights: Path, realism: float, steps: int, seed: int, eta: float,
                 detail_sigma: Optional[float], about: dict, precision: str, ensemble: int = 1):
        self.enhancer, self.weights, self.precision = enhancer, weights, precision
        self.realism, self.steps, self.seed, self.eta, self.about = realism, steps, seed, eta, about
        self.ensemble = ensemble
        self.detail_sigma = enhancer.pipeline.scheduler.config.detail_sigma if detail_sigma is None else detail_sigma
        self.name = setting_name(realism, ensemble)
        calls = calls_for(realism, steps)
        self.description = (f"dirac, realism {realism:g} ({calls} network call{'s' * (calls > 1)} of N = {steps})"
                            + (f", {ensemble}-view self-ensemble" if ensemble > 1 else "")
                            + (f", {precision}" if precision != "fp32" else ""))

    def enhance(self, decoded: np.ndarray, rate: float, bitstream: Optional[bytes] = None,
                latent: Optional[np.ndarray] = None) -> np.ndarray:
        if latent is not None:  # weights conditioned on the codec's latent read it, others ignore it
            decoded = base_codecs.Decoded(decoded, base_codecs.RateInfo(self.enhancer.codec, rate), latent)
        return self.enhancer.enhance(decoded, rate, realism=self.realism, steps=self.steps, seed=self.seed,
                                     eta=self.eta, detail_sigma=self.detail_sigma, precision=self.precision,
                                     ensemble=self.ensemble)

    def info(self) -> dict:
        return {"description": self.description, "realism": self.realism, "steps": self.steps, "seed": self.seed, "eta": self.eta,
                "detail_sigma": self.detail_sigma, "precision": self.precision, "ensemble": self.ensemble, "weights": str(self.weights), "parameters": count_parameters(self.enhancer.pipeline.model), **self.about}


def _factory(codec: str, weights: Union[str, Path, None] = None, realism: Sequence[float] = (0.0,),
             steps: int = 20, seed: int = 0, eta: float = 0.0, detail_sigma: Optional[float] = None,
             device: str = "cpu", precision: str = "auto", ensemble: Sequence[int] = (1,), **_) -> List[Peer]:
    from dirac import Enhancer
    from dirac.core.weights import default_weights
    from dirac.core.sampler import check_precision

    folder = Path(weights) if weights is not None else default_weights(codec)
    if not (folder / "model_index.json").is_file():
        raise PeerUnavailable(f"dirac skipped: no trained {codec} weights at {folder} (model_index.json missing)")
    try:
        enhancer = Enhancer.from_pretrained(folder, device=device)
    except DiracError as exc:
        raise PeerUnavailable(f"dirac skipped: {exc}") from None
    if enhancer.codec != codec:
        raise PeerUnavailable(f"dirac skipped: the weights at {folder} enhance {enhancer.codec}, not {codec}")
    about = {"weights_files": fingerprint(folder)}
    precision = check_precision(precision, device)  # rows say what ran, not "auto"
    return [DiracSetting(enhancer, folder, float(r), steps, seed, eta, detail_sigma, about, precision, int(e))
            for e in ensemble for r in realism]


register("dirac", _factory)
