"""Hypothesis fuzzing of every decoder wrapper and of ``sniff``: on random bytes, on random bytes
behind a family's magic number and on mutated real encodes, a decoder returns a valid picture
or raises CodecError, never anything else."""
import math

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import base_codecs
from bad_inputs import Sources
from base_codecs import CodecError, images

FUZZ = settings(
    max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip


def _skip_without(decoder: str) -> None:
    if decoder not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {decoder}")


# family -> (seed encode, decode function, how many examples; each decoder a wrapper under test)
def _jpeg(s):
    return s.jpeg, base_codecs.get_codec("jpeg").decode, 150


def _hevc(s):
    _skip_without("libx265")
    return s.hevc, base_codecs.get_codec("hevc").decode, 100


def _vvc(s):
    _skip_without("vvc")
    return s.vvc, base_codecs.get_codec("vvc").decode, 40  # a 768x512 picture: slower


def _neural(s):
    return s.neural, s.neural_codec.decode, 100  # the stream's own weights, so nothing downloads


def _image_file(s):
    return s.png("RGBA"), images.decode, 100


FAMILIES = {"jpeg": _jpeg, "hevc": _hevc, "vvc": _vvc, "neural": _neural, "image-file": _image_file}
MAGIC = {"jpeg": 3, "hevc": 6, "vvc": 6, "neural": 4, "image-file": 8}  # leading bytes kept as a prefix


def assert_valid(decode, data: bytes) -> None:
    try:
        decoded = decode(data)
    except CodecError:
        return
    image = decoded.image if hasattr(decoded, "image") else decoded
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8
    assert image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3), image.shape
    assert min(image.shape[:2]) >= 1
    if hasattr(decoded, "rate"):
        assert all(v is None or math.isfinite(v) for v in (decoded.rate.value, decoded.rate.bpp)), decoded.rate


def mutated(seed: bytes, keep: int):
    """``seed`` after a few bit flips, overwrites, insertions, deletions or a cut, often in the
    headers, never in its first ``keep`` bytes (the magic number: past it is where decoders work)."""
    position = st.one_of(st.integers(keep, min(len(seed), 160) - 1), st.integers(keep, len(seed) - 1))
    kinds = st.sampled_from(["flip", "flip", "set", "set", "insert", "delete", "cut"])
    edit = st.tuples(kinds, position, st.binary(min_size=1, max_size=8))

    def apply(edits) -> bytes:
        data = bytearray(seed)
        for kind, at, chunk in edits:
            at = max(keep, min(at, len(data) - 1))
            if kind == "flip" and at < len(data):
                data[at] ^= 1 << (chunk[0] % 8)
            elif kind == "set":
                data[at : at + len(chunk)] = chunk
            elif kind == "insert":
                data[at:at] = chunk
            elif kind == "delete":
                del data[at : at + len(chunk)]
            elif kind == "cut":
                del data[at + 1 :]
        return bytes(data)

    return st.lists(edit, min_size=1, max_size=6).map(apply)


@pytest.fixture
def sources(textured_rgb):
    return Sources(textured_rgb)


@FUZZ
@given(data=st.binary(max_size=4096))
def test_sniff_names_a_family_or_raises_codec_error(data):
    try:
        assert base_codecs.sniff(data) in base_codecs.available()
    except CodecError:
        pass


@pytest.mark.parametrize("family", FAMILIES)
def test_decoders_survive_random_bytes(family, sources):
    seed, decode, examples = FAMILIES[family](sources)
    prefix = seed[: MAGIC[family]]

    @settings(FUZZ, max_examples=examples)
    @given(data=st.binary(max_size=2048), behind_magic=st.booleans())
    def run(data, behind_magic):
        assert_valid(decode, prefix + data if behind_magic else data)

    run()


@pytest.mark.parametrize("family", FAMILIES)
def test_decoders_survive_mutated_encodes(family, sources):
    seed, decode, examples = FAMILIES[family](sources)
    assert_valid(decode, seed)

    @settings(FUZZ, max_examples=examples)
    @given(data=mutated(seed, MAGIC[family]))
    def run(data):
        assert_valid(decode, data)

    run()
