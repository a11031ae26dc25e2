"""The plain base decode: the reference every method must beat (and the row bpp is read from)."""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from . import Peer, register


class BaseDecode(Peer):
    """Returns the decode unchanged."""

    def __init__(self, codec: str):
        self.name = codec
        self.description = f"the plain {codec} decode, unchanged"

    def enhance(self, decoded: np.ndarray, rate: float, bitstream: Optional[bytes] = None,
                latent: Optional[np.ndarray] = None) -> np.ndarray:
        return decoded


def _factory(codec: str, **_) -> List[Peer]:
    return [BaseDecode(codec)]


register("base", _factory)
