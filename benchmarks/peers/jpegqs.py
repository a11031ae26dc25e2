"""jpegqs (JPEG Quant Smooth, Debian package ``jpegqs``): the classical deblocking a user finds in
their distribution. It works on the DCT coefficients, so it takes the JPEG bytes, not pixels."""
from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional

import numpy as np
from PIL import Image

from base_codecs import DiracError

from . import Peer, PeerUnavailable, register

TIMEOUT_S = 600


class JpegQS(Peer):
    """``jpegqs -q QUALITY -t THREADS in.jpg out.jpg``, then the output JPEG decoded."""

    codecs = ("jpeg",)
    external_tool = True

    def __init__(self, exe: str, quality: int = 6, threads: int = 2):
        self.exe, self.quality, self.threads = exe, quality, threads
        self.name = "jpegqs"
        self.description = f"jpegqs -q {quality} (JPEG Quant Smooth, Debian package), measured in this run"

    def enhance(self, decoded: np.ndarray, rate: float, bitstream: Optional[bytes] = None) -> np.ndarray:
        if bitstream is None:
            raise DiracError("jpegqs needs the JPEG bytes, not only the decode")
        with tempfile.TemporaryDirectory(prefix="dirac-jpegqs-") as tmp:
            src, dst = Path(tmp) / "in.jpg", Path(tmp) / "out.jpg"
            src.write_bytes(bitstream)
            cmd = [self.exe, "-q", str(self.quality), "-t", str(self.threads), "-i", "0", str(src), str(dst)]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
            if done.returncode != 0 or not dst.is_file():
                raise DiracError(f"jpegqs failed ({done.returncode}): {done.stderr.strip()[-300:]}")
            with Image.open(io.BytesIO(dst.read_bytes())) as im:
                out = np.asarray(im.convert("L" if decoded.ndim == 2 else "RGB"))
        if out.shape != decoded.shape:
            raise DiracError(f"jpegqs returned {out.shape} for a {decoded.shape} decode")
        return out

    def info(self) -> dict:
        return {"description": self.description, "command": f"jpegqs -q {self.quality} -t {self.threads}"}


def _factory(jpegqs_quality: int = 6, jpegqs_threads: int = 2, **_) -> List[Peer]:
    exe = shutil.which("jpegqs")
    if exe is None:
        raise PeerUnavailable("jpegqs is not installed (Debian/Ubuntu: apt-get install jpegqs)")
    return [JpegQS(exe, jpegqs_quality, jpegqs_threads)]


register("jpegqs", _factory)
