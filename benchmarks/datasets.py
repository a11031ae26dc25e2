"""Test sets by name or path: folders of lossless images, or folders of ready-made bitstreams
described by a ``manifest.json`` (the shared VVC set), which the run decodes instead of encoding."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

import base_codecs
from base_codecs import DiracError
from dirac.training.data import IMAGE_SUFFIXES, load_image

from .shared import shared_root

# Name -> folder under shared/. A coded set's originals are the image set of the same name.
KNOWN = {
    "kodak": ("datasets", "kodak"),
    "live1": ("datasets", "live1"),
    "classic5": ("datasets", "classic5"),
    "vvc-kodak": ("datasets", "vvc", "kodak"),
}
MANIFEST = "manifest.json"


@dataclass
class Dataset:
    """A named test set: its image files and, for a coded set, bitstreams per (source, rate)."""

    name: str
    path: Path
    images: List[Path]
    codec: Optional[str] = None  # set for a coded set: the only codec it can be measured with
    bitstreams: Dict[Tuple[str, int], dict] = field(default_factory=dict)  # (source, rate) -> manifest entry

    @property
    def coded(self) -> bool:
        return self.codec is not None

    def rates(self) -> List[int]:
        """The rates a coded set holds (empty for an image set: any rate can be encoded)."""
        return sorted({rate for _, rate in self.bitstreams})

    def original(self, index: int) -> np.ndarray:
        """Image ``index`` as uint8 HxW (grey sources) or HxWx3, cropped as its bitstreams were coded."""
        path = self.images[index]
        image = load_image(path)
        entry = next((e for (src, _), e in self.bitstreams.items() if src == path.name), None)
        if entry is not None and "crop" in entry:
            x0, y0, w, h = entry["crop"]
            image = image[y0:y0 + h, x0:x0 + w]
        return image

    def bitstream(self, index: int, rate: int) -> bytes:
        """The coded data of image ``index`` at ``rate`` (coded sets only)."""
        key = (self.images[index].name, int(rate))
        if key not in self.bitstreams:
            raise DiracError(f"{self.name} has no bitstream for {key[0]} at rate {rate}; it holds rates {self.rates()}")
        return (self.path / self.bitstreams[key]["bitstream"]).read_bytes()


def _image_files(folder: Path) -> List[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DiracError(f"no PNG/BMP/TIFF/PPM images in {folder}")
    return files


def _codec_of(entries: List[dict], path: Path) -> str:
    """The one codec family of a coded set, told by its bitstreams' content (as dirac reads any
    file), not by their names."""
    found = set()
    for entry in entries:
        try:
            with open(path / entry["bitstream"], "rb") as f:
                found.add(base_codecs.sniff(f.read(4096)))
        except (OSError, DiracError) as exc:
            raise DiracError(f"{path / MANIFEST}: cannot tell the codec of {entry['bitstream']} ({exc})") from None
    if len(found) != 1:
        raise DiracError(f"{path / MANIFEST}: one codec per set, found {', '.join(sorted(found)) or 'none'}")
    return found.pop()


def _manifest(path: Path) -> List[dict]:
    """The manifest's entries, each with source, bitstream and qp, or a one-line error."""
    try:
        entries = json.loads((path / MANIFEST).read_text())
        if all(isinstance(e["source"], str) and isinstance(e["bitstream"], str) and int(e["qp"]) == e["qp"]
               and [int(v) for v in e.get("crop", (0, 0, 0, 0))] == list(e.get("crop", (0, 0, 0, 0)))
               and len(e.get("crop", (0, 0, 0, 0))) == 4 for e in entries):
            return entries
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DiracError(f"{path / MANIFEST}: unreadable or not a list of entries with source, bitstream and qp ({exc!r})") from None
    raise DiracError(f"{path / MANIFEST}: source and bitstream must be names, qp an integer and crop four integers")


def _coded(name: str, path: Path, originals: Optional[Path]) -> Dataset:
    entries = _manifest(path)
    if originals is None:  # shared layout: datasets/vvc/<set> codes datasets/<set>
        originals = path.parents[1] / path.name
    if not originals.is_dir():
        raise DiracError(f"originals of {path} not found at {originals}; pass --originals DIR")
    sources = sorted({e["source"] for e in entries})
    missing = [s for s in sources if not (originals / s).is_file()]
    if missing:
        raise DiracError(f"{len(missing)} originals listed in {path / MANIFEST} are missing from {originals}: "
                         f"{missing[:3]}")
    bitstreams = {(e["source"], int(e["qp"])): e for e in entries}
    return Dataset(name, path, [originals / s for s in sources], _codec_of(entries, path), bitstreams)


def open_dataset(name_or_path: str, originals: Optional[Path] = None) -> Dataset:
    """A known name (``kodak``, ``live1``, ``classic5``, ``vvc-kodak``: folders under shared/) or a folder."""
    if name_or_path in KNOWN:
        path, name = shared_root().joinpath(*KNOWN[name_or_path]), name_or_path
    else:
        path = Path(name_or_path)
        name = path.name
    if not path.is_dir():
        raise DiracError(f"dataset {name_or_path!r}: folder {path} not found (known names: {', '.join(KNOWN)}; "
                         f"set DIRAC_SHARED or pass a folder)")
    if (path / MANIFEST).is_file():
        return _coded(name, path, originals)
    return Dataset(name, path, _image_files(path))
