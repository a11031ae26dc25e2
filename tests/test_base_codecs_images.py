"""base_codecs.images: lossless pictures (references, training images) come out as viewers show them."""
import io

import numpy as np
import pytest
from PIL import Image

from base_codecs import images


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_exif_orientation_is_applied_in_every_format(fmt):
    pixels = np.zeros((10, 30, 3), np.uint8)
    pixels[0, 0] = 255  # top-left marks the turn
    buf = io.BytesIO()
    if fmt == "TIFF":
        Image.fromarray(pixels).save(buf, fmt, tiffinfo={0x0112: 6})
    else:
        exif = Image.Exif()
        exif[0x0112] = 6  # stored picture must turn 90 degrees clockwise
        Image.fromarray(pixels).save(buf, fmt, exif=exif, lossless=True)
    decoded = images.decode(buf.getvalue())
    assert np.array_equal(decoded, np.rot90(pixels, k=-1))


def test_16_bit_grey_transparency_becomes_white():
    import struct
    import zlib

    from bad_inputs import png_chunks

    levels = [4660, 1000]  # the first is declared fully transparent
    data = png_chunks(1, 2, 16, 0, b"".join(b"\x00" + struct.pack(">H", v) for v in levels))
    trns = struct.pack(">I", 2) + b"tRNS" + struct.pack(">H", 4660) + struct.pack(">I", zlib.crc32(b"tRNS" + struct.pack(">H", 4660)))
    at = data.index(b"IDAT") - 4
    assert images.decode(data[:at] + trns + data[at:]).tolist() == [[255], [1000 >> 8]]


@pytest.mark.parametrize("dtype, top", [(np.int32, 2**31 - 1), (np.uint16, 2**16 - 1)])
def test_wide_integer_grey_keeps_its_top_8_bits(dtype, top):
    """A 32-bit TIFF's full range maps to 0..255 (it was clipped to 16 bits: almost all white)."""
    samples = np.array([[0, top // 256 * 100, top]], dtype=dtype)
    buffer = io.BytesIO()
    Image.fromarray(samples).save(buffer, format="TIFF")
    assert images.decode(buffer.getvalue()).tolist() == [[0, 99, 255]]


def test_unsigned_32_bit_grey_keeps_its_top_8_bits():
    """Pillow reads unsigned 32-bit samples as signed; their upper half must not turn black."""
    samples = np.array([[0, 2**31 - 1, -1, -(2**31)]], dtype=np.int32)  # unsigned: 0, 2**31 - 1, 2**32 - 1, 2**31
    buffer = io.BytesIO()
    Image.fromarray(samples).save(buffer, format="TIFF")
    signed = b"\x53\x01\x03\x00\x01\x00\x00\x00\x02\x00"  # SampleFormat (339), SHORT, 1 value: 2 (signed)
    assert buffer.getvalue().count(signed) == 1
    unsigned = buffer.getvalue().replace(signed, signed[:-2] + b"\x01\x00")
    assert images.decode(unsigned).tolist() == [[0, 127, 255, 128]]
