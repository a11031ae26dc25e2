"""Video in, video out: `dirac enhance clip -o out.mkv|.mp4` keeps the frames, their timing and
the audio; damaged clips leave nothing. Short clips are made in the test with PyAV."""
import av
import numpy as np
import pytest

from base_codecs import DiracError, get_codec
from base_codecs.video import frame_to_array
from conftest import encode_video, make_tiny_enhancer
from dirac.cli import main
from dirac.video import enhance_video, output_codec

FRAMES = 5


@pytest.fixture(scope="module")
def hevc_enhancer():
    return make_tiny_enhancer("hevc", stats_rates=(22.0, 37.0, 47.0))


@pytest.fixture(scope="module")
def hevc_weights(hevc_enhancer, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "hevc"
    hevc_enhancer.pipeline.save_pretrained(path)
    return path


def moving(smooth_rgb, count=FRAMES):
    """A pan: each frame the picture moves 3 pixels right."""
    return [np.ascontiguousarray(np.roll(smooth_rgb[:48, :64], 3 * i, axis=1)) for i in range(count)]


def clip_file(path, frames, audio_codec: str, audio_frames) -> None:
    """A container at ``path``: HEVC video at 24 fps and one mono track of ``audio_codec``."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx265", rate=24)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.options = {"x265-params": "qp=30:log-level=error"}
        audio = out.add_stream(audio_codec, rate=8000)
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        for samples in audio_frames:
            out.mux(audio.encode(samples))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))


def audio_frames(count: int, size: int, fmt: str, dtype):
    """``count`` mono frames of a tone at 8 kHz, as ``fmt`` samples."""
    for index in range(count):
        tone = (np.sin(np.arange(size)[None] / 9) * (1 if dtype == np.float32 else 8000)).astype(dtype)
        samples = av.AudioFrame.from_ndarray(tone, format=fmt, layout="mono")
        samples.sample_rate, samples.pts = 8000, index * size
        yield samples


@pytest.fixture
def clip_with_audio(tmp_path, smooth_rgb):
    """An MP4: HEVC video at 24 fps and a mono AAC track."""
    path = tmp_path / "clip.mp4"
    clip_file(path, moving(smooth_rgb), "aac", audio_frames(6, 1024, "fltp", np.float32))
    return path


def timing(path):
    """(frame times in seconds, audio packet count, audio start minus video start)."""
    with av.open(str(path)) as container:
        times = [float(frame.time) for frame in container.decode(video=0)]
    with av.open(str(path)) as container:
        audio = [p for p in container.demux(audio=0) if p.pts is not None] if container.streams.audio else []
    offset = float(audio[0].pts * audio[0].time_base) - times[0] if audio else None
    return times, len(audio), offset


@pytest.mark.parametrize("suffix, codec", [(".mkv", "ffv1"), (".mp4", "h264")])
def test_a_clip_becomes_a_video_with_its_frames_timing_and_audio(clip_with_audio, hevc_weights, tmp_path, capsys, suffix, codec):
    out = tmp_path / f"enhanced{suffix}"
    assert main(["enhance", str(clip_with_audio), "-o", str(out), "--weights", str(hevc_weights)]) == 0
    assert f"{FRAMES} frames of hevc" in capsys.readouterr().out
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == codec
        assert container.streams.video[0].average_rate == 24
        assert [s.codec_context.name for s in container.streams.audio] == ["aac"]
    times, packets, offset = timing(out)
    source_times, source_packets, source_offset = timing(clip_with_audio)
    assert np.allclose(np.diff(times), np.diff(source_times), atol=1e-3) and len(times) == FRAMES  # Matroska: 1 ms ticks
    assert packets == source_packets and offset == pytest.approx(source_offset, abs=1e-3)  # in sync as before


def test_ffv1_keeps_every_enhanced_frame_exactly(clip_with_audio, hevc_enhancer, tmp_path):
    out = tmp_path / "lossless.mkv"
    report = enhance_video(lambda family: hevc_enhancer, clip_with_audio, out, rate=30)
    assert (report.frames, report.codec, report.copied_streams) == (FRAMES, "ffv1", 1)
    with av.open(str(clip_with_audio)) as source, av.open(str(out)) as written:
        expected = [hevc_enhancer.enhance(frame_to_array(f), 30, seed=0) for f in source.decode(video=0)]
        got = [f.to_ndarray(format="rgb24") for f in written.decode(video=0)]
    assert all(np.array_equal(a, b) for a, b in zip(got, expected)) and len(got) == FRAMES


@pytest.mark.parametrize("kind", ["raw", "container"])
def test_each_frame_is_enhanced_at_its_own_slice_qp(tmp_path, smooth_rgb, hevc_enhancer, clip_with_audio, kind):
    """x265 at QP 30 codes I pictures at 27 and B pictures coarser than P: without a rate given,
    each frame is enhanced at its own; with one, every frame at it."""
    source = tmp_path / "clip.265"
    if kind == "raw":
        source.write_bytes(encode_video(moving(smooth_rgb, 4), "hevc", bframes=2, qp="qp=30:b-adapt=0"))
    else:
        source = clip_with_audio
    decoded = list(get_codec("hevc").iter_decoded(source))
    qps = [d.rate.value for d in decoded]
    out = tmp_path / "out.mkv"
    report = enhance_video(lambda family: hevc_enhancer, source, out)
    assert report.rates == (27, max(qps)) and max(qps) > (30 if kind == "raw" else 29)
    with av.open(str(out)) as written:
        got = [frame_to_array(f) for f in written.decode(video=0)]
    assert len(got) == len(decoded) and all(np.array_equal(g, hevc_enhancer.enhance(d, seed=0)) for g, d in zip(got, decoded))
    assert enhance_video(lambda family: hevc_enhancer, source, out, rate=30).rates == (30, 30)


@pytest.mark.parametrize("noise", ["motion", "screen"])
def test_the_noise_follows_the_motion_or_the_screen(clip_with_audio, hevc_enhancer, hevc_weights, tmp_path, noise):
    out = tmp_path / "out.mkv"
    args = ["enhance", str(clip_with_audio), "-o", str(out), "--weights", str(hevc_weights), "--rate", "30", "--realism", "1",
            "--steps", "2", "--seed", "3"]
    assert main(args + (["--noise", noise] if noise == "screen" else [])) == 0
    decoded = list(get_codec("hevc").iter_frames(clip_with_audio))
    expected = list(hevc_enhancer.enhance_frames(decoded, 30, realism=1, steps=2, seed=3, noise=noise))
    with av.open(str(out)) as written:
        got = [frame_to_array(f) for f in written.decode(video=0)]
    assert len(got) == len(expected) == FRAMES and all(np.array_equal(g, e) for g, e in zip(got, expected))
    pinned = hevc_enhancer.enhance(decoded[-1], 30, realism=1, steps=2, seed=3)  # the seed's own draw
    assert np.array_equal(expected[-1], pinned) == (noise == "screen")


def test_a_raw_hevc_stream_is_timed_at_25_fps(tmp_path, smooth_rgb, hevc_weights):
    raw = tmp_path / "clip.265"
    raw.write_bytes(encode_video(moving(smooth_rgb, 3), "hevc", bframes=2))
    out = tmp_path / "out.mp4"
    assert main(["enhance", str(raw), "-o", str(out), "--weights", str(hevc_weights), "--video-codec", "libx265", "--crf", "30"]) == 0
    times, _, _ = timing(out)
    assert np.allclose(np.diff(times), 1 / 25) and len(times) == 3


@pytest.mark.parametrize("damage", ["truncated-raw", "garbage-mkv"])
def test_a_damaged_clip_is_named_and_leaves_no_output(tmp_path, smooth_rgb, hevc_weights, capsys, damage):
    data = encode_video(moving(smooth_rgb, 3), "hevc" if damage == "truncated-raw" else "matroska")
    source = tmp_path / ("cut.265" if damage == "truncated-raw" else "cut.mkv")
    source.write_bytes(data[:-200] if damage == "truncated-raw" else data[:300] + bytes(range(256)) * 8)
    out = tmp_path / "out.mkv"
    assert main(["enhance", str(source), "-o", str(out), "--weights", str(hevc_weights)]) == 2
    err = capsys.readouterr().err  # after the progress bar's frames so far, one line
    assert err.endswith("\n") and err.split("\n")[-2].startswith(f"dirac: error: {source}") and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]  # no output, no temp file


def test_h264_needs_the_family_whose_weights_enhance_it(tmp_path, smooth_rgb, hevc_weights, capsys):
    source = tmp_path / "clip.mkv"
    source.write_bytes(encode_video(moving(smooth_rgb, 2), "matroska", "libx264"))
    out = tmp_path / "out.mkv"
    assert main(["enhance", str(source), "-o", str(out), "--weights", str(hevc_weights)]) == 2
    err = capsys.readouterr().err
    assert "h264 video has no dirac codec family" in err and err.endswith("(use --codec)\n")
    assert main(["enhance", str(source), "-o", str(out), "--weights", str(hevc_weights), "--codec", "hevc", "--rate", "30"]) == 0
    assert len(timing(out)[0]) == 2


def test_output_codec_choices():
    from pathlib import Path

    assert output_codec(Path("a.mkv"), None, None) == ("ffv1", None)
    assert output_codec(Path("a.mp4"), None, None) == ("libx264", 16)
    assert output_codec(Path("a.mkv"), "libx265", 22) == ("libx265", 22)
    for path, codec, crf, message in [("a.mp4", "ffv1", None, "FFV1 is written in Matroska"),
                                      ("a.mkv", "ffv1", 20, "FFV1 is lossless"),
                                      ("a.mp4", None, 60, "crf must be an integer in 0..51"),
                                      ("a.mp4", "vp9", None, "video codec must be one of"),
                                      ("a.avi", None, None, "a video is written as")]:
        with pytest.raises(DiracError, match=message):
            output_codec(Path(path), codec, crf)


def test_one_clip_per_video_output(clip_with_audio, hevc_weights, tmp_path, capsys):
    assert main(["enhance", str(clip_with_audio), str(clip_with_audio.with_name("other.mp4")), "-o", str(tmp_path / "o.mkv"),
                 "--weights", str(hevc_weights)]) == 2
    clip_with_audio.with_name("other.mp4").write_bytes(clip_with_audio.read_bytes())
    assert main(["enhance", str(clip_with_audio), str(clip_with_audio.with_name("other.mp4")), "-o", str(tmp_path / "o.mkv"),
                 "--weights", str(hevc_weights)]) == 2
    assert "a video output takes one input clip, got 2" in capsys.readouterr().err


def test_accelerate_launch_splits_one_clip_and_joins_it_exactly(clip_with_audio, hevc_enhancer, hevc_weights, tmp_path):
    """Two processes each enhance every other frame; the output equals the one-process output,
    the noise carried along the motion included."""
    import subprocess
    import sys

    out = tmp_path / "joined.mkv"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
           "-m", "dirac", "enhance", str(clip_with_audio), "-o", str(out), "--weights", str(hevc_weights), "--rate", "30",
           "--realism", "1", "--steps", "2"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "joined.mkv"]  # the segments are gone
    single = tmp_path / "single.mkv"
    enhance_video(lambda family: hevc_enhancer, clip_with_audio, single, rate=30, seed=0, realism=1, steps=2)  # noise carried through all
    with av.open(str(out)) as joined, av.open(str(single)) as alone:
        assert [f.to_ndarray(format="rgb24").tobytes() for f in joined.decode(video=0)] == \
            [f.to_ndarray(format="rgb24").tobytes() for f in alone.decode(video=0)]
    assert timing(out) == timing(single)


def test_a_grey_clip_stays_grey_and_exact_in_ffv1(tmp_path, smooth_rgb, hevc_enhancer):
    grey = [np.ascontiguousarray(f[..., 1]) for f in moving(smooth_rgb, 3)]
    source = tmp_path / "grey.265"
    source.write_bytes(grey_clip(grey))
    out = tmp_path / "grey.mkv"
    enhance_video(lambda family: hevc_enhancer, source, out, rate=30)
    expected = [hevc_enhancer.enhance(f, 30, seed=0) for f in get_codec("hevc").iter_frames(source)]
    with av.open(str(out)) as written:
        got = [frame_to_array(f) for f in written.decode(video=0)]
    assert all(g.ndim == 2 and np.array_equal(g, e) for g, e in zip(got, expected)) and len(got) == 3


def grey_clip(frames) -> bytes:
    """A raw monochrome (4:0:0) HEVC stream."""
    import io

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="hevc") as out:
        stream = out.add_stream("libx265", rate=5)
        stream.height, stream.width = frames[0].shape
        stream.pix_fmt = "gray"
        stream.codec_context.options = {"x265-params": "qp=30:log-level=error"}
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="gray")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def test_a_clip_enhanced_as_another_family_needs_a_rate_on_its_scale(tmp_path, smooth_rgb, hevc_enhancer):
    source = tmp_path / "clip.265"
    source.write_bytes(encode_video(moving(smooth_rgb, 2), "hevc"))
    with pytest.raises(DiracError, match=r"hevc video enhanced as vvc needs its rate on vvc's scale \(pass rate=\)"):
        enhance_video(lambda family: hevc_enhancer, source, tmp_path / "out.mkv", codec="vvc")


def test_audio_the_output_container_cannot_hold_is_named(tmp_path, smooth_rgb, hevc_weights, capsys):
    source = tmp_path / "pcm.mkv"
    clip_file(source, moving(smooth_rgb, 2), "pcm_s16le", audio_frames(1, 800, "s16", np.int16))
    out = tmp_path / "out.mp4"
    assert main(["enhance", str(source), "-o", str(out), "--weights", str(hevc_weights)]) == 2
    err = capsys.readouterr().err
    assert "cannot hold the copied audio (pcm_s16le)" in err and "write .mkv" in err and not out.exists()
