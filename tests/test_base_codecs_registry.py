"""The registry: names, availability on this machine, and sniffing every family from its bytes."""
import io
import shutil

import av
import numpy as np
import pytest
from PIL import Image

import base_codecs
from base_codecs import CodecError, available, get_codec, sniff


def test_every_family_is_registered():
    for name in ("jpeg", "hevc", "vvc", "neural"):
        codec = get_codec(name)
        assert codec.name == name and isinstance(codec, base_codecs.BaseCodec)


def test_each_plugin_carries_its_rate_scale_degradation_and_video_support():
    scales = {name: base_codecs.codec_type(name).rate_scale for name in base_codecs.families()}
    assert {n: (s.low, s.high, s.finer_when_higher) for n, s in scales.items()} == {
        "jpeg": (1, 100, True), "hevc": (0, 51, False), "vvc": (0, 63, False), "neural": (1, 8, True)}
    assert all(s.low <= r <= s.high for s in scales.values() for r in s.defaults)
    assert scales["jpeg"].unit_interval("jpeg", 1) == 0 and scales["vvc"].unit_interval("vvc", 0) == 1
    assert scales["hevc"].unit_interval("hevc", -12) == 1  # above 8 bits: enhanced as the finest rate
    trainable = [n for n in base_codecs.families() if base_codecs.codec_type(n).degradation is not None]
    assert trainable == ["hevc", "jpeg", "neural"]
    rate, subsampling = base_codecs.codec_type("jpeg").degradation.sample(np.random.default_rng(0))
    assert 5 <= rate <= 95 and subsampling in ("4:2:0", "4:4:4")
    neural = base_codecs.codec_type("neural").degradation  # the qualities the shipped codec has, RGB (no subsampling)
    draws = [neural.sample(np.random.default_rng(seed)) for seed in range(40)]
    assert {rate for rate, _ in draws} == {1, 3, 5} and {sub for _, sub in draws} == {None} and neural.grid() == [1, 3, 5]
    assert [n for n in base_codecs.families() if base_codecs.codec_type(n).video] == ["hevc", "vvc"]
    with pytest.raises(CodecError, match="jpeg codes still pictures, not video"):
        get_codec("jpeg").iter_frames(b"")


def test_the_encoder_and_the_enhancer_share_one_range():
    with pytest.raises(CodecError, match="JPEG quality must be an integer in 1..100, got 101"):
        get_codec("jpeg").encode(np.zeros((8, 8), np.uint8), quality=101)
    with pytest.raises(CodecError, match="rate 101 is outside jpeg's range 1..100"):
        base_codecs.codec_type("jpeg").rate_scale.check("jpeg", 101)


def test_an_error_names_the_argument_that_fixes_it_for_the_api_and_for_a_command_line():
    error = base_codecs.DiracError("the file does not say its rate", option="rate")
    assert str(error) == "the file does not say its rate (pass rate=)"
    assert error.worded({"rate": "--rate"}) == "the file does not say its rate (use --rate)"
    assert error.worded({}) == "the file does not say its rate"  # an interface without that option
    assert str(base_codecs.DiracError("plain")) == "plain"


def test_unknown_codec_names_the_known_ones():
    with pytest.raises(CodecError, match="unknown codec 'webp'; known codecs: hevc, jpeg, neural, vvc"):
        get_codec("webp")


def test_available_reports_this_machine():
    report = available()
    assert set(report) == {"jpeg", "hevc", "vvc", "neural"}
    assert all(set(caps) == {"encode", "decode"} and all(isinstance(v, bool) for v in caps.values()) for caps in report.values())
    assert report["jpeg"] == {"encode": True, "decode": True}
    assert report["hevc"] == {"encode": "libx265" in av.codecs_available, "decode": True}
    assert report["vvc"]["decode"] == ("vvc" in av.codecs_available)


def test_available_neural_is_the_shipped_codec_offline(monkeypatch, tmp_path):
    """Nothing is downloaded: the shipped codec serves "neural" offline; a zoo model is usable only
    once its weights are in the cache."""
    import torch.hub

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert available()["neural"] == {"encode": True, "decode": True}
    assert not get_codec("neural", model="bmshj2018-factorized").can_encode()


def test_available_vvc_encode_follows_path(monkeypatch, tmp_path):
    monkeypatch.delenv("DIRAC_VVC_ENCODER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("vvencapp") is None and available()["vvc"]["encode"] is False


@pytest.fixture(scope="module")
def samples():
    """Real bytes of every family, made here (VVC from a literal parameter-set header)."""
    image = np.random.default_rng(7).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    result = {"jpeg": get_codec("jpeg").encode(image, quality=80)}
    if "libx265" in av.codecs_available:
        result["hevc"] = get_codec("hevc").encode(image, qp=30)
        buf = io.BytesIO()
        with av.open(buf, "w", format="mp4") as out:
            stream = out.add_stream("libx265", rate=1)
            stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
            stream.codec_context.options = {"x265-params": "bframes=0:log-level=error"}  # B-frames can leave DTS unset
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = 0
            for packet in list(stream.encode(frame)) + list(stream.encode(None)):
                out.mux(packet)
        result["hevc-mp4"] = buf.getvalue()
    # VVC: start code, then a VVC SPS NAL header (layer 0, type 15, TemporalId+1 = 1), as vvenc writes.
    result["vvc"] = b"\x00\x00\x00\x01\x00\x79\x00\x0d\x82\x20\x80\x00"
    result["neural"] = b"DNC1\x04test" + bytes(30)
    return result


@pytest.mark.parametrize("kind", ["jpeg", "hevc", "hevc-mp4", "vvc", "neural"])
def test_sniff_detects_each_family(samples, kind):
    if kind not in samples:
        pytest.skip("this PyAV build has no libx265")
    data = samples[kind]
    family = kind.split("-")[0]
    assert sniff(data) == family
    for name in ("jpeg", "hevc", "vvc", "neural"):  # exactly one adapter claims the bytes
        assert get_codec(name).sniff(data) == (name == family), name


@pytest.mark.parametrize(
    "header, family",
    [
        (b"\x00\x00\x01\x40\x01", "hevc"),  # VPS
        (b"\x00\x00\x00\x01\x42\x01", "hevc"),  # SPS
        (b"\x00\x00\x01\x46\x01", "hevc"),  # AUD
        (b"\x00\x00\x01\x4e\x01", "hevc"),  # prefix SEI
        (b"\x00\x00\x01\x00\x71", "vvc"),  # VPS
        (b"\x00\x00\x01\x00\x81", "vvc"),  # PPS
        (b"\x00\x00\x01\x00\xa1", "vvc"),  # AUD
        (b"\x00\x00\x01\x00\xb9", "vvc"),  # prefix SEI
        (b"\x00\x00\x01\x00\x00", None),  # TemporalId+1 = 0 is forbidden in both
        (b"\x00\x00\x01\xc0\x01", None),  # forbidden_zero_bit set
        (b"\x00\x00\x01\x26\x01", None),  # HEVC IDR slice: not how a stream starts
        (b"\x00\x01\x40\x01", None),  # one zero byte is not a start code
    ],
)
def test_nal_headers_tell_hevc_from_vvc(header, family):
    data = header + bytes(16)
    if family is None:
        with pytest.raises(CodecError, match="unrecognised"):
            sniff(data)
    else:
        assert sniff(data) == family


@pytest.mark.parametrize("data, message", [(b"", "empty"), (b"\x89PNG\r\n\x1a\n" + bytes(32), "unrecognised"), (bytes(range(256)), "unrecognised")])
def test_sniff_rejects_other_data(data, message):
    with pytest.raises(CodecError, match=message):
        sniff(data)


@pytest.mark.parametrize("name, setting, low, high", [("jpeg", "quality", 1, 100), ("hevc", "qp", 0, 51), ("vvc", "qp", 0, 63)])
def test_rate_settings_are_integers_in_range(name, setting, low, high):
    """Bools, fractions, strings and out-of-range values are refused before any encoder runs."""
    image = np.zeros((16, 16, 3), np.uint8)
    for bad in (True, 1.5, "10", low - 1, high + 1):
        with pytest.raises(CodecError, match=f"{setting} must be an integer in {low}..{high}"):
            get_codec(name).encode(image, **{setting: bad})


@pytest.mark.parametrize("name", ["jpeg", "hevc"])
def test_bad_subsampling_is_refused_for_grey_and_colour(name):
    for image in (np.zeros((16, 16), np.uint8), np.zeros((16, 16, 3), np.uint8)):
        for bad in ("4:1:1x", ["4:2:0"]):
            with pytest.raises(CodecError, match="subsampling must be"):
                get_codec(name).encode(image, subsampling=bad)


def test_codec_names_and_options_are_checked():
    with pytest.raises(CodecError, match=r"unknown codec \[.jpeg.\]"):
        get_codec(["jpeg"])
    with pytest.raises(CodecError, match=r"the jpeg codec takes no option\(s\) quality"):
        get_codec("jpeg", quality=3)


def test_decode_input_takes_an_image_file_with_a_sound_rate_and_codec():
    png = io.BytesIO()
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(png, format="PNG")
    decoded = base_codecs.decode_input(png.getvalue(), "hevc", 30)
    assert decoded.rate == base_codecs.RateInfo("hevc", 30.0) and decoded.image.shape == (8, 8)
    for options, message in [({"rate": "abc"}, "must be a finite number"), ({"rate": float("nan")}, "must be a finite number"),
                             ({"rate": True}, "must be a finite number"), ({"codec": "bogus", "rate": 3}, "unknown codec 'bogus'")]:
        with pytest.raises(CodecError, match=message):
            base_codecs.decode_input(png.getvalue(), **options)
