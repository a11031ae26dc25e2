"""HEVC (H.265): still images encoded intra at a fixed QP with libx265 through PyAV; raw
Annex-B streams and HEVC tracks in MP4/MKV decoded with FFmpeg's decoder."""
from __future__ import annotations

import io
from typing import Iterator, Optional

import numpy as np

from .core import BaseCodec, CodecError, Decoded, Degradation, ImageLike, RateScale, as_bytes, as_uint8_array
from .registry import register
from .video import Source, annexb_nal_header, av_target, decode_still, fill_frame, is_container, rgb_to_ycbcr, source_head
from .video import iter_decoded as _iter_decoded

PIXEL_FORMATS = {"4:2:0": "yuv420p", "4:4:4": "yuv444p"}
PARAMETER_SET_TYPES = {32, 33, 34, 35, 39}  # VPS, SPS, PPS, AUD, prefix SEI: how streams start
MIN_SIZE = 16  # x265 refuses smaller pictures
# One intra picture at exactly `qp` (ipratio=1: x265 would otherwise code I slices ~3 QP lower;
# no info SEI: its ~2 kB of settings text would inflate bpp),
# full-range BT.601 centre-sited chroma signalled in the VUI, as rgb_to_ycbcr writes it.
X265_PARAMS = (
    "qp={qp}:ipratio=1:keyint=1:frame-threads=1:info=0:log-level=error:"
    "range=full:colormatrix=bt470bg:colorprim=bt709:transfer=iec61966-2-1:chromaloc=1"
)


def _raw_hevc(data: bytes) -> bool:
    """Annex-B start code, then an HEVC NAL header of a parameter set / AUD / SEI, layer 0."""
    header = annexb_nal_header(data)
    if header is None:
        return False
    nal_type, layer = (header[0] >> 1) & 0x3F, ((header[0] & 1) << 5) | (header[1] >> 3)
    return header[0] & 0x80 == 0 and nal_type in PARAMETER_SET_TYPES and layer == 0 and header[1] & 7 > 0


def _container_codec(source: Source) -> Optional[str]:
    """Codec name of the first video track of an MP4/MKV (bytes or a path), or None when it cannot be read."""
    import av

    try:
        with av.open(av_target(source), metadata_errors="replace") as container:
            context = container.streams.video[0].codec_context if container.streams.video else None
            return context.name if context is not None else None
    except (av.error.FFmpegError, OSError):
        return None


def _check_container(source: Source, what: str) -> None:
    codec = _container_codec(source)
    if codec is None:
        raise CodecError(f"{what}: the MP4/MKV container has no readable video track (truncated or corrupt)")
    if codec != "hevc":
        raise CodecError(f"{what}: the MP4/MKV container holds {codec} video, not HEVC")


def iter_decoded(source: Source) -> Iterator[Decoded]:
    """Every picture of an HEVC video (raw .265/.hevc, or an MP4/MKV; bytes or a path), its
    image RGB (or grey for a monochrome stream) uint8 and its rate the picture's own slice QP."""
    head, what = source_head(source, "HEVC video")
    fmt = "hevc" if _raw_hevc(head) else None
    if fmt is None:
        _check_container(source, what)
    return _iter_decoded(source, fmt, "hevc", what)


def iter_frames(source: Source) -> Iterator[np.ndarray]:
    """Every picture of an HEVC video, as :func:`iter_decoded` reads them, as arrays."""
    return (decoded.image for decoded in iter_decoded(source))


class HevcCodec(BaseCodec):
    """HEVC intra stills (8-bit, 4:2:0 / 4:4:4, grey as 4:0:0); decodes any HEVC stream."""

    name = "hevc"
    # Video above 8 bits codes QPs down to -6 x (bit depth - 8): accepted, enhanced as QP 0.
    rate_scale = RateScale("QP", "qp", 0, 51, finer_when_higher=False, defaults=(22, 27, 32, 37), lowest=-48)
    degradation = Degradation(22, 47, reuse=8)  # x265 intra QP, uniform (the usual test QPs 22-37 lie in its lower half); x265 is 15x slower than libjpeg
    video = True

    def can_encode(self) -> bool:
        import av

        return "libx265" in av.codecs_available

    def encode(self, image: ImageLike, qp: int = 32, subsampling: str = "4:2:0") -> bytes:
        import av

        pixels = as_uint8_array(image)
        qp = self.rate_scale.setting("HEVC qp", qp)
        if not self.can_encode():
            raise CodecError("HEVC encoding needs FFmpeg with libx265, which this PyAV build lacks")
        height, width = pixels.shape[:2]
        if min(height, width) < MIN_SIZE:
            raise CodecError(f"HEVC (x265) needs at least {MIN_SIZE}x{MIN_SIZE} pixels, the image is {width}x{height}")
        planes = rgb_to_ycbcr(pixels, subsampling)
        pix_fmt = "gray" if pixels.ndim == 2 else PIXEL_FORMATS[subsampling]
        buf = io.BytesIO()
        try:
            with av.open(buf, "w", format="hevc") as container:
                stream = container.add_stream("libx265", rate=1)
                stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
                stream.codec_context.options = {"x265-params": X265_PARAMS.format(qp=int(qp))}
                frame = fill_frame(av.VideoFrame(width, height, pix_fmt), planes)
                for packet in list(stream.encode(frame)) + list(stream.encode(None)):
                    container.mux(packet)
        except av.error.FFmpegError as exc:
            raise CodecError(f"libx265 could not encode the {width}x{height} image: {exc}") from None
        return buf.getvalue()

    def decode(self, data: bytes) -> Decoded:
        """The first picture; ``rate.value`` is its coded slice QP, ``rate.bpp`` per picture."""
        data = as_bytes(data, "HEVC data")
        if _raw_hevc(data):
            return decode_still(data, "hevc", self.name, "HEVC stream")
        if is_container(data):
            _check_container(data, "HEVC data")
            return decode_still(data, None, self.name, "HEVC track")
        raise CodecError("not HEVC: neither an Annex-B stream starting with a VPS/SPS/PPS/AUD/SEI nor an MP4/MKV")

    def iter_decoded(self, source: Source) -> Iterator[Decoded]:
        return iter_decoded(source)

    @staticmethod
    def sniff(data: bytes) -> bool:
        return _raw_hevc(data) or (is_container(data) and _container_codec(data) == "hevc")


register("hevc", HevcCodec)
