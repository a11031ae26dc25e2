"""VVC (H.266): raw Annex-B streams decoded by FFmpeg's native VVC decoder through PyAV;
encoding through Fraunhofer's ``vvencapp``, an external binary the user installs."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .core import BaseCodec, CodecError, Decoded, ImageLike, RateScale, as_bytes, as_uint8_array
from .registry import register
from .video import Source, annexb_nal_header, decode_still, rgb_to_ycbcr, source_head
from .video import iter_decoded as _iter_decoded

ENCODER_ENV = "DIRAC_VVC_ENCODER"
ENCODER_NAME = "vvencapp"
ENCODER_TIMEOUT_S = 3600
# OPI, DCI, VPS, SPS, PPS, AUD, prefix SEI: the NAL unit types a VVC stream starts with.
FIRST_NAL_TYPES = {12, 13, 14, 15, 16, 20, 23}
INSTALL_HINT = (
    "VVC encoding needs Fraunhofer's vvencapp (https://github.com/fraunhoferhhi/vvenc; "
    "build it with `cmake -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build`, "
    "or install your distribution's `vvenc` package), then put it on PATH or set "
    f"{ENCODER_ENV}=/path/to/vvencapp"
)


def _raw_vvc(data: bytes) -> bool:
    """Annex-B start code, then a VVC NAL header: forbidden and reserved bits 0, a
    parameter-set / AUD / SEI type, TemporalId+1 > 0 (HEVC's first byte is >= 0x40 there)."""
    header = annexb_nal_header(data)
    if header is None:
        return False
    return header[0] & 0xC0 == 0 and header[1] >> 3 in FIRST_NAL_TYPES and header[1] & 7 > 0


def iter_decoded(source: Source) -> Iterator[Decoded]:
    """Every picture of a raw VVC stream (bytes or a path), its image RGB (or grey) uint8 and
    its rate the picture's own slice QP."""
    head, what = source_head(source, "VVC video")
    if not _raw_vvc(head):
        raise CodecError(f"{what} is not a VVC Annex-B stream")
    return _iter_decoded(source, "vvc", "vvc", what)


def iter_frames(source: Source) -> Iterator[np.ndarray]:
    """Every picture of a raw VVC stream, as :func:`iter_decoded` reads them, as arrays."""
    return (decoded.image for decoded in iter_decoded(source))


def find_encoder() -> Optional[str]:
    """Path of the VVC encoder: ``$DIRAC_VVC_ENCODER`` if set, else ``vvencapp`` on PATH."""
    configured = os.environ.get(ENCODER_ENV)
    if configured:
        return shutil.which(configured)
    return shutil.which(ENCODER_NAME)


def encoder_command(exe: str, yuv: str, bitstream: str, width: int, height: int, qp: int, preset: str):
    """vvencapp arguments for one intra picture: 8-bit 4:2:0 full-range BT.601 input coded
    with 10-bit internal precision, constant QP without perceptual QP adaptation, VUI signalling
    BT.470BG and full range (as the shared VVC test set was made)."""
    return [
        exe, "--input", yuv, "--size", f"{width}x{height}", "--format", "yuv420", "--framerate", "1",
        "--frames", "1", "--preset", preset, "--qp", str(qp), "--qpa", "0", "--internal-bitdepth", "10",
        "--sdr", "sdr_470bg", "--additional", "VideoFullRange=1", "--output", bitstream,
    ]  # fmt: skip


class VvcCodec(BaseCodec):
    """VVC stills: decode with PyAV (10-bit, VUI honoured), encode with an external vvencapp."""

    name = "vvc"
    # as HEVC: QPs below 0 from video above 8 bits are enhanced as QP 0; no encoder here, so
    # training pairs come pre-coded (no degradation)
    rate_scale = RateScale("QP", "qp", 0, 63, finer_when_higher=False, defaults=(27, 32, 37, 42), lowest=-48)
    video = True

    def can_encode(self) -> bool:
        return find_encoder() is not None

    def encode(self, image: ImageLike, qp: int = 32, preset: str = "medium") -> bytes:
        """Note that vvenc codes an all-intra picture 3 below ``--qp`` (its IntraQPOffset), so
        ``decode`` reports the coded slice QP as ``qp - 3``."""
        pixels = as_uint8_array(image)
        qp = self.rate_scale.setting("VVC qp", qp)
        height, width = pixels.shape[:2]
        if height % 2 or width % 2:  # the only layout written here is 4:2:0
            raise CodecError(f"VVC coding (4:2:0) needs even dimensions, the image is {width}x{height}: crop it")
        exe = find_encoder()
        if exe is None:
            configured = os.environ.get(ENCODER_ENV)
            where = f"{ENCODER_ENV}={configured!r} is not an executable" if configured else "vvencapp is not on PATH"
            raise CodecError(f"cannot encode VVC: {where}. {INSTALL_HINT}")
        if pixels.ndim == 2:  # coded as 4:2:0 with neutral chroma; decodes to RGB
            pixels = np.repeat(pixels[:, :, None], 3, axis=2)
        with tempfile.TemporaryDirectory(prefix="dirac-vvc-") as tmp:
            yuv, bitstream = os.path.join(tmp, "input.yuv"), os.path.join(tmp, "output.266")
            Path(yuv).write_bytes(b"".join(p.tobytes() for p in rgb_to_ycbcr(pixels, "4:2:0")))
            command = encoder_command(exe, yuv, bitstream, width, height, int(qp), preset)
            try:
                run = subprocess.run(command, capture_output=True, text=True, timeout=ENCODER_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise CodecError(f"could not run the VVC encoder {exe}: {exc}") from None
            if run.returncode != 0 or not os.path.exists(bitstream):
                detail = (run.stderr or run.stdout).strip()[-2000:]
                raise CodecError(f"the VVC encoder {exe} failed (exit code {run.returncode}): {detail}")
            return Path(bitstream).read_bytes()

    def decode(self, data: bytes) -> Decoded:
        """The first picture; ``rate.value`` is its coded slice QP, ``rate.bpp`` per picture."""
        data = as_bytes(data, "VVC data")
        if not _raw_vvc(data):
            raise CodecError("not a VVC Annex-B stream: no start code followed by a VVC parameter set, AUD or SEI")
        return decode_still(data, "vvc", self.name, "VVC stream")

    def iter_decoded(self, source: Source) -> Iterator[Decoded]:
        return iter_decoded(source)

    @staticmethod
    def sniff(data: bytes) -> bool:
        return _raw_vvc(data)


register("vvc", VvcCodec)
