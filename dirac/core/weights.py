"""Where a codec's enhancer weights are found: ``$DIRAC_WEIGHTS/<codec>`` when set, else those
shipped as package data (so an installed wheel carries them as a checkout does). Light: the
commands ask it without loading torch."""
from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

SHIPPED_WEIGHTS = Path(str(importlib.resources.files("dirac") / "weights"))


def default_weights(codec: str = "jpeg") -> Path:
    """Weights for ``codec``: ``$DIRAC_WEIGHTS/<codec>`` (when set and not empty), else those shipped in the package."""
    root = Path(os.environ.get("DIRAC_WEIGHTS") or SHIPPED_WEIGHTS)
    return root / codec
