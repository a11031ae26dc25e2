"""How figures and methods are named in plots and tables (one place, so both agree)."""
from __future__ import annotations

from typing import Optional

METRICS = {
    "bpp": ("bpp", 3),
    "psnr": ("PSNR (dB)", 2),
    "psnr_y": ("PSNR-Y (dB)", 2),
    "ms_ssim": ("MS-SSIM", 4),
    "lpips": ("LPIPS (alex)", 4),
    "dists": ("DISTS", 4),
    "fid": ("FID/256", 2),
    "kid": ("KID/256", 4),
    "seconds": ("s / image", 3),
}


def metric(name: str, protocol: Optional[str] = None) -> str:
    """Axis/column label; on the grey protocol PSNR is measured on Y and says so."""
    label = METRICS[name][0]
    return label.replace("PSNR", "PSNR-Y") if name == "psnr" and protocol == "grey" else label


def number(value: Optional[float], digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def figure(name: str, value: Optional[float]) -> str:
    """A metric value with that metric's usual precision; a dash where it was not measured."""
    return number(value, METRICS[name][1])


def rate_label(codec: str, rate: int) -> str:
    """How papers name a codec's rate: JPEG's quality factor, CompressAI's quality index, else the QP."""
    return f"{ {'jpeg': 'QF', 'neural': 'quality'}.get(codec, 'QP')} {rate}"


def setting_name(realism: float, ensemble: int = 1) -> str:
    """``dirac-r0``, ``dirac-r0.5``...: the method name of one dial setting; ``dirac-x8-r0`` with
    an 8-view self-ensemble (not a point of the plain dial)."""
    return f"dirac-{f'x{ensemble}-' if ensemble > 1 else ''}r{realism:g}"
