"""Methods measured side by side: one small interface, so the run loop treats the enhancer,
the plain base decode and the peers alike.

A method has a ``name`` and ``enhance(decoded, rate, bitstream=None) -> uint8 image`` of the
same shape. ``bitstream`` is the coded data the decode came from, for methods that work in the
coded domain (jpegqs). Adding a peer = one module here that registers a factory, named in ``_MODULES``.
"""
from __future__ import annotations

import abc
import importlib
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from base_codecs import DiracError


class PeerUnavailable(DiracError):
    """A method cannot run here (missing weights, binary or codec support): the message says why."""


class Peer(abc.ABC):
    """A method that improves (or keeps) a base decode; stateless between calls."""

    name: str = ""
    description: str = ""
    codecs: Tuple[str, ...] = ()  # codec families it applies to; empty = any
    external_tool: bool = False  # runs a separate program (its memory is not this process's)

    @abc.abstractmethod
    def enhance(self, decoded: np.ndarray, rate: float, bitstream: Optional[bytes] = None,
                latent: Optional[np.ndarray] = None) -> np.ndarray:
        """The improved image: uint8 HxW or HxWx3, the shape of ``decoded``; ``latent`` is a learned
        codec's decoded latent (``Decoded.latent``), for methods conditioned on it."""

    def info(self) -> dict:
        """What the JSON records about this method (how it was applied, its settings)."""
        return {"description": self.description}


def count_parameters(module) -> int:
    """Learned parameters of a torch module (recorded in each method's JSON info)."""
    return sum(p.numel() for p in module.parameters())


Factory = Callable[..., List[Peer]]  # one method may come in several settings (the dial)
_REGISTRY: Dict[str, Factory] = {}
# Modules that register a peer on import, in the order the run lists them.
_MODULES = ("base", "dncnn3", "jpegqs", "dirac_peer")


def register(name: str, factory: Factory) -> None:
    """Make ``make(name)`` build its settings with ``factory(**options)``; factories ignore options
    they do not use, so one option set serves every method."""
    _REGISTRY[name] = factory


def names() -> List[str]:
    """Every registered method, in run order."""
    for module in _MODULES:
        importlib.import_module(f".{module}", __name__)
    return list(_REGISTRY)


def make(name: str, codec: str, **options) -> List[Peer]:
    """Build method ``name`` for ``codec`` data; PeerUnavailable if it cannot run here or on that codec."""
    if name not in names():
        raise DiracError(f"unknown method {name!r}; known: {', '.join(names())}")
    peers = _REGISTRY[name](codec=codec, **options)
    for peer in peers:
        if peer.codecs and codec not in peer.codecs:
            raise PeerUnavailable(f"{name} works on {'/'.join(peer.codecs)} data only, not {codec}")
    return peers


def make_many(requested: Sequence[str], codec: str, **options) -> Tuple[List[Peer], Dict[str, str]]:
    """The methods that can run, and for the others the reason they are skipped."""
    peers, skipped = [], {}
    for name in requested:
        try:
            peers += make(name, codec, **options)
        except PeerUnavailable as exc:
            skipped[name] = str(exc)
    return peers, skipped
