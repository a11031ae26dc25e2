"""JPEG adapter: real libjpeg round trips, IJG quality recovery, colour spaces, EXIF, bad input."""
import io

import imagecodecs
import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from base_codecs import CodecError, get_codec
from base_codecs.jpeg import estimate_quality


@pytest.fixture(scope="module")
def codec():
    return get_codec("jpeg")


@pytest.mark.parametrize("grey", [False, True], ids=["colour", "grey"])
def test_quality_recovered_exactly_for_all_100_qualities(codec, smooth_rgb, grey):
    image = smooth_rgb[:, :, 1] if grey else smooth_rgb
    recovered = {}
    for quality in range(1, 101):
        data = codec.encode(image, quality=quality)
        decoded = codec.decode(data)
        assert decoded.image.shape == image.shape and decoded.image.dtype == np.uint8
        assert decoded.rate.family == "jpeg"
        assert decoded.rate.bpp == pytest.approx(len(data) * 8 / (image.shape[0] * image.shape[1]))
        recovered[quality] = decoded.rate.value
    assert recovered == {q: q for q in range(1, 101)}


def test_quality_is_estimated_for_foreign_tables(smooth_rgb):
    buf = io.BytesIO()
    Image.fromarray(smooth_rgb).save(buf, format="JPEG", quality=50)
    with Image.open(buf) as im:
        tables = {k: [min(255, round(v * 1.06)) for v in table] for k, table in im.quantization.items()}
    estimate = estimate_quality(tables)
    assert estimate != 50 and 45 <= estimate < 50  # coarser tables than q50: a slightly lower quality
    assert estimate_quality({}) is None


def test_rate_grows_with_quality(codec, smooth_rgb, psnr):
    low, high = (codec.decode(codec.encode(smooth_rgb, quality=q)) for q in (10, 90))
    assert low.rate.bpp < high.rate.bpp
    assert psnr(low.image, smooth_rgb) < psnr(high.image, smooth_rgb)
    assert psnr(high.image, smooth_rgb) > 38


def test_chroma_subsampling_is_written_and_changes_fidelity(codec, textured_rgb, psnr):
    results = {}
    for subsampling, pillow_code in (("4:4:4", 0), ("4:2:0", 2)):
        data = codec.encode(textured_rgb, quality=95, subsampling=subsampling)
        with Image.open(io.BytesIO(data)) as im:
            assert JpegImagePlugin.get_sampling(im) == pillow_code
        results[subsampling] = psnr(codec.decode(data).image, textured_rgb)
    assert results["4:4:4"] > results["4:2:0"] + 1.0  # noisy chroma survives only at full resolution


def test_grey_is_one_component(codec, smooth_rgb):
    data = codec.encode(smooth_rgb[:, :, 0], quality=80)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "L" and len(im.quantization) == 1
    assert codec.decode(data).image.shape == smooth_rgb.shape[:2]


def test_progressive_decodes_like_baseline(codec, smooth_rgb):
    baseline, progressive = io.BytesIO(), io.BytesIO()
    Image.fromarray(smooth_rgb).save(baseline, format="JPEG", quality=40)
    Image.fromarray(smooth_rgb).save(progressive, format="JPEG", quality=40, progressive=True)
    assert progressive.getvalue() != baseline.getvalue()
    a, b = codec.decode(baseline.getvalue()), codec.decode(progressive.getvalue())
    assert b.rate.value == 40
    np.testing.assert_array_equal(a.image, b.image)  # same coefficients, same pixels


def test_cmyk_jpeg_decodes_to_rgb(codec, smooth_rgb, psnr):
    buf = io.BytesIO()
    Image.fromarray(smooth_rgb).convert("CMYK").save(buf, format="JPEG", quality=95)
    decoded = codec.decode(buf.getvalue())
    assert decoded.image.shape == smooth_rgb.shape
    assert psnr(decoded.image, smooth_rgb) > 40
    assert decoded.rate.value == 95


def test_adobe_ycck_jpeg_decodes_to_rgb(codec, smooth_rgb, psnr):
    # Photoshop writes inverted CMYK (0 = full ink) with an Adobe marker; here as YCCK.
    inverted_cmyk = 255 - np.asarray(Image.fromarray(smooth_rgb).convert("CMYK"))
    data = imagecodecs.jpeg8_encode(inverted_cmyk, level=95, colorspace="CMYK", outcolorspace="YCCK")
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "CMYK" and im.info.get("adobe_transform") == 2  # really YCCK
    decoded = codec.decode(data)
    assert decoded.image.shape == smooth_rgb.shape
    assert psnr(decoded.image, smooth_rgb) > 38


@pytest.mark.parametrize("orientation, expected", [(1, lambda a: a), (3, lambda a: a[::-1, ::-1]), (6, lambda a: np.rot90(a, k=-1)), (8, lambda a: np.rot90(a, k=1))])
def test_exif_orientation_is_applied(codec, smooth_rgb, psnr, orientation, expected):
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(smooth_rgb).save(buf, format="JPEG", quality=95, exif=exif)
    decoded = codec.decode(buf.getvalue()).image
    upright = expected(smooth_rgb)
    assert decoded.shape == upright.shape
    assert psnr(decoded, upright) > 38


@pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow's notes on the damaged EXIF it skips
@pytest.mark.parametrize("changes", [{17: 78, 45: 123, 75: 200}, {17: 63, 48: 152}],
                         ids=["struct-error", "type-error"])  # bytes after "Exif" that broke Pillow's parser
def test_damaged_exif_keeps_the_stored_orientation(codec, changes):
    pixels = (np.random.default_rng(0).random((24, 40, 3)) * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112], exif[0x010F], exif[0x9003] = 6, "Cam", "2020:01:01 00:00:00"
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=40, exif=exif.tobytes())
    data = bytearray(buf.getvalue())
    start = data.find(b"Exif")
    for offset, value in changes.items():
        data[start + offset] = value
    damaged = codec.decode(bytes(data))
    assert damaged.image.shape == (24, 40, 3) and damaged.rate.value == 40  # as stored: the orientation is unreadable
    assert np.array_equal(damaged.image, np.asarray(Image.open(io.BytesIO(bytes(data))).convert("RGB")))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"GIF89a" + bytes(100), "not a JPEG"),
        (b"\x00\x00\x00\x01\x40\x01\x0c\x01" + bytes(50), "not a JPEG"),  # an HEVC stream
        (b"\xff\xd8\xff" + bytes(range(256)) * 4, "corrupt or truncated JPEG"),
    ],
    ids=["empty", "garbage", "wrong-family", "garbage-after-marker"],
)
def test_bad_input_raises_codec_error(codec, data, message):
    with pytest.raises(CodecError, match=message):
        codec.decode(data)


def test_truncated_jpeg_raises_codec_error(codec, textured_rgb):
    data = codec.encode(textured_rgb, quality=90)
    for cut in (len(data) // 2, 200, 4):
        with pytest.raises(CodecError, match="truncated"):
            codec.decode(data[:cut])


@pytest.mark.parametrize("rate", [{"quality": 0}, {"quality": 101}, {"quality": 50.5}, {"subsampling": "4:1:1"}])
def test_bad_encode_arguments_raise_codec_error(codec, smooth_rgb, rate):
    with pytest.raises(CodecError, match="quality|subsampling"):
        codec.encode(smooth_rgb, **rate)


def test_bad_images_raise_codec_error(codec, smooth_rgb):
    with pytest.raises(CodecError, match="uint8"):
        codec.encode(smooth_rgb.astype(np.float32))
    with pytest.raises(CodecError, match="shape"):
        codec.encode(np.zeros((8, 8, 4), np.uint8))


def test_pil_input_is_accepted(codec, smooth_rgb):
    assert codec.decode(codec.encode(Image.fromarray(smooth_rgb).convert("RGBA"))).image.shape == smooth_rgb.shape
