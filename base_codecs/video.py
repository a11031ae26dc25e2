"""PyAV plumbing shared by the HEVC and VVC adapters: Annex-B NAL headers, colour conversion
that honours the stream's matrix, range and bit depth, still and video decoding, coded QP.

Colour is converted here in numpy rather than by swscale so that the maths is explicit and
testable: H.273 matrices, full or limited range, any bit depth, centre-sited chroma (as JPEG and
our encoders write it) upsampled bilinearly.
"""
from __future__ import annotations

import io
import itertools
import os
import re
from contextlib import ExitStack, contextmanager, nullcontext
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .core import MAX_PIXELS, CodecError, Decoded, RateInfo, check_size

Source = Union[bytes, str, os.PathLike]
IN_MEMORY = (bytes, bytearray, memoryview)  # a Source that is data, not a path
HEAD_BYTES = 4096  # enough of a file to tell a raw stream or a container by


def source_head(source: Source, label: str) -> Tuple[bytes, str]:
    """(the first bytes of ``source``, the name its errors go by): what a video is is told by
    its content, not its file name. A CodecError for what is neither data nor a readable file."""
    if isinstance(source, IN_MEMORY):
        return bytes(source[:HEAD_BYTES]), label
    if not isinstance(source, (str, os.PathLike)):
        raise CodecError(f"{label} must be bytes or a path, got {type(source).__name__}")
    what = f"{label} {os.fspath(source)!r}"
    if os.path.exists(source) and not os.path.isfile(source):  # opening a FIFO would wait for a writer
        raise CodecError(f"{what}: not a regular file")
    try:
        with open(source, "rb") as f:
            return f.read(HEAD_BYTES), what
    except FileNotFoundError:
        raise CodecError(f"{what}: no such file") from None
    except OSError as exc:  # a folder, no permission
        raise CodecError(f"{what}: cannot read ({exc.strerror or exc})") from None


def av_target(source: Source):
    """What ``av.open`` reads: a file-like view of data, or the path (an open file as it is)."""
    if isinstance(source, io.IOBase):
        return source
    return io.BytesIO(source) if isinstance(source, IN_MEMORY) else os.fspath(source)


# H.273 MatrixCoefficients -> (Kr, Kb), as FFmpeg's AVColorSpace numbers them.
MATRICES = {
    1: (0.2126, 0.0722),  # BT.709
    4: (0.30, 0.11),  # FCC
    5: (0.299, 0.114),  # BT.470BG (BT.601 625)
    6: (0.299, 0.114),  # SMPTE 170M (BT.601 525)
    7: (0.212, 0.087),  # SMPTE 240M
    9: (0.2627, 0.0593),  # BT.2020 non-constant luminance
}
# Strict, bounded decoding: FFmpeg stops at the errors it detects instead of concealing them,
# and refuses pictures above the shared pixel limit before allocating them.
DECODER_OPTIONS = {"err_detect": "explode", "max_pixels": str(MAX_PIXELS)}
# Appended to a raw stream to test that its last slice is whole: a decoder stops at a complete
# slice's end flag and never reads on, but runs on into whatever follows a truncated one. 0xFF
# bytes form no start code.
TAIL = b"\xff" * 64
MATRIX_RGB, MATRIX_UNSPECIFIED = 0, 2
RANGE_LIMITED, RANGE_FULL = 1, 2  # AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG
BT601 = MATRICES[5]


def annexb_nal_header(data: bytes) -> Optional[bytes]:
    """The two bytes after the first Annex-B start code (00 00 01 after >= 2 zero bytes)."""
    body = data[:64].lstrip(b"\x00")
    zeros = min(len(data), 64) - len(body)
    if zeros < 2 or len(body) < 3 or body[0] != 1:
        return None
    return body[1:3]


def is_container(data: bytes) -> bool:
    """MP4/MOV (``ftyp`` box) or Matroska/WebM (EBML magic)."""
    return data[4:8] == b"ftyp" or data[:4] == b"\x1a\x45\xdf\xa3"


def _kr_kb(colorspace: int, height: int):
    if colorspace == MATRIX_UNSPECIFIED:  # common practice: SD is BT.601, HD is BT.709
        return MATRICES[1] if height >= 720 else BT601
    try:
        return MATRICES[colorspace]
    except KeyError:
        raise CodecError(f"unsupported colour matrix (H.273 MatrixCoefficients {colorspace})") from None


def _upsample2(plane: np.ndarray, axis: int) -> np.ndarray:
    """Double ``plane`` along ``axis``: bilinear for centre-sited samples, edges clamped."""
    n = plane.shape[axis]
    index = np.arange(n)
    prev = np.take(plane, np.maximum(index - 1, 0), axis=axis)
    following = np.take(plane, np.minimum(index + 1, n - 1), axis=axis)
    pair = np.stack([0.75 * plane + 0.25 * prev, 0.75 * plane + 0.25 * following], axis=axis + 1)
    shape = list(plane.shape)
    shape[axis] *= 2
    return pair.reshape(shape)


def _plane(frame, index: int) -> np.ndarray:
    plane = frame.planes[index]
    dtype = np.dtype(np.uint8) if frame.format.components[0].bits <= 8 else np.dtype("<u2")
    if frame.format.name.endswith("be"):
        dtype = dtype.newbyteorder(">")
    rows = np.frombuffer(plane, dtype=dtype).reshape(-1, plane.line_size // dtype.itemsize)
    return rows[: plane.height, : plane.width].astype(np.float32)


def _to_full_size(chroma: np.ndarray, height: int, width: int) -> np.ndarray:
    for axis, size in ((0, height), (1, width)):
        while chroma.shape[axis] < size:
            chroma = _upsample2(chroma, axis)
    return chroma[:height, :width]


def _quantise(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def frame_to_array(frame) -> np.ndarray:
    """A decoded PyAV frame as uint8: HxW for a monochrome stream, else HxWx3 RGB.

    Honours the frame's matrix, range and bit depth. Full range at n bits is read as the
    8-bit scale shifted left by n-8 (what encoders and FFmpeg's swscale do).
    """
    name = frame.format.name
    if not (name.startswith(("yuv", "gray", "gbrp")) and len(frame.planes) in (1, 3, 4)):
        return frame.to_ndarray(format="rgb24")  # packed/semi-planar formats: let swscale convert
    rgb_planes = name.startswith("gbrp")
    full = name.startswith("yuvj") or frame.color_range == RANGE_FULL or (rgb_planes and frame.color_range != RANGE_LIMITED)
    scale = float(1 << (frame.format.components[0].bits - 8))
    # Normalise to [0, 1] for luma-like samples and [-0.5, 0.5] for colour differences.
    offset, span = (0.0, 255.0) if full else (16.0, 219.0)
    first = (_plane(frame, 0) / scale - offset) / span
    if len(frame.planes) == 1:
        return _quantise(first)
    height, width = first.shape
    second, third = (_to_full_size(_plane(frame, i) / scale, height, width) for i in (1, 2))
    if rgb_planes or frame.colorspace == MATRIX_RGB:  # G, B, R in plane order
        blue, red = ((p - offset) / span for p in (second, third))
        return _quantise(np.stack([red, first, blue], axis=-1))
    cb, cr = ((p - 128.0) / (255.0 if full else 224.0) for p in (second, third))
    kr, kb = _kr_kb(frame.colorspace, height)
    red = first + 2.0 * (1.0 - kr) * cr
    blue = first + 2.0 * (1.0 - kb) * cb
    green = (first - kr * red - kb * blue) / (1.0 - kr - kb)
    return _quantise(np.stack([red, green, blue], axis=-1))


def rgb_to_ycbcr(pixels: np.ndarray, subsampling: str = "4:2:0") -> List[np.ndarray]:
    """Full-range BT.601 ("JFIF") uint8 planes of an RGB or grey image: [Y] or [Y, Cb, Cr].

    4:2:0 chroma is the mean of each 2x2 block (centre-sited); dimensions must then be even.
    """
    if not isinstance(subsampling, str) or subsampling not in ("4:2:0", "4:4:4"):  # refused for grey too: a typo is a typo
        raise CodecError(f"chroma subsampling must be '4:2:0' or '4:4:4', got {subsampling!r}")
    if pixels.ndim == 2:
        return [pixels]
    height, width = pixels.shape[:2]
    if subsampling == "4:2:0" and (height % 2 or width % 2):
        raise CodecError(
            f"4:2:0 needs even dimensions, the image is {width}x{height}: crop it or use subsampling='4:4:4'"
        )
    rgb = pixels.astype(np.float64)
    kr, kb = BT601
    luma = rgb @ np.array([kr, 1.0 - kr - kb, kb])
    chroma = [(rgb[..., 2] - luma) / (2.0 * (1.0 - kb)), (rgb[..., 0] - luma) / (2.0 * (1.0 - kr))]
    if subsampling == "4:2:0":
        chroma = [c.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3)) for c in chroma]
    planes = [luma] + [c + 128.0 for c in chroma]
    return [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in planes]


def fill_frame(frame, planes: Sequence[np.ndarray]):
    """Copy planes (uint8, or uint16 for high bit depths) into a freshly allocated PyAV frame,
    respecting its line padding."""
    for plane, values in zip(frame.planes, planes):
        rows = np.zeros((plane.buffer_size // plane.line_size, plane.line_size // values.itemsize), values.dtype)
        rows[: values.shape[0], : values.shape[1]] = values
        plane.update(rows)
    return frame


@contextmanager
def _av_errors(what: str):
    """Turn PyAV/FFmpeg exceptions into a CodecError that names the input."""
    import av

    try:
        yield
    except av.error.FFmpegError as exc:
        raise CodecError(f"cannot decode {what} (truncated, corrupt or unsupported): {exc}") from None


def _open(source: Source, fmt: Optional[str], what: str):
    import av

    target = av_target(source)
    if isinstance(target, str) and not os.path.isfile(target):
        raise CodecError(f"{what}: no such file")
    container = av.open(target, format=fmt, options=DECODER_OPTIONS, metadata_errors="replace")
    if not container.streams.video or container.streams.video[0].codec_context is None:
        container.close()
        raise CodecError(f"{what} holds no decodable video stream (truncated or corrupt?)")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if width and height:  # what the parameter sets declare, when probing could read them
        try:
            check_size(width, height, what)
        except CodecError:
            container.close()
            raise
    stream.codec_context.options = DECODER_OPTIONS
    return container, stream


_TRACE_LINE = re.compile(r"^\s*\d+\s+(\w+)\s+[01]+ = (-?\d+)\s*$")
_SLICE_QP = re.compile(r"\b(slice|sh)_qp_delta\b")


class SliceQP:
    """Each coded picture's luma QP (26 + init_qp_minus26 [+ ph_qp_delta] + its first slice's QP
    delta), read as its packet passes by FFmpeg's own header parser (the trace_headers bitstream
    filter), which knows HEVC, VVC and H.264; None for a codec it does not parse. Open as a
    context: the parser's log is captured meanwhile."""

    def __init__(self, stream):
        self._stream, self._init = stream, None

    def __enter__(self) -> "SliceQP":
        import av.error
        import av.logging
        from av.bitstream import BitStreamFilterContext

        self._previous = av.logging.get_level()
        av.logging.set_level(av.logging.INFO)  # trace_headers logs every syntax element at INFO
        self._capture = av.logging.Capture()
        self._lines = self._capture.__enter__()
        try:
            self._tracer = BitStreamFilterContext("trace_headers", self._stream)
        except av.error.FFmpegError:  # MPEG-4 part 2, say: no header parser
            self._tracer = None
        return self

    def __exit__(self, *exc) -> None:
        import av.logging

        self._capture.__exit__(*exc)
        av.logging.set_level(self._previous)

    def read(self, packet) -> Tuple[list, Optional[int]]:
        """(the packet as the parser passes it on, to decode: reading uses up the one given;
        the QP of the packet's first slice, None where it holds none)."""
        if self._tracer is None:
            return [packet], None
        passed, qp, delta = self._tracer.filter(packet), None, 0
        for _, _, text in self._lines:
            match = _TRACE_LINE.match(text)
            if not match or qp is not None:
                continue
            name, value = match.group(1), int(match.group(2))
            if name.endswith("init_qp_minus26"):
                self._init = value
            elif name == "ph_qp_delta":
                delta += value
            elif _SLICE_QP.fullmatch(name) and self._init is not None:
                qp = 26 + self._init + delta + value
        self._lines.clear()  # a long clip's log does not pile up
        return passed, qp


def _coded_qp(stream, packets) -> Optional[int]:
    """The QP of the first slice among ``packets`` (used up); None when none holds a slice header."""
    with SliceQP(stream) as slices:
        for packet in packets:
            qp = slices.read(packet)[1]
            if qp is not None:
                return qp
    return None


def _first_picture(data: bytes, fmt: Optional[str], what: str, read_qp: bool = False):
    """(first decoded frame, coded bytes per picture, slice QP if ``read_qp``)."""
    container, stream = _open(data, fmt, what)
    with container:
        packets = [packet for packet in container.demux(stream) if packet.size]
        bytes_per_picture = sum(packet.size for packet in packets) / max(len(packets), 1)
        frame = next((f for packet in packets + [None] for f in stream.decode(packet)), None)
        if frame is None:
            raise CodecError(f"{what} holds no decodable picture ({len(data)} bytes): truncated or corrupt")
        return frame, bytes_per_picture, _coded_qp(stream, packets) if read_qp else None  # reading QP uses up the packets


def decode_still(data: bytes, fmt: Optional[str], family: str, what: str) -> Decoded:
    """Decode the first picture of ``data``; bpp averages the coded pictures' packets.

    FFmpeg conceals a slice cut short without a word, so a raw stream is also decoded with
    :data:`TAIL` appended: a different picture means the decoder ran past the end of the data.
    """
    if not data:
        raise CodecError(f"{what} data is empty (0 bytes)")
    with _av_errors(what):
        frame, coded_bytes, qp = _first_picture(data, fmt, what, read_qp=True)
        image = frame_to_array(frame)
        if fmt is not None and not np.array_equal(frame_to_array(_first_picture(data + TAIL, fmt, what)[0]), image):
            raise CodecError(f"{what} is truncated: its picture data ends early ({len(data)} bytes)")
    bpp = coded_bytes * 8.0 / (frame.width * frame.height)
    return Decoded(image, RateInfo(family, qp, bpp))


def _pictures(source, fmt: Optional[str], what: str, read_qp: bool) -> Iterator[Tuple[np.ndarray, Optional[int], int]]:
    """(picture, its slice QP if ``read_qp`` else None, its packet's coded bytes) in display
    order. Each packet is tagged with its decoding index, which the decoder hands on to the
    picture it carries: so a picture finds its own packet's QP whatever the reordering."""
    container, stream = _open(source, fmt, what)
    with container, (SliceQP(stream) if read_qp else nullcontext()) as slices:
        coded = {}  # decoding index -> (QP, bytes), until its picture comes out
        last = (None, 0)

        def picture(frame):
            nonlocal last
            last = coded.pop(frame.pts, last)  # a picture that lost its tag: its predecessor's QP
            return frame_to_array(frame), last[0], last[1]

        for index, packet in enumerate(p for p in container.demux(stream) if p.size):
            packet.pts, size = index, packet.size
            passed, qp = slices.read(packet) if read_qp else ([packet], None)
            coded[index] = (qp, size)
            for frame in (f for p in passed for f in stream.decode(p)):
                yield picture(frame)
        for frame in stream.decode(None):
            yield picture(frame)


def iter_decoded(source: Source, fmt: Optional[str], family: str, what: str = "video") -> Iterator[Decoded]:
    """Every picture of a stream or container (bytes or a path) in display order, each as a
    ``Decoded`` with its own rate: its slice QP (x265 codes P and B pictures a few QP coarser
    than I) and its packet's bits per pixel.

    A raw stream is decoded twice in step, once with :data:`TAIL` appended, as in
    :func:`decode_still`; each picture is yielded once both decodes agree on it. The picture
    cut short is the last in decoding order, which B-frames may show anywhere near the end,
    so every picture is compared: a cut-short stream raises instead of yielding a concealed one.
    """
    with _av_errors(what):
        if fmt is None:
            for pixels, qp, size in _pictures(source, fmt, what, read_qp=True):
                yield _picture_decoded(family, pixels, qp, size)
            return
        if isinstance(source, IN_MEMORY):
            plain, tailed, total = bytes(source), bytes(source) + TAIL, len(source)
        else:  # a file is read as the decoders need it, never whole
            plain, tailed, total = open(source, "rb"), _WithTail(source), os.path.getsize(source)
        with ExitStack() as files:
            for stream in (plain, tailed):
                if isinstance(stream, io.IOBase):
                    files.enter_context(stream)
            missing = object()
            pairs = itertools.zip_longest(_pictures(plain, fmt, what, read_qp=True), _pictures(tailed, fmt, what, read_qp=False),
                                          fillvalue=missing)
            for picture, with_tail in pairs:
                if picture is missing or with_tail is missing or not np.array_equal(picture[0], with_tail[0]):
                    raise CodecError(f"{what} is truncated: a picture's data ends early ({total} bytes)")
                yield _picture_decoded(family, *picture)


def _picture_decoded(family: str, pixels: np.ndarray, qp: Optional[int], size: int) -> Decoded:
    """One picture of a video with its rate: its slice QP, its packet's bits per pixel."""
    return Decoded(pixels, RateInfo(family, qp, size * 8.0 / (pixels.shape[0] * pixels.shape[1])))


class _WithTail(io.RawIOBase):
    """A file's bytes and then :data:`TAIL`, read as asked for (not seekable)."""

    def __init__(self, path: Union[str, os.PathLike]):
        super().__init__()
        self._file, self._tail = open(path, "rb"), TAIL

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self._file.readinto(buffer)
        if count:
            return count
        count = min(len(buffer), len(self._tail))
        buffer[:count], self._tail = self._tail[:count], self._tail[count:]
        return count

    def close(self) -> None:
        self._file.close()
        super().close()
