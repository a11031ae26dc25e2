"""HEVC adapter: libx265 stills through PyAV, QP read back from the slice header, VUI colour
handling (matrix, range, bit depth), MP4/MKV tracks, video frames, bad input."""
import io

import av
import numpy as np
import pytest

from base_codecs import CodecError, get_codec
from base_codecs.hevc import iter_decoded, iter_frames
from base_codecs.video import fill_frame

from conftest import encode_video as _video

pytestmark = pytest.mark.skipif("libx265" not in av.codecs_available, reason="this PyAV build has no libx265")


@pytest.fixture(scope="module")
def codec():
    return get_codec("hevc")


def _moving_frames(base: np.ndarray, count: int):
    return [np.roll(base, shift=9 * i, axis=1) for i in range(count)]


def test_round_trip_is_faithful_at_low_qp(codec, smooth_rgb, psnr):
    data = codec.encode(smooth_rgb, qp=10)
    assert data.startswith(b"\x00\x00\x00\x01\x40\x01")  # Annex-B, VPS first
    decoded = codec.decode(data)
    assert decoded.image.shape == smooth_rgb.shape and decoded.image.dtype == np.uint8
    assert psnr(decoded.image, smooth_rgb) > 40
    channel_error = decoded.image.reshape(-1, 3).mean(0) - smooth_rgb.reshape(-1, 3).mean(0)
    assert np.all(np.abs(channel_error) < 0.5)


@pytest.mark.parametrize("qp", [0, 17, 37, 51])
def test_qp_is_read_back_and_bpp_is_the_stream_size(codec, smooth_rgb, qp):
    data = codec.encode(smooth_rgb, qp=qp)
    rate = codec.decode(data).rate
    assert rate.family == "hevc" and rate.value == qp
    assert rate.bpp == pytest.approx(len(data) * 8 / (96 * 128))


def test_rate_and_fidelity_fall_with_qp(codec, textured_rgb, psnr):
    sizes, scores = [], []
    for qp in (12, 27, 42):
        data = codec.encode(textured_rgb, qp=qp)
        sizes.append(len(data))
        scores.append(psnr(codec.decode(data).image, textured_rgb))
    assert sizes == sorted(sizes, reverse=True) and scores == sorted(scores, reverse=True)


def test_encoding_is_deterministic(codec, textured_rgb):
    assert codec.encode(textured_rgb, qp=30) == codec.encode(textured_rgb, qp=30)


def test_grey_is_coded_monochrome_and_decodes_grey(codec, smooth_rgb, psnr):
    grey = smooth_rgb[:, :, 0]
    data = codec.encode(grey, qp=10)
    with av.open(io.BytesIO(data), format="hevc") as container:
        assert container.streams.video[0].codec_context.pix_fmt.startswith("gray")
    decoded = codec.decode(data)
    assert decoded.image.shape == grey.shape
    assert psnr(decoded.image, grey) > 45


def test_444_chroma_odd_sizes_and_the_minimum_size(codec, textured_rgb, psnr):
    scores = {s: psnr(codec.decode(codec.encode(textured_rgb, qp=8, subsampling=s)).image, textured_rgb) for s in ("4:2:0", "4:4:4")}
    assert scores["4:4:4"] > scores["4:2:0"] + 1.0
    odd = textured_rgb[:45, :63]
    assert codec.decode(codec.encode(odd, qp=8, subsampling="4:4:4")).image.shape == odd.shape
    with pytest.raises(CodecError, match="even dimensions"):
        codec.encode(odd, qp=8)
    assert codec.decode(codec.encode(textured_rgb[:16, :16], qp=8)).image.shape == (16, 16, 3)
    with pytest.raises(CodecError, match="at least 16x16 pixels"):
        codec.encode(textured_rgb[:8, :64], qp=8)


@pytest.mark.parametrize("qp", [-1, 52, 20.0, None])
def test_bad_qp_raises_codec_error(codec, smooth_rgb, qp):
    with pytest.raises(CodecError, match="qp"):
        codec.encode(smooth_rgb, qp=qp)


# (x265 colormatrix, Kr, Kb, full range, bit depth): streams whose VUI the decoder must follow.
VUI_CASES = [
    ("bt709", 0.2126, 0.0722, False, 8),
    ("smpte170m", 0.299, 0.114, False, 8),
    ("bt2020nc", 0.2627, 0.0593, False, 10),
    ("bt470bg", 0.299, 0.114, True, 10),
]


@pytest.mark.parametrize("matrix, kr, kb, full, bits", VUI_CASES, ids=[f"{c[0]}-{'full' if c[3] else 'limited'}-{c[4]}bit" for c in VUI_CASES])
def test_decoder_follows_the_vui(codec, smooth_rgb, psnr, matrix, kr, kb, full, bits):
    rgb = smooth_rgb.astype(np.float64) / 255.0
    luma = kr * rgb[..., 0] + (1 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2]
    cb, cr = (rgb[..., 2] - luma) / (2 * (1 - kb)), (rgb[..., 0] - luma) / (2 * (1 - kr))
    levels = [luma * 255, cb * 255 + 128, cr * 255 + 128] if full else [luma * 219 + 16, cb * 224 + 128, cr * 224 + 128]
    dtype, pix_fmt = (np.uint16, "yuv444p10le") if bits == 10 else (np.uint8, "yuv444p")
    planes = [np.rint(p * 2 ** (bits - 8)).astype(dtype) for p in levels]
    buf = io.BytesIO()
    with av.open(buf, "w", format="hevc") as out:
        stream = out.add_stream("libx265", rate=1)
        stream.height, stream.width = smooth_rgb.shape[:2]
        stream.pix_fmt = pix_fmt
        vui = f"colormatrix={matrix}:range={'full' if full else 'limited'}:colorprim=bt709:transfer=bt709"
        stream.codec_context.options = {"x265-params": f"qp=4:keyint=1:log-level=error:{vui}"}
        frame = fill_frame(av.VideoFrame(smooth_rgb.shape[1], smooth_rgb.shape[0], pix_fmt), planes)
        for packet in list(stream.encode(frame)) + list(stream.encode(None)):
            out.mux(packet)
    decoded = codec.decode(buf.getvalue())
    assert decoded.rate.value == 1  # x265 codes I slices ~3 below --qp unless ipratio=1: the header says 1
    assert psnr(decoded.image, smooth_rgb) > 40
    channel_error = decoded.image.reshape(-1, 3).mean(0) - smooth_rgb.reshape(-1, 3).mean(0)
    assert np.all(np.abs(channel_error) < 0.5)


@pytest.mark.parametrize("container_format", ["mp4", "matroska"])
def test_hevc_track_in_container(codec, smooth_rgb, psnr, tmp_path, container_format):
    frames = _moving_frames(smooth_rgb, 3)
    data = _video(frames, container_format)
    assert get_codec("hevc").sniff(data)
    decoded = codec.decode(data)
    assert decoded.image.shape == smooth_rgb.shape and psnr(decoded.image, frames[0]) > 35
    assert decoded.rate.value == 12 and 0 < decoded.rate.bpp < len(data) * 8 / (96 * 128)
    path = tmp_path / f"clip.{'mp4' if container_format == 'mp4' else 'mkv'}"
    path.write_bytes(data)
    for source in (data, path, str(path)):
        decoded_frames = list(iter_frames(source))
        assert len(decoded_frames) == 3
        for i, frame in enumerate(decoded_frames):  # each frame is closest to its own source
            assert int(np.argmax([psnr(frame, f) for f in frames])) == i and psnr(frame, frames[i]) > 35


def test_raw_video_frames(smooth_rgb, psnr, tmp_path):
    frames = _moving_frames(smooth_rgb, 4)
    data = _video(frames, "hevc")
    (tmp_path / "clip.265").write_bytes(data)
    for source in (data, tmp_path / "clip.265"):
        decoded = list(iter_frames(source))
        assert [psnr(d, f) > 35 for d, f in zip(decoded, frames)] == [True] * 4


@pytest.mark.parametrize("container_format, bframes", [("hevc", 2), ("matroska", 0)])
def test_every_picture_carries_its_own_slice_qp(smooth_rgb, tmp_path, container_format, bframes):
    """x265 at QP 30 codes I pictures at 27, P at 30 and B coarser: each picture, in display
    order, carries its own QP and its own packet's bits."""
    data = _video(_moving_frames(smooth_rgb, 6), container_format, bframes=bframes, qp="qp=30:b-adapt=0")
    (tmp_path / "clip").write_bytes(data)
    for source in (data, tmp_path / "clip"):
        decoded = list(iter_decoded(source))
        qps = [d.rate.value for d in decoded]
        assert qps[0] == 27 and 30 in qps[1:] and all(q >= 30 for q in qps[1:]) and len(qps) == 6
        assert (max(qps) > 30) == (bframes > 0)  # B pictures: coarser than P
        assert all(d.rate.family == "hevc" for d in decoded) and decoded[0].rate.bpp > 2 * max(d.rate.bpp for d in decoded[1:])
        assert all(np.array_equal(d.image, f) for d, f in zip(decoded, iter_frames(source)))


@pytest.mark.parametrize("cut", [2, 40, 300])  # cutting only the last byte loses no picture data here
def test_cut_short_raw_video_yields_the_whole_pictures_then_raises(smooth_rgb, cut, tmp_path):
    data = _video(_moving_frames(smooth_rgb, 3), "hevc")
    complete = list(iter_frames(data))
    (tmp_path / "cut.265").write_bytes(data[:-cut])
    for source in (data[:-cut], tmp_path / "cut.265"):
        got = []
        with pytest.raises(CodecError, match="truncated"):
            for frame in iter_frames(source):
                got.append(frame)
        assert 1 <= len(got) <= 2 and all(np.array_equal(a, b) for a, b in zip(got, complete))


def test_a_cut_short_picture_shown_before_the_last_is_caught():
    """With B-frames the picture cut short (the last coded) is shown before the end: here the
    fifth of six. FFmpeg conceals it silently; every picture must be checked, not only the last."""
    noise = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    data = _video([np.roll(noise, 3 * i, axis=1) for i in range(6)], "hevc", bframes=3)
    assert len(list(iter_frames(data))) == 6
    got = []
    with pytest.raises(CodecError, match="truncated"):
        for frame in iter_frames(data[:-10]):
            got.append(frame)
    assert len(got) == 4


def test_video_kind_is_told_by_content_not_name(smooth_rgb, tmp_path):
    data = _video(_moving_frames(smooth_rgb, 3), "mp4")
    (tmp_path / "mp4_named.265").write_bytes(data)
    assert len(list(iter_frames(tmp_path / "mp4_named.265"))) == 3
    with pytest.raises(CodecError, match="must be bytes or a path, got int"):
        iter_frames(5)


def test_container_without_hevc_is_rejected(codec, smooth_rgb):
    data = _video(_moving_frames(smooth_rgb, 2), "mp4", codec_name="mpeg4")
    assert not codec.sniff(data)
    with pytest.raises(CodecError, match="mpeg4 video, not HEVC"):
        codec.decode(data)
    with pytest.raises(CodecError, match="mpeg4 video, not HEVC"):
        list(iter_frames(data))


def test_bad_input_raises_codec_error(codec, smooth_rgb, tmp_path):
    data = codec.encode(smooth_rgb, qp=30)
    vvc_like = b"\x00\x00\x00\x01\x00\x79" + bytes(40)
    cases = [
        (b"", "empty"),
        (b"\xff\xd8\xff\xe0" + bytes(60), "not HEVC"),  # a JPEG
        (vvc_like, "not HEVC"),
        (bytes(range(256)) * 8, "not HEVC"),
        (data[:40], "truncated"),  # parameter sets only, no picture
        (data[:6] + bytes(range(256)) * 4, "truncated"),
        (b"\x00\x00\x00\x18ftypisom" + bytes(200), "no readable video track"),  # an MP4 box that is not a file
    ]
    for bad, message in cases:
        with pytest.raises(CodecError, match=message):
            codec.decode(bad)
    with pytest.raises(CodecError, match="clip.265.*no such file"):
        list(iter_frames(tmp_path / "clip.265"))  # missing file, named in the message


def test_cut_short_container_is_a_codec_error(codec, smooth_rgb):
    data = _video(_moving_frames(smooth_rgb, 3), "mp4")
    for cut in (100, len(data) // 3, len(data) // 2, len(data) - 400):  # the last 40 bytes are not picture data
        with pytest.raises(CodecError, match="truncated or corrupt"):
            codec.decode(data[:cut])
        with pytest.raises(CodecError, match="truncated or corrupt"):
            list(iter_frames(data[:cut]))


def test_shipped_weights_enhance_an_hevc_stream(shared_dir, psnr, tmp_path):
    """`dirac enhance x.265` needs no --weights: the shipped HEVC weights serve the sniffed family,
    at the QP read from the stream, and their one-call output is closer to the original than the
    HEVC decode."""
    from PIL import Image

    from dirac.cli import main

    with Image.open(shared_dir / "datasets" / "kodak" / "kodim01.png") as im:
        original = np.asarray(im.convert("RGB"))[128:384, 128:512]
    data = get_codec("hevc").encode(original, qp=37)
    (tmp_path / "kodim01.265").write_bytes(data)
    assert main(["enhance", str(tmp_path / "kodim01.265"), "-o", str(tmp_path / "out.png")]) == 0
    enhanced = np.asarray(Image.open(tmp_path / "out.png"))
    decoded = get_codec("hevc").decode(data).image
    assert psnr(enhanced, original) > psnr(decoded, original) + 0.1  # measured: +0.20 dB
