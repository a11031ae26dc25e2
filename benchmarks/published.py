"""Published PSNR figures (dB) quoted in ``shared/README.md``, drawn as reference lines and listed
in the tables, always labelled "published": they were not measured here.

Keyed by (dataset, protocol) -> method -> {JPEG quality: PSNR}.
"""
from __future__ import annotations

from typing import Dict, List

QUALITIES = (10, 20, 30, 40)


def _row(*values: float) -> Dict[int, float]:
    return dict(zip(QUALITIES, values))


PUBLISHED: Dict[tuple, Dict[str, Dict[int, float]]] = {
    ("live1", "grey"): {
        "JPEG": _row(27.77, 30.07, 31.41, 32.35),
        "DnCNN-3": _row(29.19, 31.59, 32.98, 33.96),
        "FBCNN": _row(29.75, 32.13, 33.54, 34.53),
        "SwinIR": _row(29.86, 32.25, 33.69, 34.67),
    },
    ("classic5", "grey"): {
        "JPEG": _row(27.82, 30.12, 31.48, 32.43),
        "DnCNN-3": _row(29.40, 31.63, 32.91, 33.77),
        "FBCNN": _row(30.12, 32.31, 33.54, 34.35),
        "SwinIR": _row(30.27, 32.52, 33.73, 34.52),
    },
    ("live1", "colour"): {
        "SwinIR": _row(28.06, 30.45, 31.82, 32.75),
    },
}
SOURCE = "published (as quoted in shared/README.md; not measured in this run)"


def published(dataset: str, protocol: str, codec: str, rates: List[int]) -> List[dict]:
    """The published points for the rates of this run (JPEG only), one dict per method and rate."""
    if codec != "jpeg":
        return []
    table = PUBLISHED.get((dataset, protocol), {})
    return [{"method": method, "rate": rate, "psnr": values[rate], "label": "published", "source": SOURCE}
            for method, values in table.items() for rate in rates if rate in values]
