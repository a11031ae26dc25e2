"""jpegqs (JPEG Quant Smooth, Debian package ``jpegqs``): the classical deblocking a user finds in
their distribution. It works on the DCT coefficients, so it takes the JPEG bytes, not pixels."""
from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, List, Optional, Tuple

import numpy as np
from PIL import Image

from base_codecs import DiracError

from . import Peer, PeerUnavailable, register

TIMEOUT_S = 600
POLL_S = 0.005


def run_watching_memory(cmd: List[str], stderr: IO[str], timeout: float) -> Tuple[int, int]:
    """Run ``cmd``; return its exit status and its peak resident memory in bytes.

    The peak is the program's own high-water mark (VmHWM), read while it runs. rusage of a
    child cannot give it: a child forked from this process keeps this process's peak across exec.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
    status, peak, deadline = Path(f"/proc/{proc.pid}/status"), 0, time.monotonic() + timeout
    while proc.poll() is None:
        try:
            hwm = next((line for line in status.read_text().splitlines() if line.startswith("VmHWM:")), None)
        except OSError:  # gone between poll() and the read
            hwm = None
        if hwm:
            peak = max(peak, int(hwm.split()[1]) * 1024)
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise DiracError(f"{cmd[0]} took over {timeout:.0f} s")
        time.sleep(POLL_S)
    return proc.returncode, peak


class JpegQS(Peer):
    """``jpegqs -q 6 -t 2 -i 0 in.jpg out.jpg``, then the output JPEG decoded."""

    codecs = ("jpeg",)
    external_tool = True

    OPTIONS = ("-q", "6", "-t", "2", "-i", "0")  # its best (slowest) setting, 2 threads, no debug output

    def __init__(self, exe: str):
        self.exe = exe
        self.name = "jpegqs"
        self.peak_rss_bytes = 0  # the tool's own, over every call so far
        self.description = "jpegqs -q 6 (JPEG Quant Smooth, Debian package), measured in this run"

    def enhance(self, decoded: np.ndarray, rate: float, bitstream: Optional[bytes] = None,
                latent: Optional[np.ndarray] = None) -> np.ndarray:
        if bitstream is None:
            raise DiracError("jpegqs needs the JPEG bytes, not only the decode")
        with tempfile.TemporaryDirectory(prefix="dirac-jpegqs-") as tmp:
            src, dst, log = Path(tmp) / "in.jpg", Path(tmp) / "out.jpg", Path(tmp) / "stderr.txt"
            src.write_bytes(bitstream)
            cmd = [self.exe, *self.OPTIONS, str(src), str(dst)]
            with open(log, "w") as stderr:
                returncode, peak = run_watching_memory(cmd, stderr, TIMEOUT_S)
            self.peak_rss_bytes = max(self.peak_rss_bytes, peak)
            if returncode != 0 or not dst.is_file():
                raise DiracError(f"jpegqs failed ({returncode}): {log.read_text().strip()[-300:]}")
            with Image.open(io.BytesIO(dst.read_bytes())) as im:
                out = np.asarray(im.convert("L" if decoded.ndim == 2 else "RGB"))
        if out.shape != decoded.shape:
            raise DiracError(f"jpegqs returned {out.shape} for a {decoded.shape} decode")
        return out

    def info(self) -> dict:
        return {"description": self.description, "command": " ".join(("jpegqs", *self.OPTIONS))}


def _factory(**_) -> List[Peer]:
    exe = shutil.which("jpegqs")
    if exe is None:
        raise PeerUnavailable("jpegqs is not installed (Debian/Ubuntu: apt-get install jpegqs)")
    return [JpegQS(exe)]


register("jpegqs", _factory)
