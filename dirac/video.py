"""Video in, video out: every frame of a clip enhanced and written to a playable file with the
input's frame timing, its audio and subtitle streams copied untouched.

Frames stream through (decode, enhance, encode, mux, one at a time), so memory does not grow
with the clip. The output is written aside and renamed into place: a stream that turns out to
be damaged part-way leaves nothing behind. Under ``accelerate launch`` each process enhances
every N-th frame into a lossless segment and the main process joins them, in frame order,
into the output: the same file one process writes. Codecs: FFV1 (lossless RGB) in Matroska, or
libx264 / libx265 (4:2:0, constant quality) in Matroska, MP4 or QuickTime.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np

import base_codecs
from base_codecs import DiracError
from base_codecs.video import DECODER_OPTIONS, SliceQP, fill_frame, frame_to_array, is_container, rgb_to_ycbcr, source_head

from .io import atomic_file

CONTAINERS = {".mkv": "matroska", ".mp4": "mp4", ".mov": "mov"}
DEFAULT_CODEC = {".mkv": "ffv1", ".mp4": "libx264", ".mov": "libx264"}
CODECS = ("ffv1", "libx264", "libx265")
DEFAULT_CRF = {"libx264": 16, "libx265": 18}  # visually lossless for most content
MAX_CRF = 51
RAW_RATE = Fraction(25)  # a raw stream carries no timing: FFmpeg's assumption, which players share


@dataclass
class VideoReport:
    """What :func:`enhance_video` did."""

    frames: int
    family: str
    rates: Tuple[float, float]  # the lowest and highest rate a frame was enhanced at
    codec: str
    copied_streams: int  # audio and subtitle streams carried over


def is_video_output(path: Path) -> bool:
    return path.suffix.lower() in CONTAINERS


def output_codec(path: Path, codec: Optional[str], crf: Optional[int]) -> Tuple[str, Optional[int]]:
    """(codec, crf) for an output file: the container's default codec unless one is named, and a
    constant-quality setting for the lossy ones."""
    suffix = path.suffix.lower()
    if suffix not in CONTAINERS:
        raise DiracError(f"{path}: a video is written as {', '.join(CONTAINERS)}")
    codec = DEFAULT_CODEC[suffix] if codec is None else codec
    if codec not in CODECS:
        raise DiracError(f"video codec must be one of {', '.join(CODECS)}, got {codec!r}", option="video_codec")
    if codec == "ffv1":
        if suffix != ".mkv":
            raise DiracError(f"{path}: FFV1 is written in Matroska (.mkv)", option="video_codec")
        if crf is not None:
            raise DiracError("FFV1 is lossless: it takes no crf; a crf needs libx264 or libx265", option="video_codec")
        return codec, None
    crf = DEFAULT_CRF[codec] if crf is None else crf
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= MAX_CRF:
        raise DiracError(f"crf must be an integer in 0..{MAX_CRF}, got {crf!r}", option="crf")
    return codec, crf


VIDEO_FAMILIES = [family for family in base_codecs.families() if base_codecs.codec_type(family).video]


def is_video(path: Path) -> bool:
    """Told by content, not by name: a container (MP4, MOV, MKV) or a raw HEVC/VVC stream;
    anything unreadable is left to the still path to report."""
    try:
        head, _ = source_head(path, "input")
    except DiracError:
        return False
    return is_container(head) or any(base_codecs.codec_type(family).sniff(head) for family in VIDEO_FAMILIES)


def video_family(source: Path) -> Tuple[Optional[str], Optional[str], bool]:
    """(dirac codec family or None, FFmpeg's name for the video codec, whether it is a raw
    stream) of a container or raw stream, told by content."""
    import av

    head, _ = source_head(source, "video")
    if not is_container(head):
        for family in VIDEO_FAMILIES:
            if base_codecs.codec_type(family).sniff(head):
                return family, family, True
        raise DiracError("not a video dirac reads (an MP4/MKV/MOV, or a raw HEVC or VVC stream)")
    try:
        with av.open(str(source), metadata_errors="replace") as container:
            stream = container.streams.video[0] if container.streams.video else None
            name = stream.codec_context.name if stream is not None and stream.codec_context is not None else None
    except (av.error.FFmpegError, OSError) as exc:
        raise DiracError(f"cannot read the container (truncated or corrupt): {exc}") from None
    if name is None:
        raise DiracError("the container holds no readable video track")
    return (name if name in base_codecs.families() else None), name, False


def _frame(pixels: np.ndarray, codec: str):
    """An output frame: RGB (or grey) for FFV1, full-range BT.601 4:2:0 YCbCr for the others."""
    import av

    height, width = pixels.shape[:2]
    if codec == "ffv1":
        fmt = "gray" if pixels.ndim == 2 else "bgr0"
        if pixels.ndim == 2:
            planes = [pixels]
        else:
            packed = np.zeros((height, width, 4), np.uint8)
            packed[..., :3] = pixels[..., ::-1]
            planes = [packed.reshape(height, width * 4)]
    else:
        fmt = "yuv420p"
        if pixels.ndim == 2:  # grey: neutral chroma
            neutral = np.full((height // 2, width // 2), 128, np.uint8)
            planes = [pixels, neutral, neutral]
        else:
            planes = rgb_to_ycbcr(pixels, "4:2:0")
    return fill_frame(av.VideoFrame(width, height, fmt), planes)


@contextlib.contextmanager
def _errors(what: str) -> Iterator[None]:
    import av

    try:
        yield
    except av.error.FFmpegError as exc:
        raise DiracError(f"{what}: cannot decode or encode (truncated, corrupt or unsupported): {exc}") from None


def enhance_video(
    enhancer_for: Callable[[str], object],
    source: Path,
    output: Path,
    rate=None,
    codec: Optional[str] = None,
    video_codec: Optional[str] = None,
    crf: Optional[int] = None,
    progress: bool = False,
    noise: str = "motion",
    **dial,
) -> VideoReport:
    """Enhance every frame of ``source`` into ``output`` (.mkv, .mp4, .mov).

    ``enhancer_for(family)`` gives the Enhancer for the clip's codec family; ``rate`` (None: each
    picture's own slice QP, as x265 codes P and B pictures a few QP coarser than I) and ``codec``
    (None: as read) name them where the clip's codec is not a dirac family (H.264 enhanced with
    HEVC weights, say). ``dial`` goes to ``Enhancer.enhance``. Above realism 0 the frames share
    one noise field, so synthesised texture does not flicker: ``noise`` "motion" carries it along
    the decoded pictures' optical flow, "screen" pins it to the screen (:mod:`dirac.temporal`).
    """
    from .core.rates import native_rate
    from .temporal import frame_noise

    source, output = Path(source), Path(output)
    video_codec, crf = output_codec(output, video_codec, crf)
    detected, name, raw = video_family(source)
    family = codec or detected
    if family is None:
        raise DiracError(f"{source}: {name} video has no dirac codec family; give the family whose weights should "
                         "enhance it and its rate", option="codec")
    if family != detected and rate is None:  # another family's QP is no rate of this one
        raise DiracError(f"{source}: {name} video enhanced as {family} needs its rate on {family}'s scale", option="rate")
    what = f"{family} video {source}"
    with _errors(what):
        fixed = None if rate is None else native_rate(rate, family)
        rank, world, device = _processes()
        enhancer = enhancer_for(family) if device is None else enhancer_for(family, device)
        clip = _Clip(source, raw, detected or family, what)
        used: List[float] = []
        noise_of = frame_noise(noise, dial.get("seed"), dial.get("realism", 0.0), dial.get("steps", 20))

        def enhance(index: int, pixels: np.ndarray, qp: Optional[int], mine: bool = True) -> Optional[np.ndarray]:
            carried = noise_of(pixels)  # every frame, in order: the noise is carried through all
            if not mine:
                return None
            used.append(native_rate(base_codecs.RateInfo(family, qp), family) if fixed is None else fixed)
            return enhancer.enhance(pixels, used[-1], noise=carried, **dial)

        if world == 1:
            count, copied = clip.write(output, enhance, video_codec, crf, progress)
        else:
            count, copied = _write_shared(clip, output, enhance, rank, world, video_codec, crf, progress)
    return VideoReport(count, family, (min(used), max(used)) if used else (fixed, fixed), video_codec, copied)


def _write_shared(clip: "_Clip", output: Path, enhance: Callable[..., Optional[np.ndarray]], rank: int, world: int,
                  video_codec: str, crf: Optional[int], progress: bool) -> Tuple[int, int]:
    """Under accelerate launch: each process passes every frame to ``enhance`` (a video's noise
    is carried through all) and keeps every world-th, enhanced, in a lossless segment; once all
    have (or one has failed, which every process then reports), the main process writes the
    output from the segments in frame order and removes them. Returns what this process wrote
    to the output ((0, 0) but for the main process)."""
    from accelerate.utils import gather_object

    segments = [output.with_name(f".{output.name}.part{k}.mkv") for k in range(world)]
    failure = None
    try:
        clip.write(segments[rank], lambda i, pixels, qp: enhance(i, pixels, qp, mine=i % world == rank), "ffv1", None,
                   progress and rank == 0, copy=False, empty_ok=True)
    except DiracError as exc:
        failure = exc
    failures = [f for f in gather_object([None if failure is None else str(failure)]) if f is not None]
    try:
        if failures:
            raise failure or DiracError(f"another process failed: {failures[0]}")
        if rank != 0:
            return 0, 0
        with contextlib.ExitStack() as stack:
            readers = [stack.enter_context(contextlib.closing(_decoded(segment))) for segment in segments]
            return clip.write(output, lambda i, pixels, qp: next(readers[i % world]), video_codec, crf, progress)
    finally:
        for segment in segments if rank == 0 else [segments[rank]] if failures else []:
            segment.unlink(missing_ok=True)
        _close_processes()


def _processes() -> Tuple[int, int, Optional[str]]:
    """(this process's rank, how many there are, its device: None for a single process, which
    keeps the caller's)."""
    from accelerate import PartialState

    from .checks import default_device

    state = PartialState(cpu=default_device() == "cpu")  # under accelerate launch: the process's GPU
    if state.num_processes == 1:
        return 0, 1, None
    return state.process_index, state.num_processes, str(state.device)


def _close_processes() -> None:
    """Every process waits here for the others, then closes the process group: a process that
    left first, its group still open, could abort on exit (gloo's threads never joined)."""
    from accelerate import PartialState

    state = PartialState()
    state.wait_for_everyone()
    state.destroy_process_group()


def _decoded(segment: Path) -> Iterator[np.ndarray]:
    """The frames of a lossless segment, as written."""
    import av

    with av.open(str(segment)) as container:
        for frame in container.decode(video=0):
            yield frame_to_array(frame)


@dataclass
class _Clip:
    """A clip to read frame by frame, with its audio and subtitles, into an output file."""

    source: Path
    raw: bool
    family: str
    what: str

    def write(self, output: Path, transform: Callable[[int, np.ndarray, Optional[int]], Optional[np.ndarray]], video_codec: str,
              crf: Optional[int], progress: bool, copy: bool = True, empty_ok: bool = False) -> Tuple[int, int]:
        """Frame ``i``'s pixels, coded at slice QP ``qp``, become ``transform(i, pixels, qp)``
        (None: left out), written atomically with the clip's timing (and, with ``copy``, its
        audio and subtitles); returns (frames written, streams copied)."""
        import av
        from tqdm.auto import tqdm

        with atomic_file(output) as tmp, _output_errors(tmp, self.what) as copied, \
                av.open(str(tmp), "w", format=CONTAINERS[output.suffix.lower()]) as out:
            frames = _raw_frames(self.source, self.family) if self.raw else _container_frames(self.source, out if copy else None, self.what)
            vout, count, index = None, 0, -1
            with tqdm(total=_frame_count(self.source, self.raw), desc="frames", unit="frame", disable=not progress) as bar:
                for index, (pixels, qp, pts, time_base, frame_rate) in enumerate(frames):
                    enhanced = transform(index, pixels, qp)
                    bar.update(1)
                    if enhanced is None:
                        continue
                    if vout is None:
                        vout = _video_stream(out, enhanced, video_codec, crf, frame_rate, time_base)
                        copied += [f"{s.type} ({s.codec_context.name})" for s in out.streams if s.type != "video"]
                    frame = _frame(enhanced, video_codec)
                    frame.pts, frame.time_base = pts, time_base
                    out.mux(vout.encode(frame))
                    count += 1
            if vout is None:
                if empty_ok and index >= 0:  # a process whose share of a short clip is empty
                    return 0, 0
                raise DiracError(f"{self.what} holds no decodable picture (truncated or corrupt)")
            out.mux(vout.encode(None))
            return count, len(out.streams) - 1


Frames = Iterator[Tuple[np.ndarray, Optional[int], int, Fraction, Fraction]]  # pixels, slice QP, pts, time base, frame rate


def _frame_count(source: Path, raw: bool) -> Optional[int]:
    """How many frames a container says its video has (None where it does not say)."""
    import av

    if raw:
        return None
    with av.open(str(source), metadata_errors="replace") as container:
        return container.streams.video[0].frames or None


def _raw_frames(source: Path, family: str) -> Frames:
    """A raw stream's pictures (each checked whole, as base_codecs decodes them), timed at
    :data:`RAW_RATE`: the stream carries no timing."""
    for index, decoded in enumerate(base_codecs.get_codec(family).iter_decoded(source)):
        yield decoded.image, decoded.rate.value, index, 1 / RAW_RATE, RAW_RATE


def _container_frames(source: Path, out, what: str) -> Frames:
    """A container's pictures with their slice QPs and timestamps; with ``out``, its audio and
    subtitle packets are copied into it as they come, interleaved as they were."""
    import av

    with av.open(str(source), options=DECODER_OPTIONS, metadata_errors="replace") as inp:
        if not inp.streams.video:
            raise DiracError(f"{what}: the container holds no video track")
        vin = inp.streams.video[0]
        vin.codec_context.options = DECODER_OPTIONS
        copied = {}
        for stream in inp.streams if out is not None else []:
            if stream.type in ("audio", "subtitle"):
                try:
                    copied[stream.index] = out.add_stream_from_template(stream)
                except (ValueError, av.error.FFmpegError) as exc:
                    raise DiracError(f"{what}: its {stream.type} stream ({stream.codec_context.name}) cannot be copied "
                                     f"into this output container ({exc}); write .mkv") from None
        time_base, frame_rate = vin.time_base, vin.average_rate or vin.guessed_rate or RAW_RATE
        pending = []  # copied packets wait for the video stream: the output's header names every stream
        qps, qp = {}, None  # a packet's QP by its timestamp, until its picture comes out
        with SliceQP(vin) as slices:
            for packet in inp.demux(vin, *[inp.streams[i] for i in copied]):
                if packet.stream.index in copied:
                    if packet.dts is not None:
                        packet.stream = copied[packet.stream.index]
                        pending.append(packet)
                        if out.streams.video:
                            out.mux(pending)
                            pending.clear()
                    continue
                passed = [packet]  # the end of the stream (an empty packet) flushes the decoder
                if packet.size:
                    pts = packet.pts  # read before the parser uses the packet up
                    passed, qps[pts] = slices.read(packet)
                for frame in (f for p in passed for f in vin.decode(p)):
                    qp = qps.pop(frame.pts, qp)  # a picture without its packet's timestamp: its predecessor's QP
                    yield frame_to_array(frame), qp, frame.pts, frame.time_base or time_base, frame_rate
        if pending and out.streams.video:
            out.mux(pending)


@contextlib.contextmanager
def _output_errors(tmp: Path, what: str):
    """An FFmpeg error in writing the output (not in reading the clip) as a one-line error; the
    usual one is a container refusing a copied stream (PCM audio in MP4, say)."""
    import av

    copied: List[str] = []  # the copied streams, as the caller adds them
    try:
        yield copied
    except av.error.FFmpegError as exc:
        if getattr(exc, "filename", None) != str(tmp):
            raise
        refused = f"the copied {', '.join(copied)}" if copied else "this video"
        raise DiracError(f"{what}: the output container cannot hold {refused} ({exc.strerror}); write .mkv") from None


def _video_stream(out, pixels: np.ndarray, codec: str, crf: Optional[int], frame_rate: Fraction, time_base: Fraction):
    """The output's video stream, sized and tagged for the first enhanced frame."""
    height, width = pixels.shape[:2]
    if codec != "ffv1" and (height % 2 or width % 2):
        raise DiracError(f"{codec} in 4:2:0 needs even dimensions, the video is {width}x{height}; write FFV1 (.mkv)",
                         option="video_codec")
    stream = out.add_stream(codec, rate=frame_rate)
    stream.width, stream.height = width, height
    stream.codec_context.time_base = time_base
    stream.pix_fmt = ("gray" if pixels.ndim == 2 else "bgr0") if codec == "ffv1" else "yuv420p"
    stream.codec_context.color_range = 2  # what _frame writes: full range (grey FFV1 would read back as limited)
    if crf is not None:
        stream.codec_context.options = {"crf": str(crf)}
        stream.codec_context.colorspace = 5  # BT.601, as _frame converts
    if codec == "libx265" and out.format.name in ("mp4", "mov"):
        stream.codec_tag = "hvc1"  # what Apple's players require of HEVC in MP4/QuickTime
    return stream
