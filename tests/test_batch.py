"""``dirac batch``: many files and video frames, in one process or split by accelerate."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import base_codecs
from dirac.cli import main

from conftest import encode_video, make_tiny_enhancer


@pytest.fixture
def jpeg_dir(tmp_path, textured_rgb):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        data = base_codecs.get_codec("jpeg").encode(np.roll(textured_rgb, 7 * i, axis=1), quality=20 + 10 * i)
        (folder / f"im{i}.jpg").write_bytes(data)
    return folder


def test_batch_one_process_writes_every_file(tmp_path, jpeg_dir, tiny_weights, capsys):
    out = tmp_path / "out"
    out.mkdir()
    assert main(["batch", str(jpeg_dir), "-o", str(out), "--weights", str(tiny_weights)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["im0.png", "im1.png", "im2.png"]
    assert "wrote 3 images, 0 failures" in capsys.readouterr().out


def test_batch_enhances_every_video_frame_at_its_own_qp_with_shared_noise(tmp_path, smooth_rgb):
    enhancer = make_tiny_enhancer("hevc", stats_rates=(22.0, 37.0, 47.0))
    weights = tmp_path / "hevc_weights"
    enhancer.pipeline.save_pretrained(weights)
    video = tmp_path / "clip.mp4"
    video.write_bytes(encode_video([np.roll(smooth_rgb, 5 * i, axis=1) for i in range(3)], "mp4", qp="qp=30"))
    out = tmp_path / "out"
    out.mkdir()
    args = ["batch", str(video), "-o", str(out), "--weights", str(weights), "--realism", "1", "--steps", "3", "--seed", "4"]
    decoded = list(base_codecs.hevc.iter_decoded(video))
    assert [d.rate.value for d in decoded] == [27, 30, 30]  # x265: the I picture about 3 QP finer
    for noise in ("motion", "screen"):  # the noise carried along the motion (default), or the one seed's every frame
        assert main(args + (["--noise", noise] if noise == "screen" else [])) == 0
        expected = enhancer.enhance_frames(decoded, realism=1, steps=3, seed=4, noise=noise)  # each frame at its own QP
        assert all(np.array_equal(np.asarray(Image.open(out / f"clip_{i:06d}.png")), e) for i, e in enumerate(expected))
        assert len(list(out.iterdir())) == 3
        for frame in out.iterdir():
            frame.unlink()


@pytest.mark.parametrize("name, container", [("clip.265", "hevc"), ("clip.mov", "mp4"), ("clip.bin", "hevc")])
def test_still_named_like_a_video_frame_is_refused_before_any_work(tmp_path, jpeg_dir, tiny_weights, smooth_rgb, capsys,
                                                                  name, container):
    """A video is told by its content, whatever its name."""
    (tmp_path / name).write_bytes(encode_video([smooth_rgb] * 2, container))
    still = tmp_path / "clip_000001.jpg"
    still.write_bytes((jpeg_dir / "im0.jpg").read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    assert main(["batch", str(tmp_path / name), str(still), "-o", str(out), "--weights", str(tiny_weights)]) == 2
    err = capsys.readouterr().err
    assert f"{still} and the frames of {tmp_path / name} would both write clip_000001.png" in err
    assert not any(out.iterdir())


def test_a_video_that_fails_part_way_takes_back_its_frames(tmp_path, smooth_rgb, capsys):
    weights = tmp_path / "hevc_weights"
    make_tiny_enhancer("hevc", stats_rates=(22.0, 37.0, 47.0)).pipeline.save_pretrained(weights)
    data = encode_video([np.roll(smooth_rgb, 5 * i, axis=1) for i in range(3)], "hevc")
    (tmp_path / "cut.265").write_bytes(data[:-300])  # the first pictures whole, the last cut short
    out = tmp_path / "out"
    out.mkdir()
    assert main(["batch", str(tmp_path / "cut.265"), "-o", str(out), "--weights", str(weights)]) == 2
    captured = capsys.readouterr()
    assert "truncated" in captured.err and "wrote 0 images, 1 failures" in captured.out
    assert not any(out.iterdir())


@pytest.mark.parametrize("option, value, message", [("--realism", "5", "realism must be in [0, 1]"),
                                                    ("--steps", "0", "steps must be at least 1"),
                                                    ("--eta", "2", "eta must be in [0, 1]"),
                                                    ("--detail-sigma", "nan", "detail_sigma must be 0 (the steps' whole output) or in [0.5, 64]"),
                                                    ("--tile", "100", "tile must be a multiple of 16"),
                                                    ("--ensemble", "3", "ensemble must be one of 1, 2, 4, 8 views")])
def test_batch_bad_dial_is_one_usage_error_before_any_file(tmp_path, jpeg_dir, tiny_weights, capsys, option, value, message):
    out = tmp_path / "out"
    out.mkdir()
    assert main(["batch", str(jpeg_dir), "-o", str(out), "--weights", str(tiny_weights), option, value]) == 2
    err = capsys.readouterr().err
    assert message in err and "failed" not in err and err.count("error") == 1
    assert not any(out.iterdir())


def test_batch_passes_eta_tile_detail_sigma_and_ensemble(tmp_path, jpeg_dir, tiny_enhancer, tiny_weights):
    out = tmp_path / "out"
    out.mkdir()
    args = ["batch", str(jpeg_dir / "im1.jpg"), "-o", str(out), "--weights", str(tiny_weights), "--realism", "1",
            "--steps", "3", "--seed", "2", "--eta", "1", "--tile", "64", "--detail-sigma", "2", "--ensemble", "2"]
    assert main(args) == 0
    decoded = tiny_enhancer.decode((jpeg_dir / "im1.jpg").read_bytes())
    expected = tiny_enhancer.enhance(decoded.image, decoded.rate.value, realism=1, steps=3, seed=2, eta=1, tile=64, detail_sigma=2,
                                     ensemble=2)
    default = tiny_enhancer.enhance(decoded.image, decoded.rate.value, realism=1, steps=3, seed=2)
    written = np.asarray(Image.open(out / "im1.png"))
    assert np.array_equal(written, expected) and not np.array_equal(written, default)


def test_batch_refuses_clashing_output_names(tmp_path, jpeg_dir, tiny_weights, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "im0.jpg").write_bytes((jpeg_dir / "im0.jpg").read_bytes())
    assert main(["batch", str(jpeg_dir), str(other), "-o", str(tmp_path), "--weights", str(tiny_weights)]) == 2
    assert "rename one" in capsys.readouterr().err


def test_batch_refuses_an_empty_output_and_names_a_missing_input_once(tmp_path, jpeg_dir, tiny_weights, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["batch", str(jpeg_dir), "-o", "", "--weights", str(tiny_weights)]) == 2
    assert "-o is empty" in capsys.readouterr().err and not list(tmp_path.glob("*.png"))
    assert main(["batch", "missing.jpg", "-o", str(tmp_path), "--weights", str(tiny_weights)]) == 2
    err = capsys.readouterr().err
    assert "missing.jpg: no such file" in err and err.count("missing.jpg") == 1, err
    (tmp_path / "taken.png").write_bytes(b"x")
    assert main(["batch", str(jpeg_dir), "-o", "taken.png", "--weights", str(tiny_weights)]) == 2
    assert "taken.png: is a file, not an output directory" in capsys.readouterr().err


def test_accelerate_launch_two_processes_share_the_work(tmp_path, jpeg_dir, tiny_weights):
    out = tmp_path / "out"
    out.mkdir()
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
        "-m", "dirac", "batch", str(jpeg_dir), "-o", str(out), "--weights", str(tiny_weights),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "process 0/2: wrote 2 images" in result.stdout and "process 1/2: wrote 1 images" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["im0.png", "im1.png", "im2.png"]
