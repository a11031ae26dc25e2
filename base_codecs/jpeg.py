"""JPEG through libjpeg-turbo (Pillow): encode at an IJG quality, decode with the quality
recovered from the file's quantisation tables; files with damaged entropy-coded data are
refused rather than decoded to libjpeg's concealment."""
from __future__ import annotations

import io
from functools import lru_cache
from typing import Dict, List, Optional

import numpy as np
import simplejpeg
from PIL import Image

from .core import BaseCodec, CodecError, Decoded, Degradation, ImageLike, RateInfo, RateScale, as_bytes, as_uint8_array, open_with_pillow, upright
from .registry import register

SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


@lru_cache(maxsize=None)
def _ijg_tables() -> Dict[int, List[List[int]]]:
    """The tables libjpeg writes at each quality 1..100, read back in Pillow's order."""
    tile = Image.new("RGB", (16, 16))
    tables = {}
    for quality in range(1, 101):
        buf = io.BytesIO()
        tile.save(buf, format="JPEG", quality=quality)
        with Image.open(buf) as im:
            tables[quality] = [list(im.quantization[k]) for k in sorted(im.quantization)]
    return tables


def estimate_quality(quantization: Dict[int, List[int]]) -> Optional[int]:
    """IJG quality factor of a set of quantisation tables.

    Exact for any table set libjpeg writes at quality 1..100; otherwise the quality whose
    tables are closest in log-ratio (a best estimate for other encoders' tables).
    """
    if not quantization:
        return None
    # a zero entry (invalid, yet libjpeg decodes the file) counts as 1, keeping the logs finite
    tables = [np.maximum(np.asarray(quantization[k], dtype=np.float64), 1.0) for k in sorted(quantization)][:2]
    best, best_err = None, np.inf
    for quality, reference in _ijg_tables().items():
        ref = [np.asarray(t, dtype=np.float64) for t in reference][: len(tables)]
        if all(t.shape == r.shape and np.array_equal(t, r) for t, r in zip(tables, ref)):
            return quality
        err = sum(float(np.mean(np.log(t / r) ** 2)) for t, r in zip(tables, ref) if t.shape == r.shape)
        if err < best_err:
            best, best_err = quality, err
    return best


# TurboJPEG's name of a file's colour space -> the output it can decode that file to
DECODE_COLOURS = {"Gray": "GRAY", "CMYK": "CMYK", "YCCK": "CMYK"}


def damage(data: bytes) -> Optional[str]:
    """libjpeg's warning about ``data`` (bit errors, zeroed or missing runs of entropy-coded
    data), or None for a clean file.

    libjpeg, through Pillow, only warns about such data and conceals it, so a damaged file
    that still ends in an end-of-image marker would decode silently. The same libjpeg-turbo
    through TurboJPEG (simplejpeg) stops at the first warning; decoding at 1/8 scale keeps
    the check cheap, as the entropy-coded data is read in full either way. A layout TurboJPEG
    cannot read (CMYK with subsampled colour, 3x1 sampling) is left to Pillow's decode alone.
    """
    try:
        colour = simplejpeg.decode_jpeg_header(data)[2]
    except ValueError:
        return None
    try:
        simplejpeg.decode_jpeg(data, colorspace=DECODE_COLOURS.get(colour, "RGB"), min_factor=8, strict=True)
    except ValueError as exc:
        return str(exc).strip() or "libjpeg warned"
    return None


MAX_SCANS = 500  # libjpeg-turbo's suggested scan limit: a progressive file needs about ten


def check_layout(data: bytes) -> None:
    """Refuse, before any decoding, what libjpeg would spend long on or misname: more than
    MAX_SCANS scans (thousands of repeated progressive scans cost minutes of CPU) and sample
    precisions other than 8 bits (12-bit JPEG, which this libjpeg build cannot decode)."""
    scans = data.count(b"\xff\xda")  # entropy-coded data stuffs every FF, so each is a start-of-scan marker
    if scans > MAX_SCANS:
        raise CodecError(f"JPEG with {scans} scans, more than {MAX_SCANS}: refused, as decoding so many costs minutes")
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:  # the header's segments, up to the frame header
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame segment
            precision = data[pos + 4] if pos + 4 < len(data) else 8
            if precision != 8:
                raise CodecError(f"{precision}-bit JPEG (sample precision {precision}): only 8-bit JPEG is supported")
            return
        if marker == 0xDA:
            return
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")


class JpegCodec(BaseCodec):
    """Baseline/progressive JPEG, colour (4:2:0, 4:2:2, 4:4:4) or grey."""

    name = "jpeg"
    rate_scale = RateScale("quality", "quality", 1, 100, finer_when_higher=True, defaults=(5, 10, 20, 30, 40))
    degradation = Degradation(5, 95, skew=2.0)  # IJG quality; median about 27

    def encode(self, image: ImageLike, quality: int = 75, subsampling: str = "4:2:0") -> bytes:
        pixels = as_uint8_array(image)
        quality = self.rate_scale.setting("JPEG quality", quality)
        if not isinstance(subsampling, str) or subsampling not in SUBSAMPLING:
            raise CodecError(f"JPEG subsampling must be one of {sorted(SUBSAMPLING)}, got {subsampling!r}")
        if max(pixels.shape[:2]) > 65500:
            raise CodecError(f"image {pixels.shape[1]}x{pixels.shape[0]} exceeds JPEG's 65500 px limit")
        buf = io.BytesIO()
        options = {} if pixels.ndim == 2 else {"subsampling": SUBSAMPLING[subsampling]}
        Image.fromarray(pixels).save(buf, format="JPEG", quality=int(quality), **options)
        return buf.getvalue()

    def decode(self, data: bytes) -> Decoded:
        data = as_bytes(data, "JPEG data")
        if not self.sniff(data):
            raise CodecError("not a JPEG: missing the FF D8 FF start-of-image marker")
        check_layout(data)
        try:
            with open_with_pillow(data, ["JPEG"], "JPEG") as im:
                quality = estimate_quality(getattr(im, "quantization", None) or {})
                im.load()
                im = upright(im)
                if im.mode not in ("L", "RGB"):
                    im = im.convert("RGB")  # CMYK / YCCK (Adobe) and others
                pixels = np.asarray(im)
        except CodecError:
            raise
        except (OSError, ValueError, SyntaxError) as exc:
            raise CodecError(f"corrupt or truncated JPEG: {exc}") from None
        warning = damage(data)
        if warning is not None:
            raise CodecError(f"damaged JPEG, libjpeg reports: {warning}")
        bpp = len(data) * 8.0 / (pixels.shape[0] * pixels.shape[1])
        return Decoded(pixels, RateInfo("jpeg", quality, bpp))

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data[:3] == b"\xff\xd8\xff"


register("jpeg", JpegCodec)
