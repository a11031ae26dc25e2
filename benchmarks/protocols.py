"""The evaluation protocols of ``shared/README.md``, so figures compare with published tables.

- grey: Y = MATLAB rgb2ycbcr luma rounded to uint8, coded as a greyscale image (JPEG: Pillow
  ``quality=QF``); PSNR on Y, 8-bit, whole image.
- colour: RGB coded as is (JPEG: Pillow defaults, 4:2:0); PSNR on RGB, 8-bit, whole image.

Both give :class:`Case` objects: one image at one rate with its reference, its real bitstream
(bpp comes from its length) and its base decode, shared by every method in the run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

import numpy as np

import base_codecs
from base_codecs import DiracError
from dirac.metrics.fidelity import y_channel

if TYPE_CHECKING:  # for the annotation only
    from .datasets import Dataset

PROTOCOLS = ("colour", "grey")
ENCODE_OPTIONS = {"jpeg": {"subsampling": "4:2:0"}}


@dataclass
class Case:
    """One image at one rate, ready for every method."""

    image: str
    rate: int  # the nominal rate asked for (JPEG quality, QP)
    reference: np.ndarray  # what the output is compared with
    bitstream: bytes
    decoded: np.ndarray  # the base decode, same shape as reference
    native_rate: float  # the rate the decoder read back from the data: what methods are told
    bpp: float
    latent: Optional[np.ndarray] = None  # a learned codec's decoded latent, of the uncropped picture only


def default_protocol(dataset: Dataset) -> str:
    """grey for grey test sets (Classic5), colour otherwise."""
    return "grey" if dataset.original(0).ndim == 2 else "colour"


def reference(image: np.ndarray, protocol: str, dataset: str) -> np.ndarray:
    """The picture a protocol codes and compares against."""
    if protocol == "grey":
        return y_channel(image)
    if protocol == "colour":
        if image.ndim == 2:
            raise DiracError(f"{dataset} holds grey images: use --protocol grey")
        return image
    raise DiracError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


def centre_crop(image: np.ndarray, size: Optional[int]) -> np.ndarray:
    """The central ``size`` x ``size`` region (or the whole side where the image is smaller)."""
    if not size:
        return image
    h, w = image.shape[:2]
    y0, x0 = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[y0:y0 + size, x0:x0 + size]


def _encode(codec: base_codecs.BaseCodec, codec_name: str, image: np.ndarray, rate: int) -> bytes:
    if not codec.can_encode():
        raise DiracError(f"{codec_name} cannot encode on this machine; use a coded test set (e.g. vvc-kodak)")
    options = {codec.rate_scale.keyword: int(rate), **ENCODE_OPTIONS.get(codec_name, {})}
    return codec.encode(image, **options)


def cases(dataset: Dataset, protocol: str, codec_name: str, rate: int, crop: Optional[int] = None,
          limit: Optional[int] = None) -> Iterator[Case]:
    """Every image of ``dataset`` (the first ``limit``) at ``rate`` under ``protocol``.

    Image sets are cropped before coding; coded sets can only be cropped after decoding (the
    bpp is then that of the whole coded picture).
    """
    if dataset.coded and dataset.codec != codec_name:
        raise DiracError(f"{dataset.name} holds {dataset.codec} bitstreams; run it with --codec {dataset.codec}")
    if dataset.coded and protocol != "colour":
        raise DiracError(f"{dataset.name} holds colour bitstreams: only --protocol colour applies")
    codec = base_codecs.get_codec(codec_name)
    for index in range(min(limit or len(dataset.images), len(dataset.images))):
        original = reference(dataset.original(index), protocol, dataset.name)
        if dataset.coded:
            data = dataset.bitstream(index, rate)
            decoded = codec.decode(data)
            coded_pixels = decoded.image.shape[0] * decoded.image.shape[1]
            original, image = centre_crop(original, crop), centre_crop(decoded.image, crop)
        else:
            original = centre_crop(original, crop)
            data = _encode(codec, codec_name, original, rate)
            decoded = codec.decode(data)
            coded_pixels, image = original.shape[0] * original.shape[1], decoded.image
        if image.shape != original.shape:
            raise DiracError(f"{dataset.images[index].name}: decode is {image.shape}, original {original.shape}")
        native = decoded.rate.value if decoded.rate.value is not None else rate
        yield Case(dataset.images[index].name, int(rate), original, data, image, float(native),
                   len(data) * 8.0 / coded_pixels, decoded.latent if image is decoded.image else None)
