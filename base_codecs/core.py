"""The one small interface every base-codec adapter implements, and the types it speaks in
(decoded pictures, rates, rate scales, training degradations, errors); the registry is in
``registry.py``.

Adapters live in one module per codec family and register themselves on import,
the way Pillow plugins do; callers only ever use :func:`get_codec`.
"""
from __future__ import annotations

import abc
import io
import math
import numbers
import os
import warnings
from dataclasses import dataclass
from typing import ClassVar, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import ExifTags, Image, ImageOps


GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N"}


class DiracError(Exception):
    """Root of every error the project raises on purpose: the message is for the user.

    ``option`` names the argument that would fix it (``"rate"``, ``"weights"`` ...): a program
    reads "pass rate=", and the command line words it as its own flag (:meth:`worded`)."""

    def __init__(self, message: str = "", option: Optional[str] = None):
        super().__init__(message)
        self.message, self.option = message, option

    def __str__(self) -> str:
        return self.message + (f" (pass {self.option}=)" if self.option else "")

    def worded(self, flags: Dict[str, str]) -> str:
        """The message for a user interface that calls ``option`` ``flags[option]`` (and has no
        way to set an option it lacks)."""
        return f"{self.message} (use {flags[self.option]})" if self.option in flags else self.message


class CodecError(DiracError):
    """A base codec could not encode or decode: names the input and what is wrong."""


@dataclass(frozen=True)
class RateInfo:
    """How hard the base codec compressed: family, native rate value, bits per pixel."""

    family: str
    value: Optional[float] = None  # JPEG quality, QP, neural quality index; None if unknown
    bpp: Optional[float] = None


# pixels per position of a learned codec's latent (every CompressAI image model's y), which an enhancer may read
LATENT_STRIDE = 16


@dataclass
class Decoded:
    """A decoded image (HxWx3 uint8 RGB, or HxW uint8 grey) and its rate; a learned codec also
    gives its decoded latent (Cxhxw float32, one position per :data:`LATENT_STRIDE` pixels, covering its padded picture),
    which an enhancer may be conditioned on (Brenig & Timofte)."""

    image: np.ndarray
    rate: RateInfo
    latent: Optional[np.ndarray] = None


ImageLike = Union[np.ndarray, Image.Image]

# Decompression-bomb guard shared by every decoder: Pillow's own default limit (~89.5 Mpx, a
# 1 GiB RGBA canvas), checked on the size a file declares, before a picture is allocated.
MAX_PIXELS = 1024**3 // 4 // 3


def check_size(width: int, height: int, what: str) -> None:
    """Refuse a declared picture size that is empty or above :data:`MAX_PIXELS`."""
    if width < 1 or height < 1:
        raise CodecError(f"{what} declares an empty {width}x{height} picture")
    if width * height > MAX_PIXELS:
        raise CodecError(
            f"{what} declares {width}x{height} pixels, above the {MAX_PIXELS:,}-pixel limit "
            "(a decompression-bomb guard)"
        )


def open_with_pillow(data: bytes, formats: Sequence[str], what: str) -> Image.Image:
    """``data`` opened (not yet decoded) by Pillow's plugins for ``formats`` only, its declared
    size checked; Pillow's own bomb check, which fires while opening, is reported the same way."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(formats))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise CodecError(f"{what} declares more than the {MAX_PIXELS:,}-pixel limit (a decompression-bomb guard)") from None
    except Image.UnidentifiedImageError:
        raise CodecError(f"corrupt or truncated {what}: its header cannot be parsed") from None
    check_size(image.width, image.height, what)
    return image


def upright(image: Image.Image) -> Image.Image:
    """``image`` as viewers show it, its EXIF orientation applied; ``image`` itself (its format's
    tags still readable) when it has none. A damaged EXIF block (which Pillow's parser meets
    with almost any exception) is ignored: the pixels themselves are fine."""
    try:
        if image.getexif().get(ExifTags.Base.Orientation, 1) == 1:
            return image
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001
        return image


def _integer_bits(image: Image.Image) -> int:
    """Magnitude bits of an integer grey picture: 16, unless its TIFF tags say 32 (31 when signed)."""
    tags = getattr(image, "tag_v2", {})
    bits, signed = tags.get(258, (16,)), tags.get(339, (1,))  # BitsPerSample, SampleFormat
    first = lambda v: v[0] if isinstance(v, tuple) else v  # noqa: E731
    return 16 if first(bits) != 32 else 31 if first(signed) == 2 else 32


def pil_to_uint8(image: Image.Image) -> np.ndarray:
    """HxW or HxWx3 uint8 pixels of any PIL image, by one rule for the API and the CLI:

    - one channel stays grey, everything else becomes RGB (palette, CMYK, YCbCr, LAB, HSV);
    - 16-bit (and wider integer) samples keep their top 8 bits, as Pillow does for 16-bit colour;
    - transparency is composited onto white, as a viewer shows the picture on a white page;
    - floating-point samples are refused: their range is not defined.
    """
    try:
        image.load()  # a lazily opened file is read here: damage shows now, not in numpy
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CodecError(f"{image.format or 'image'} cannot be read (truncated or corrupt): {exc}") from None
    if image.mode.startswith("F"):
        raise CodecError(f"{image.format or 'image'} with floating-point samples: their range is undefined; save 8- or 16-bit")
    grey = image.mode in GREY_MODES
    if image.mode.startswith("I"):  # 16- or 32-bit integer grey
        samples, bits = np.asarray(image).astype(np.int64), _integer_bits(image)
        if bits == 32:  # Pillow reads unsigned 32-bit samples as signed: the upper half comes back negative
            samples &= 0xFFFFFFFF
        flat = (np.clip(samples, 0, 2**bits - 1) >> (bits - 8)).astype(np.uint8)
        transparent = image.info.get("transparency")
        if isinstance(transparent, int):  # one fully transparent grey level (PNG tRNS)
            flat[samples == transparent] = 255
        return flat
    if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
        layers = np.asarray(image.convert("LA" if grey else "RGBA")).astype(np.float32)
        alpha = layers[..., -1:] / 255.0
        flat = np.rint(layers[..., :-1] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
        return flat[..., 0] if grey else flat
    return np.asarray(image.convert("L" if grey else "RGB"))


def as_uint8_array(image: ImageLike) -> np.ndarray:
    """Normalise a PIL image (see :func:`pil_to_uint8`) or array to HxW (grey) or HxWx3 (RGB) uint8."""
    if isinstance(image, Image.Image):
        image = pil_to_uint8(image)
    if not isinstance(image, np.ndarray):
        raise CodecError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise CodecError(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise CodecError(f"expected an HxW or HxWx3 image, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise CodecError(f"image is empty (shape {image.shape})")
    return np.ascontiguousarray(image)


@dataclass(frozen=True)
class RateScale:
    """What one codec's rate number means, written once in its plugin: the encoder checks it,
    the enhancer is conditioned on it, benchmarks sample it, the viewer names its unit."""

    unit: str  # what users call it: "quality", "QP", "quality index"
    keyword: str  # the ``encode`` keyword it is passed by
    low: float
    high: float
    finer_when_higher: bool  # JPEG quality: yes; a QP: no
    defaults: Tuple[int, ...]  # the rates benchmarks use unless told
    lowest: Optional[float] = None  # also accepted below ``low`` (and enhanced as ``low``)

    def check(self, family: str, value) -> float:
        """``value`` as a float, or a CodecError naming the valid range."""
        low = self.low if self.lowest is None else self.lowest
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise CodecError(f"rate for {family} must be a number in {low:g}..{self.high:g}, got {value!r}")
        value = float(value)
        if not low <= value <= self.high or not math.isfinite(value):
            raise CodecError(f"rate {value:g} is outside {family}'s range {low:g}..{self.high:g}")
        return value

    def unit_interval(self, family: str, value) -> float:
        """The rate mapped to [0, 1]: 0 the coarsest quantisation, 1 the finest."""
        share = max(0.0, (self.check(family, value) - self.low) / (self.high - self.low))
        return share if self.finer_when_higher else 1.0 - share

    def setting(self, what: str, value) -> int:
        """An encoder's setting: an integer in the range (not below ``low``)."""
        return check_setting(what, value, int(self.low), int(self.high))


@dataclass(frozen=True)
class Degradation:
    """How training codes patches with one codec: a rate drawn from ``low..high`` (skewed towards
    the coarse end), grey or colour, 4:2:0 or 4:4:4 (or no subsampling: a learned codec codes RGB)."""

    low: int
    high: int
    skew: float = 1.0  # rate = low + u**skew * (high - low), u uniform: > 1 favours low values
    grid_step: int = 5  # rates at which residual statistics are measured
    grey_fraction: float = 0.35
    full_chroma_fraction: Optional[float] = 0.2  # None: the encoder takes no chroma subsampling
    # > 1: only low, low + step, ..., high, each as likely (before skew): a codec with one model
    # per rate has only those
    step: int = 1
    # patches cut from each coded crop: 1 codes every patch; more suits a slow encoder (x265),
    # whose crops, coded at twice the patch size, serve several batches from a pool
    reuse: int = 1

    def __post_init__(self):
        if self.step < 1 or (self.high - self.low) % self.step:
            raise ValueError(f"step {self.step} must divide the rate range {self.low}..{self.high}")

    def sample(self, rng: np.random.Generator) -> Tuple[int, Optional[str]]:
        """A random rate and chroma subsampling (None where the encoder takes none)."""
        u = rng.random() ** self.skew
        if self.step == 1:
            rate = int(round(self.low + u * (self.high - self.low)))
        else:
            values = (self.high - self.low) // self.step + 1
            rate = self.low + self.step * min(int(u * values), values - 1)
        if self.full_chroma_fraction is None:
            return rate, None
        return rate, "4:4:4" if rng.random() < self.full_chroma_fraction else "4:2:0"

    def grid(self) -> List[int]:
        return list(range(self.low, self.high + 1, self.grid_step))


class BaseCodec(abc.ABC):
    """Encode an image at a rate setting to real bytes; decode bytes to pixels + RateInfo.

    A plugin also says what its rate means (``rate_scale``), how training codes patches with it
    (``degradation``; None where pairs come pre-coded), and whether it decodes video."""

    name: str = ""
    rate_scale: ClassVar[RateScale]
    degradation: ClassVar[Optional[Degradation]] = None
    video: ClassVar[bool] = False

    def can_encode(self) -> bool:
        """Whether this machine can encode with this codec (an encoder may be external)."""
        return True

    def can_decode(self) -> bool:
        return True

    @abc.abstractmethod
    def encode(self, image: ImageLike, **rate) -> bytes:
        """Compress ``image``; rate keywords are codec specific (``quality=``, ``qp=``)."""

    @abc.abstractmethod
    def decode(self, data: bytes) -> Decoded:
        """Decompress ``data`` to an image and the rate it was coded at."""

    @staticmethod
    @abc.abstractmethod
    def sniff(data: bytes) -> bool:
        """True when ``data`` looks like this family's bitstream (magic numbers / start codes)."""

    def iter_decoded(self, source) -> Iterator[Decoded]:
        """Every picture of a video (bytes or a path), each with its own rate, for the families
        that decode video."""
        raise CodecError(f"{self.name} codes still pictures, not video")

    def iter_frames(self, source) -> Iterator[np.ndarray]:
        """Every picture of a video, as arrays."""
        return (decoded.image for decoded in self.iter_decoded(source))


def check_setting(what: str, value, low: int, high: int) -> int:
    """An encoder's rate setting as an int in ``low..high``; bools and fractions are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise CodecError(f"{what} must be an integer in {low}..{high}, got {value!r}")
    return int(value)


def as_bytes(data, what: str = "input") -> bytes:
    """Bytes-like ``data`` (bytes, bytearray, memoryview) as bytes, or a CodecError saying what
    ``what`` must be: not empty, and not a file name or an array."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        hint = " (a file name? read the file's bytes first)" if isinstance(data, (str, os.PathLike)) else ""
        raise CodecError(f"{what} must be the coded data as bytes, got {type(data).__name__}{hint}")
    if not len(data):
        raise CodecError(f"{what} is empty (0 bytes)")
    return bytes(data)
