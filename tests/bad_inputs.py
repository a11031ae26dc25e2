"""The bad-input corpus, built from code: truncations and mutations of real encodes made on the
spot, crafted headers, broken paths, outputs and weights. Each case says what is wrong.

``CASES`` must each be refused with exit 2; ``ODDITIES`` are unusual but valid inputs that must
be enhanced. Only the VVC seed stream is a committed file (tests/fixtures/bad/), as no VVC
encoder ships with the test dependencies.
"""
from __future__ import annotations

import errno
import io
import json
import os
import re
import struct
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, List, Tuple

import numpy as np
from PIL import Image

import base_codecs

VVC_SEED = Path(__file__).parent / "fixtures" / "bad" / "kodim02_qp42.266"


# --- crafting HEVC parameter sets ------------------------------------------------------------


class BitReader:
    """MSB-first reader of an RBSP, with the exp-Golomb codes of H.265."""

    def __init__(self, data: bytes):
        self.bits, self.pos = "".join(f"{byte:08b}" for byte in data), 0

    def u(self, n: int) -> int:
        self.pos += n
        return int(self.bits[self.pos - n : self.pos], 2)

    def ue(self) -> int:
        zeros = self.bits.index("1", self.pos) - self.pos
        self.pos += zeros
        return self.u(zeros + 1) - 1


def ue_bits(value: int) -> str:
    code = bin(value + 1)[2:]
    return "0" * (len(code) - 1) + code


def _escape(rbsp: bytes) -> bytes:
    """Insert emulation-prevention bytes, so no start code appears inside a NAL unit."""
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def cut_into_picture(stream: bytes) -> bytes:
    """``stream`` with as few last bytes cut as change its first picture (PyAV, concealing errors).
    Cutting one byte is not always enough: x265's output differs between CPUs, and its last byte
    may hold only the slice's stop bits, whose loss leaves the picture whole and nothing to detect."""
    import av

    def first_picture(data: bytes) -> np.ndarray:
        with av.open(io.BytesIO(data), format="hevc") as container:
            return next(container.decode(video=0)).to_ndarray(format="rgb24")

    whole = first_picture(stream)
    for cut in range(1, 65):
        try:
            if not np.array_equal(first_picture(stream[:-cut]), whole):
                return stream[:-cut]
        except (av.error.FFmpegError, StopIteration):
            return stream[:-cut]
    raise AssertionError("no cut of the last 64 bytes changes the picture")


def hevc_with_size(stream: bytes, width: int, height: int) -> bytes:
    """``stream`` with its SPS declaring a ``width`` x ``height`` picture (slices left alone)."""
    starts = [m.end() for m in re.finditer(b"\x00\x00\x01", stream)]
    for index, start in enumerate(starts):
        if (stream[start] >> 1) & 0x3F != 33:  # SPS
            continue
        end = starts[index + 1] - 4 if index + 1 < len(starts) else len(stream)  # 4-byte start codes
        reader = BitReader(stream[start + 2 : end].replace(b"\x00\x00\x03", b"\x00\x00"))
        reader.u(4)
        assert reader.u(3) == 0, "one sub-layer, as x265 writes stills"
        reader.u(1 + 96)  # temporal nesting, profile_tier_level
        reader.ue()  # sps id
        if reader.ue() == 3:  # chroma_format_idc
            reader.u(1)
        head = reader.bits[: reader.pos]
        reader.ue(), reader.ue()
        body = reader.bits[reader.pos :].rstrip("0")[:-1]  # without the old stop bit
        bits = head + ue_bits(width) + ue_bits(height) + body + "1"
        bits += "0" * (-len(bits) % 8)
        rbsp = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
        return stream[: start + 2] + _escape(rbsp) + stream[end:]
    raise ValueError("no SPS in the stream")


def first_slice(stream: bytes) -> int:
    """Offset of the start code of an Annex-B HEVC stream's first slice (VCL NAL unit)."""
    return next(m.start() for m in re.finditer(b"\x00\x00\x01", stream) if (stream[m.end()] >> 1) & 0x3F < 32)


# --- other crafted files ---------------------------------------------------------------------


def jpeg_with_sof(data: bytes, width: int, height: int, precision: int = 8) -> bytes:
    """A baseline JPEG whose frame header declares another size or sample precision."""
    sof = data.index(b"\xff\xc0") + 4
    return data[:sof] + struct.pack(">BHH", precision, height, width) + data[sof + 5 :]


def png_chunks(width: int, height: int, depth: int, colour: int, pixels: bytes) -> bytes:
    """A PNG written chunk by chunk, so any header is possible (rows need their filter byte)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


def saved(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def neural_header_offset(data: bytes) -> int:
    """Where the fixed header fields (quality, CRC, height, width, ...) of a neural stream begin."""
    return 5 + data[4]


def patched(data: bytes, fmt: str, offset: int, *values) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, *values)
    return bytes(buf)


def _neural_sized(height: int, width: int) -> Callable[[Sources], bytes]:
    return lambda s: patched(s.neural, ">II", neural_header_offset(s.neural) + 5, height, width)


# --- damaged weights -------------------------------------------------------------------------

SAFETENSORS = "model/diffusion_pytorch_model.safetensors"


def set_config(weights: Path, part: str = "model/config.json", **changes) -> None:
    config = weights / part
    config.write_text(json.dumps({**json.loads(config.read_text()), **changes}))


SCHEDULER = "scheduler/scheduler_config.json"


def _old_linear_schedule(weights: Path) -> None:
    """The layout before DiracScheduler (a diffusers DDPMScheduler), with a schedule dirac never trains."""
    set_config(weights, "model_index.json", scheduler=["diffusers", "DDPMScheduler"])
    (weights / SCHEDULER).write_text(json.dumps({"_class_name": "DDPMScheduler", "beta_schedule": "linear", "prediction_type": "sample"}))


def set_codec(weights: Path, codec: str) -> None:
    set_config(weights, codec=codec)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _poison(weights: Path) -> None:
    """Every floating-point tensor of the weights set to NaN, the file still well formed."""
    from safetensors.torch import load_file, save_file

    path = weights / SAFETENSORS
    tensors = load_file(path)
    save_file({k: v.fill_(float("nan")) if v.is_floating_point() else v for k, v in tensors.items()}, path)


def jpeg_scan_damaged(data: bytes, how: str) -> bytes:
    """A JPEG whose entropy-coded data is damaged but which still ends in its end-of-image
    marker, the damage libjpeg only warns about: a zeroed run, bit flips, or the second half
    of the scan missing."""
    start = data.index(b"\xff\xda") + 20  # past the scan header
    middle = (start + len(data) - 2) // 2
    damaged = bytearray(data)
    if how == "zeroed":
        damaged[middle : middle + 64] = bytes(64)
    elif how == "flipped":
        for offset in np.random.default_rng(3).choice(np.arange(start, len(data) - 2), 32, replace=False):
            damaged[offset] ^= 0x55
    else:  # "cut"
        damaged = damaged[:middle] + b"\xff\xd9"
    return bytes(damaged)


def tiff_tag_beyond_file(data: bytes, tag: int = 258) -> bytes:
    """A little-endian TIFF whose ``tag`` (BitsPerSample) points its values past the file's end."""
    damaged = bytearray(data)
    for entry in range(struct.unpack_from("<H", damaged, 8)[0]):
        if struct.unpack_from("<H", damaged, 10 + 12 * entry)[0] == tag:
            struct.pack_into("<I", damaged, 10 + 12 * entry + 8, 0x7FFFFF00)
    return bytes(damaged)


# --- sources and workspace -------------------------------------------------------------------


class Sources:
    """Real encodes of one test image, each made on first use."""

    def __init__(self, image: np.ndarray):
        self.image = image

    @cached_property
    def jpeg(self) -> bytes:
        return base_codecs.get_codec("jpeg").encode(self.image, quality=30)

    @cached_property
    def hevc(self) -> bytes:
        return base_codecs.get_codec("hevc").encode(self.image, qp=32)

    @cached_property
    def vvc(self) -> bytes:
        return VVC_SEED.read_bytes()

    @cached_property
    def neural_codec(self) -> base_codecs.BaseCodec:
        """A tiny random CompressAI model that no zoo knows, so its streams make nothing download."""
        import torch
        from compressai.models import FactorizedPrior

        torch.manual_seed(0)
        return base_codecs.get_codec("neural", net=FactorizedPrior(N=8, M=16), model="tiny-test", quality=1)

    @cached_property
    def neural(self) -> bytes:
        return self.neural_codec.encode(self.image[:32, :48])

    def png(self, mode: str) -> bytes:
        return saved(Image.fromarray(self.image).convert(mode), "PNG")

    @cached_property
    def png16(self) -> bytes:
        grey = self.image[..., 1].astype(">u2") * 257
        return png_chunks(grey.shape[1], grey.shape[0], 16, 0, b"".join(b"\x00" + row.tobytes() for row in grey))

    @cached_property
    def jpeg_12_bit(self) -> bytes:
        """A real 12-bit JPEG (libjpeg-turbo through imagecodecs), which Pillow's 8-bit libjpeg cannot decode."""
        import imagecodecs

        return imagecodecs.jpeg8_encode(self.image[..., 1].astype(np.uint16) * 16, bitspersample=12)

    @cached_property
    def jpeg_scans(self) -> bytes:
        """A progressive JPEG whose last scan repeats 3000 times: valid, and minutes of decoding at size."""
        progressive = saved(Image.fromarray(self.image), "JPEG", quality=30, progressive=True)
        last_scan = progressive[progressive.rindex(b"\xff\xda") : -2]
        return progressive[:-2] + last_scan * 3000 + b"\xff\xd9"

    def jpeg_of(self, height: int, width: int, mode: str = "RGB") -> bytes:
        """A JPEG of a crop (tiled when larger than the image), in any Pillow mode."""
        tiled = np.tile(self.image, (height // self.image.shape[0] + 1, width // self.image.shape[1] + 1, 1))
        return saved(Image.fromarray(tiled[:height, :width]).convert(mode), "JPEG", quality=30)


class Workspace:
    """A folder for one case; ``culprit`` is the path its error message must name."""

    def __init__(self, root: Path, weights: Path, image: np.ndarray, monkeypatch):
        self.root, self.weights, self.monkeypatch = root, weights, monkeypatch
        self.sources = Sources(image)
        self.out = str(root / "out.png")
        self.culprit = None

    def path(self, name: str) -> str:
        """``name`` in the workspace, the culprit unless one is named already."""
        self.culprit = self.culprit or str(self.root / name)
        return str(self.root / name)

    def write(self, name: str, data: bytes) -> str:
        path = self.path(name)
        Path(path).write_bytes(data)
        return path

    def jpeg(self) -> str:
        return self.write("in.jpg", self.sources.jpeg)

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir()
        return path

    def weights_copy(self, damage: Callable[[Path], None]) -> str:
        """A copy of the tiny weights, damaged in place; it is what the error must name."""
        copy = self.folder("weights")
        for src in self.weights.rglob("*"):
            if src.is_file():
                (copy / src.relative_to(self.weights)).parent.mkdir(parents=True, exist_ok=True)
                (copy / src.relative_to(self.weights)).write_bytes(src.read_bytes())
        damage(copy)
        return str(copy)

    def weights_for(self, codec: str) -> str:
        """The tiny weights relabelled for another codec family (the network is the same)."""
        return self.weights_copy(lambda weights: set_codec(weights, codec))


# --- cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A bad input: ``setup`` builds it and returns ``dirac enhance`` arguments; stderr must say
    ``message`` (and name the culprit when ``names``); ``info``: ``dirac info`` must refuse it too."""

    name: str
    setup: Callable[[Workspace], List[str]]
    message: str
    info: bool = False
    names: bool = True
    needs: str = ""  # "hevc" / "vvc": that decoder or encoder; "non-root": permissions that bind
    command: str = "enhance"
    exit: int = 2


def damaged(
    name: str, suffix: str, make: Callable[[Sources], bytes], message: str, *options: str, needs: str = "", info: bool = True
) -> Case:
    """An input file holding ``make(sources)``; ``info``: a damaged file, not only one that needs options."""
    return Case(name, lambda ws: [ws.write("input" + suffix, make(ws.sources)), "-o", ws.out, *options], message, info, needs=needs)


def usage(name: str, message: str, *options: str) -> Case:
    """A good JPEG with bad options."""
    return Case(name, lambda ws: [ws.jpeg(), "-o", ws.out, *options], message, names=False)


def bad_weights(name: str, damage: Callable[[Path], None], message: str) -> Case:
    def setup(ws: Workspace) -> List[str]:
        weights = ws.weights_copy(damage)
        ws.culprit = weights
        return [ws.jpeg(), "-o", ws.out, "--weights", weights]

    return Case(name, setup, message)


def _out_in_file(ws: Workspace) -> List[str]:
    return [ws.jpeg(), "-o", str(ws.root / "in.jpg" / "out.png")]


def _out_is_folder(ws: Workspace) -> List[str]:
    out = ws.folder("out")
    (out / "in.png").mkdir()
    return [ws.jpeg(), "-o", str(out)]


def _read_only_folder(ws: Workspace) -> List[str]:
    out = ws.folder("locked")
    out.chmod(0o500)
    return [ws.jpeg(), "-o", str(out / "out.png")]


def _disk_full(ws: Workspace) -> List[str]:
    argv = [ws.jpeg(), "-o", ws.out]  # encoded before saving starts to fail

    def save_part_then_fail(image, fp, *args, **kwargs):
        fp.write(b"\x89PNG\r\n\x1a\n partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    ws.monkeypatch.setattr(Image.Image, "save", save_part_then_fail)
    return argv


def _fifo(ws: Workspace) -> List[str]:
    os.mkfifo(ws.path("pipe.jpg"))
    return [ws.culprit, "-o", ws.out]


def _broken_link(ws: Workspace) -> List[str]:
    Path(ws.path("link.jpg")).symlink_to(ws.root / "gone.jpg")
    return [ws.culprit, "-o", ws.out]


def _empty_folder(ws: Workspace) -> List[str]:
    ws.folder("empty")
    return [ws.path("empty"), "-o", str(ws.folder("out"))]


def _output_link_loop(ws: Workspace) -> List[str]:
    loop = Path(ws.root / "loop.png")
    loop.symlink_to(loop.name)
    argv = [ws.jpeg(), "-o", str(loop)]
    ws.culprit = str(loop)  # the error names the output
    return argv


def _bigger_than_a_picture(ws: Workspace) -> List[str]:
    ws.monkeypatch.setattr("dirac.io.MAX_INPUT_BYTES", 100)  # stands for 1 GiB: read whole, it could exhaust memory
    return [ws.jpeg(), "-o", ws.out]


def _input_link_loop(ws: Workspace) -> List[str]:
    Path(ws.path("loop.jpg")).symlink_to("loop.jpg")
    return [ws.culprit, "-o", ws.out]


def _fifo_in_batch(ws: Workspace) -> List[str]:
    os.mkfifo(ws.path("pipe.jpg"))
    return [ws.culprit, ws.jpeg(), "-o", str(ws.folder("out"))]


def _unreadable_folder(ws: Workspace) -> List[str]:
    locked = Path(ws.path("locked"))
    locked.mkdir()
    (locked / "in.jpg").write_bytes(ws.sources.jpeg)
    locked.chmod(0o000)
    return [str(locked), "-o", str(ws.folder("out"))]


def _terminated_while_writing(ws: Workspace) -> List[str]:
    """SIGTERM arrives while the output is half written: the temp file must go, as on Ctrl-C."""
    import signal

    argv = [ws.jpeg(), "-o", ws.out]

    def save_part_then_terminate(image, fp, *args, **kwargs):
        fp.write(b"\x89PNG\r\n\x1a\n partial")
        os.kill(os.getpid(), signal.SIGTERM)

    ws.monkeypatch.setattr(Image.Image, "save", save_part_then_terminate)
    return argv


def _several_into_file(ws: Workspace) -> List[str]:
    out = ws.path("out.png")
    return [ws.write("a.jpg", ws.sources.jpeg), ws.write("b.jpg", ws.sources.jpeg), "-o", out]


CASES: List[Case] = [
    # JPEG
    damaged("jpeg-empty", ".jpg", lambda s: b"", "empty"),
    damaged("jpeg-marker-only", ".jpg", lambda s: s.jpeg[:3], "corrupt or truncated JPEG"),
    damaged("jpeg-headers-only", ".jpg", lambda s: s.jpeg[: s.jpeg.index(b"\xff\xda")], "corrupt or truncated JPEG"),
    damaged("jpeg-half", ".jpg", lambda s: s.jpeg[: len(s.jpeg) // 2], "truncated"),
    damaged("jpeg-zeroed-run", ".jpg", lambda s: jpeg_scan_damaged(s.jpeg, "zeroed"), "damaged JPEG, libjpeg reports: Corrupt JPEG data"),
    damaged("jpeg-bit-flips", ".jpg", lambda s: jpeg_scan_damaged(s.jpeg, "flipped"), "damaged JPEG, libjpeg reports: Corrupt JPEG data"),
    damaged("jpeg-half-with-end-marker", ".jpg", lambda s: jpeg_scan_damaged(s.jpeg, "cut"), "damaged JPEG, libjpeg reports: Corrupt JPEG data"),
    damaged("jpeg-no-end-marker", ".jpg", lambda s: s.jpeg[:-2], "truncated"),
    damaged("jpeg-garbage-after-marker", ".jpg", lambda s: s.jpeg[:3] + np.random.default_rng(1).bytes(900), "corrupt"),
    damaged("jpeg-bomb-65000x65000", ".jpg", lambda s: jpeg_with_sof(s.jpeg, 65000, 65000), "decompression-bomb"),
    damaged("jpeg-zero-height", ".jpg", lambda s: jpeg_with_sof(s.jpeg, 128, 0), "corrupt"),
    damaged("jpeg-12-bit-header", ".jpg", lambda s: jpeg_with_sof(s.jpeg, 128, 96, precision=12), "12-bit JPEG (sample precision 12): only 8-bit"),
    damaged("jpeg-12-bit", ".jpg", lambda s: s.jpeg_12_bit, "12-bit JPEG (sample precision 12): only 8-bit"),
    damaged("jpeg-3000-progressive-scans", ".jpg", lambda s: s.jpeg_scans, "scans, more than 500: refused"),
    damaged("jpeg-random-bytes", ".jpg", lambda s: np.random.default_rng(2).bytes(1000), "unrecognised data"),
    damaged("jpeg-text", ".jpg", lambda s: b"this is not a picture\n", "unrecognised data"),
    # HEVC
    damaged("hevc-empty", ".265", lambda s: b"", "empty"),
    damaged("hevc-start-code-only", ".265", lambda s: b"\x00\x00\x00\x01", "unrecognised data"),
    damaged("hevc-parameter-sets-only", ".265", lambda s: s.hevc[: first_slice(s.hevc)], "truncated", needs="hevc"),
    damaged("hevc-half", ".265", lambda s: s.hevc[: len(s.hevc) // 2], "truncated", needs="hevc"),
    damaged("hevc-last-bytes-missing", ".265", lambda s: cut_into_picture(s.hevc), "truncated", needs="hevc"),
    damaged("hevc-garbage-after-header", ".265", lambda s: s.hevc[:6] + bytes(range(256)) * 4, "truncated", needs="hevc"),
    damaged("hevc-bomb-16000x16000", ".265", lambda s: hevc_with_size(s.hevc, 16000, 16000), "decompression-bomb", needs="hevc"),
    damaged("hevc-65000x65000", ".265", lambda s: hevc_with_size(s.hevc, 65000, 65000), "cannot decode", needs="hevc"),
    damaged("hevc-mp4-box-only", ".mp4", lambda s: b"\x00\x00\x00\x18ftypisom" + bytes(200), "without a readable HEVC track"),
    # VVC
    damaged("vvc-empty", ".266", lambda s: b"", "empty"),
    damaged("vvc-parameter-sets-only", ".266", lambda s: s.vvc[:40], "truncated", needs="vvc"),
    damaged("vvc-half", ".266", lambda s: s.vvc[: len(s.vvc) // 2], "truncated", needs="vvc"),
    damaged("vvc-last-byte-missing", ".266", lambda s: s.vvc[:-1], "truncated", needs="vvc"),
    damaged("vvc-garbage-after-header", ".266", lambda s: s.vvc[:6] + bytes(range(256)) * 4, "truncated", needs="vvc"),
    # neural
    damaged("neural-empty", ".dnc", lambda s: b"", "empty"),
    damaged("neural-magic-only", ".dnc", lambda s: b"DNC1", "truncated"),
    damaged("neural-header-cut", ".dnc", lambda s: s.neural[:20], "truncated"),
    damaged("neural-latents-cut", ".dnc", lambda s: s.neural[:-1], "truncated"),
    damaged("neural-trailing-bytes", ".dnc", lambda s: s.neural + b"\x00", "header does not match"),
    damaged("neural-bomb-100000x100000", ".dnc", _neural_sized(100000, 100000), "decompression-bomb"),
    damaged("neural-zero-width", ".dnc", _neural_sized(32, 0), "empty 0x32 picture"),
    damaged("neural-unknown-model", ".dnc", lambda s: s.neural, "unknown CompressAI model 'tiny-test'"),
    # ordinary image files: no rate without --rate, or damaged
    damaged("png-rgb-without-rate", ".png", lambda s: s.png("RGB"), "give its rate and codec (default jpeg) (use --rate)", info=False),
    damaged("png-16-bit-without-rate", ".png", lambda s: s.png16, "give its rate and codec (default jpeg) (use --rate)", info=False),
    damaged("png-rgba-without-rate", ".png", lambda s: s.png("RGBA"), "give its rate and codec (default jpeg) (use --rate)", info=False),
    damaged("png-palette-without-rate", ".png", lambda s: s.png("P"), "give its rate and codec (default jpeg) (use --rate)", info=False),
    damaged("png-half", ".png", lambda s: s.png("RGB")[:500], "corrupt or truncated PNG", "--rate", "30"),
    damaged("png-bomb-100000x100000", ".png", lambda s: png_chunks(100000, 100000, 8, 2, b"\x00" * 64), "decompression-bomb", "--rate", "30"),
    damaged("tiff-float", ".tif", lambda s: saved(Image.fromarray(s.image[..., 0].astype(np.float32)), "TIFF"), "floating-point", "--rate", "30"),
    damaged("tiff-tag-beyond-file", ".tif", lambda s: tiff_tag_beyond_file(saved(Image.fromarray(s.image), "TIFF")),
            "corrupt or truncated TIFF", "--rate", "30"),
    damaged("gif-garbage", ".gif", lambda s: b"GIF89a" + bytes(range(256)), "corrupt or truncated GIF", "--rate", "30"),
    # paths
    Case("missing-path", lambda ws: [ws.path("nothing.jpg"), "-o", ws.out], "no such file"),
    Case("broken-symlink", _broken_link, "no such file"),
    Case("fifo-as-input", _fifo, "not a regular file"),
    Case("fifo-in-batch", _fifo_in_batch, "not a regular file", command="batch"),
    Case("input-symlink-loop", _input_link_loop, "too many levels of symbolic links", info=True),
    Case("input-name-too-long", lambda ws: [ws.path("x" * 300 + ".jpg"), "-o", ws.out], "cannot read (file name too long)", info=True),
    Case("newline-in-input-name", lambda ws: [ws.write("in\nput.jpg", b""), "-o", ws.out], "in\\nput.jpg: input is empty", names=False),
    Case("unreadable-directory", _unreadable_folder, "cannot list this directory (Permission denied)", needs="non-root", command="batch"),
    Case("empty-directory", _empty_folder, "holds no files"),
    Case("glob-matching-nothing", lambda ws: [ws.path("*.nothing"), "-o", ws.out], "no files match"),
    Case("several-inputs-into-a-file", _several_into_file, "-o must be an existing directory"),
    Case("bigger-than-a-picture", _bigger_than_a_picture, "bytes is too large: a picture file is read whole", info=True),
    Case("empty-input-name", lambda ws: ["", "-o", ws.out], "an input path is empty", names=False),
    # outputs
    Case("output-under-a-file", _out_in_file, "is not a directory"),
    Case("output-is-a-directory", _out_is_folder, "is a directory"),
    Case("output-folder-missing", lambda ws: [ws.jpeg(), "-o", str(ws.root / "no" / "o.png")], "does not exist"),
    Case("output-extension", lambda ws: [ws.jpeg(), "-o", str(ws.root / "o.bmp")], "unsupported output extension"),
    Case("output-is-the-input", lambda ws: [ws.jpeg(), "-o", ws.jpeg()], "refusing to overwrite"),
    Case("output-in-proc", lambda ws: [ws.jpeg(), "-o", "/proc/dirac-test-output.png"], "cannot write output"),
    Case("output-read-only-folder", _read_only_folder, "cannot write output", needs="non-root"),
    Case("output-disk-full", _disk_full, "No space left on device"),
    Case("output-symlink-loop", _output_link_loop, "too many levels of symbolic links"),
    Case("output-name-too-long", lambda ws: [ws.jpeg(), "-o", str(ws.root / ("y" * 300 + ".png"))], "cannot write output (file name too long)",
         names=False),
    Case("output-terminated-while-writing", _terminated_while_writing, "dirac: terminated", names=False, exit=143),
    Case(
        "output-webp-too-wide",
        lambda ws: [ws.write("wide.jpg", ws.sources.jpeg_of(2, 17000)), "-o", str(ws.root / "o.webp")],
        "at most 16383 pixels",
    ),
    # weights
    Case("weights-missing", lambda ws: [ws.jpeg(), "-o", ws.out, "--weights", ws.path("none")], "no dirac weights"),
    Case("weights-is-a-file", lambda ws: [ws.jpeg(), "-o", ws.out, "--weights", ws.jpeg()], "no dirac weights"),
    Case("weights-is-the-index-file", lambda ws: [ws.jpeg(), "-o", ws.out, "--weights", str(ws.weights / "model_index.json")],
         "is the weights' index file; give the folder holding it", names=False),
    Case("output-folder-to-be", lambda ws: [ws.jpeg(), "-o", str(ws.root / "new") + os.sep], "new: -o must be an existing directory",
         names=False),
    bad_weights("weights-index-missing", lambda w: (w / "model_index.json").unlink(), "no dirac weights"),
    bad_weights("weights-index-garbage", lambda w: (w / "model_index.json").write_text("{not json"), "corrupt"),
    bad_weights("weights-config-garbage", lambda w: (w / "model" / "config.json").write_bytes(b"\x00\xff"), "corrupt"),
    bad_weights("weights-tensors-missing", lambda w: (w / SAFETENSORS).unlink(), "diffusion_pytorch_model.safetensors is missing"),
    bad_weights("weights-tensors-truncated", lambda w: _truncate(w / SAFETENSORS), "corrupt"),
    bad_weights("weights-shapes-mismatch", lambda w: set_config(w, channels=[16, 32, 64]), "corrupt"),
    bad_weights("weights-nan", _poison, "NaN or infinite values"),
    bad_weights("weights-stats-not-numbers", lambda w: set_config(w, stats_rates="abc"), "statistics must be lists of numbers"),
    bad_weights("weights-t-start-not-a-number", lambda w: set_config(w, SCHEDULER, t_start_min="abc"), "t_start range must be whole"),
    bad_weights("weights-detail-sigma-negative", lambda w: set_config(w, SCHEDULER, detail_sigma=-1),
                "detail_sigma must be 0 (the steps' whole output) or in [0.5, 64]"),
    bad_weights("weights-another-model-class", lambda w: set_config(w, "model_index.json", model=["diffusers", "UNet2DModel"]),
                "are not dirac weights: their model is a UNet2DModel"),
    bad_weights("weights-schedule-too-short", lambda w: set_config(w, SCHEDULER, num_train_timesteps=800),
                "noise schedule has 800 timesteps, the model's 1000"),
    bad_weights("weights-old-layout-linear-schedule", _old_linear_schedule, "not the cosine, clean-sample schedule"),
    bad_weights("weights-for-another-codec", lambda w: set_codec(w, "hevc"), "enhance hevc"),
    # usage
    usage("rate-nan", "outside jpeg's range", "--rate", "nan"),
    usage("rate-not-a-number", "invalid float value", "--rate", "high"),
    usage("realism-above-one", "realism must be in [0, 1]", "--realism", "2"),
    usage("steps-zero", "steps must be at least 1", "--steps", "0"),
    usage("eta-above-one", "eta must be in [0, 1]", "--eta", "1.5"),
    usage("detail-sigma-negative", "detail_sigma must be 0 (the steps' whole output) or in [0.5, 64]", "--detail-sigma", "-1"),
    usage("tile-not-multiple", "tile must be a multiple of 16", "--tile", "40"),
    usage("threads-zero", "--threads must be in 1..1024", "--threads", "0"),
    usage("threads-huge", "--threads must be in 1..1024", "--threads", "100000"),
    usage("device-unknown", "--device 'warp-drive' is not usable", "--device", "warp-drive"),
    usage("codec-mismatch", "the file is jpeg", "--codec", "vvc"),
    usage("unknown-option", "unrecognized arguments", "--sharpen"),
]


@dataclass(frozen=True)
class Oddity:
    """An unusual but valid input: ``setup`` returns ``dirac enhance`` arguments writing
    ``out.*``, which must be a finite image of ``shape``."""

    name: str
    setup: Callable[[Workspace], List[str]]
    shape: Tuple[int, ...]
    needs: str = ""


def oddity(name: str, suffix: str, make: Callable[[Sources], bytes], shape: Tuple[int, ...], *options: str, needs: str = "") -> Oddity:
    """An input file holding ``make(sources)``; ``needs`` a codec: enhanced with weights for it."""

    def setup(ws: Workspace) -> List[str]:
        weights = ["--weights", ws.weights_for(needs)] if needs else []
        return [ws.write("in" + suffix, make(ws.sources)), "-o", ws.out, *options, *weights]

    return Oddity(name, setup, shape, needs)


ODDITIES: List[Oddity] = [
    oddity("jpeg-grey", ".jpg", lambda s: s.jpeg_of(96, 128, "L"), (96, 128)),
    oddity("jpeg-cmyk", ".jpg", lambda s: s.jpeg_of(96, 128, "CMYK"), (96, 128, 3)),
    oddity("jpeg-1x1", ".jpg", lambda s: s.jpeg_of(1, 1), (1, 1, 3)),
    oddity("jpeg-7x13", ".jpg", lambda s: s.jpeg_of(13, 7), (13, 7, 3)),
    oddity("jpeg-2000x1", ".jpg", lambda s: s.jpeg_of(1, 2000), (1, 2000, 3)),
    oddity("jpeg-1x2000", ".jpg", lambda s: s.jpeg_of(2000, 1), (2000, 1, 3)),
    oddity("png-rgb-with-rate", ".png", lambda s: s.png("RGB"), (96, 128, 3), "--rate", "30"),
    oddity("png-grey-with-rate", ".png", lambda s: s.png("L"), (96, 128), "--rate", "30"),
    oddity("png-16-bit-with-rate", ".png", lambda s: s.png16, (96, 128), "--rate", "30"),
    oddity("png-rgba-with-rate", ".png", lambda s: s.png("RGBA"), (96, 128, 3), "--rate", "30"),
    oddity("png-palette-with-rate", ".png", lambda s: s.png("P"), (96, 128, 3), "--rate", "30"),
    oddity("hevc-grey", ".265", lambda s: base_codecs.get_codec("hevc").encode(s.image[:16, :16, 0], qp=40), (16, 16), needs="hevc"),
    oddity("vvc-kodak", ".266", lambda s: s.vvc, (512, 768, 3), needs="vvc"),
    Oddity("glob-characters-in-name", lambda ws: [ws.write("in[1].jpg", ws.sources.jpeg), "-o", ws.out], (96, 128, 3)),
]
