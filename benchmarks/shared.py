"""Where the project's ``shared/`` folder (datasets, peer weights) is: benchmarks use it for
defaults only, and every path can be given explicitly instead."""
from __future__ import annotations

import os
from pathlib import Path

from base_codecs import DiracError

SHARED_ENV = "DIRAC_SHARED"


def shared_root() -> Path:
    """``$DIRAC_SHARED``, else the ``shared`` folder beside the checkout (it may not exist)."""
    configured = os.environ.get(SHARED_ENV)
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared"


def shared_path(*parts: str) -> Path:
    """A path under the shared folder, with an error that says how to point elsewhere if it is missing."""
    path = shared_root().joinpath(*parts)
    if not path.exists():
        raise DiracError(f"{path} not found: set {SHARED_ENV} to the folder holding datasets/ and peers/, "
                         f"or pass the path explicitly")
    return path
