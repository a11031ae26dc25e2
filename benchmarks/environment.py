"""What a result was measured on: machine, package versions, code revision, time. Stored in
every JSON so numbers from different machines or commits are never mixed up unknowingly."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Dict, Optional

PACKAGES = ("dirac", "torch", "numpy", "pillow", "diffusers", "scipy", "av", "lpips",
            "DISTS_pytorch", "pytorch-msssim", "h5py", "matplotlib", "psutil")
REPO = Path(__file__).resolve().parents[1]


def _run(cmd) -> Optional[str]:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=REPO)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo, else what platform reports)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> Dict[str, Optional[str]]:
    """Installed versions of the packages the figures depend on (None where absent)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        from PIL import features

        versions["libjpeg-turbo"] = features.version("libjpeg_turbo")
    except Exception:  # noqa: BLE001  (older Pillow: no such feature name)
        versions["libjpeg-turbo"] = None
    versions["jpegqs"] = _run(["dpkg-query", "-W", "-f", "${Version}", "jpegqs"])
    return versions


def machine() -> dict:
    """CPU model, logical cores (all and usable by this process), memory, OS, torch threads."""
    info = {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        info["memory_gib"] = None
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def describe() -> dict:
    """Everything above plus the UTC timestamp and the git revision (with a dirty flag)."""
    commit = _run(["git", "rev-parse", "HEAD"])
    # results being rewritten by the runs themselves do not make the measuring code dirty
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)benchmarks/results"])
    return {
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": commit,
        "git_dirty": bool(dirty) if dirty is not None else None,
        "machine": machine(),
        "packages": package_versions(),
    }
