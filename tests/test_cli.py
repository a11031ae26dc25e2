"""The ``dirac`` command through its entry point: outputs, exit codes, inputs left alone."""
import hashlib
import os
import shlex
import stat
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

import base_codecs
from dirac.cli import main


@pytest.fixture
def jpeg_file(tmp_path, textured_rgb):
    path = tmp_path / "in.jpg"
    path.write_bytes(base_codecs.get_codec("jpeg").encode(textured_rgb, quality=20))
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_enhance_writes_image_of_input_size(tmp_path, jpeg_file, tiny_weights, capsys, umask, mode):
    before = digest(jpeg_file)
    out = tmp_path / "out.png"
    old_umask = os.umask(umask)
    try:
        assert main(["enhance", str(jpeg_file), "-o", str(out), "--weights", str(tiny_weights)]) == 0
        assert os.umask(umask) == umask  # read, never changed
    finally:
        os.umask(old_umask)
    assert Image.open(out).size == (128, 96)
    assert stat.S_IMODE(out.stat().st_mode) == mode  # the permissions of any file the user creates
    assert "jpeg rate 20" in capsys.readouterr().out
    assert digest(jpeg_file) == before
    assert not list(tmp_path.glob(".dirac-*"))  # no temp files left behind


@pytest.mark.parametrize("suffix,fmt", [(".jpg", "JPEG"), (".webp", "WEBP")])
def test_output_format_follows_extension(tmp_path, jpeg_file, tiny_weights, suffix, fmt):
    out = tmp_path / f"out{suffix}"
    assert main(["enhance", str(jpeg_file), "-o", str(out), "--weights", str(tiny_weights)]) == 0
    assert Image.open(out).format == fmt


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.jpg", "-o", "{tmp}/o.png"], "no such file"),
        (["{jpeg}", "-o", "{tmp}/o.bmp"], "unsupported output extension"),
        (["{jpeg}", "-o", "{jpeg}"], "refusing to overwrite"),
        (["{jpeg}", "-o", "{tmp}/nodir/o.png"], "does not exist"),
        (["{jpeg}", "-o", "{tmp}/o.png", "--rate", "0"], "outside jpeg's range"),
        (["{jpeg}", "-o", "{tmp}/o.png", "--codec", "hevc"], "the file is jpeg"),
        (["{tmp}", "-o", "{tmp}/o.png"], "-o must be an existing directory"),
        (["{tmp}/*.nothing", "-o", "{tmp}"], "no files match"),
        (["{jpeg}", "{tmp}/sub/in.jpg", "-o", "{tmp}"], "would both write in"),
        (["{jpeg}", "-o", "{tmp}/o.png", "--realism", "3"], "realism must be in [0, 1]"),
        (["{jpeg}", "-o", "{tmp}/o.png", "--tile", "40"], "tile must be a multiple of 16 above the 32-pixel overlap"),
        (["{jpeg}", "-o", "{tmp}/o.png", "--seed", str(2**64)], "seed must be an integer"),
        (["{jpeg}", "-o", ""], "-o is empty"),
    ],
)
def test_bad_usage_exits_2_with_message(tmp_path, jpeg_file, tiny_weights, capsys, args, message):
    (tmp_path / "second.jpg").write_bytes(jpeg_file.read_bytes())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "in.jpg").write_bytes(jpeg_file.read_bytes())
    args = [a.format(tmp=tmp_path, jpeg=jpeg_file) for a in args]
    before = digest(jpeg_file)
    assert main(["enhance", *args, "--weights", str(tiny_weights)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
    assert digest(jpeg_file) == before


def test_batch_directory_reports_bad_files_and_writes_good_ones(tmp_path, jpeg_file, tiny_weights, capsys):
    (tmp_path / "broken.jpg").write_bytes(jpeg_file.read_bytes()[:200])
    out = tmp_path / "out"
    out.mkdir()
    assert main(["enhance", str(tmp_path), "-o", str(out), "--weights", str(tiny_weights)]) == 2
    assert (out / "in.png").exists() and not (out / "broken.png").exists()
    assert "broken.jpg" in capsys.readouterr().err


def run_dirac(*args, env=None, close_stdout=False):
    """``dirac`` as a separate process (its own stdout and locale), returning (exit code, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "dirac", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    if close_stdout:  # the reader went away, as `| head -0` does
        proc.stdout.close()
        return proc.wait(), proc.stderr.read().decode()
    _, err = proc.communicate()
    return proc.returncode, err.decode()


def test_a_closed_stdout_does_not_stop_the_work(tmp_path, jpeg_file, tiny_weights):
    (tmp_path / "second.jpg").write_bytes(jpeg_file.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    code, err = run_dirac("enhance", tmp_path, "-o", out, "--weights", tiny_weights, close_stdout=True)
    assert (code, err.count("error")) == (0, 0) and sorted(p.name for p in out.iterdir()) == ["in.png", "second.png"]
    for written in out.iterdir():
        written.unlink()
    command = shlex.join([sys.executable, "-m", "dirac", "enhance", str(tmp_path), "-o", str(out), "--weights", str(tiny_weights)])
    started_closed = f"exec {command} >&- 2>&-"
    assert subprocess.run(["sh", "-c", started_closed]).returncode == 0  # no stdout or stderr at all
    assert sorted(p.name for p in out.iterdir()) == ["in.png", "second.png"]


def test_names_the_console_cannot_encode_are_escaped(tmp_path, jpeg_file, tiny_weights):
    named = tmp_path / "caf\u00e9.jpg"
    named.write_bytes(jpeg_file.read_bytes())
    proc = subprocess.run([sys.executable, "-m", "dirac", "info", str(named)], capture_output=True,
                          env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0 and proc.stderr == b"" and b"caf\\xe9.jpg: jpeg" in proc.stdout
    code, err = run_dirac("info", tmp_path / "missing\u00e9.jpg", env={"PYTHONIOENCODING": "ascii"})
    assert code == 2 and err.endswith("missing\\xe9.jpg: no such file\n")


def test_one_file_named_two_ways_is_enhanced_once(tmp_path, jpeg_file, tiny_weights, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["enhance", jpeg_file.name, str(jpeg_file), "-o", str(out), "--weights", str(tiny_weights)]) == 0
    assert [p.name for p in out.iterdir()] == ["in.png"] and capsys.readouterr().out.count(" -> ") == 1
    (tmp_path / "alias.jpg").symlink_to(jpeg_file.name)  # another name: another output
    assert main(["enhance", str(jpeg_file), str(tmp_path / "alias.jpg"), "-o", str(out), "--weights", str(tiny_weights)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["alias.png", "in.png"]


def test_missing_weights_exit_2(tmp_path, jpeg_file, capsys):
    assert main(["enhance", str(jpeg_file), "-o", str(tmp_path / "o.png"), "--weights", str(tmp_path / "none")]) == 2
    assert "no dirac weights" in capsys.readouterr().err


def test_info_prints_family_size_rate_and_the_weights_that_serve_it(jpeg_file, tmp_path, monkeypatch, capsys):
    from dirac.core.weights import default_weights

    assert main(["info", str(jpeg_file)]) == 0
    out = capsys.readouterr().out
    assert "jpeg 128x96 RGB, rate 20" in out and "bpp" in out and out.rstrip().endswith(f"weights {default_weights('jpeg')}")
    monkeypatch.setenv("DIRAC_WEIGHTS", str(tmp_path))
    assert main(["info", str(jpeg_file)]) == 0
    assert f"no jpeg weights at {tmp_path / 'jpeg'} (train them" in capsys.readouterr().out


def test_info_on_garbage_exits_2(tmp_path, capsys):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(np.random.default_rng(0).bytes(100))
    assert main(["info", str(bad)]) == 2
    assert "unrecognised data" in capsys.readouterr().err


def test_usage_errors_are_one_line(jpeg_file, capsys):
    assert main(["enhance", str(jpeg_file), "-o", "x.png", "--steps", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid int value" in err and "dirac enhance --help" in err


def test_status_line_counts_network_calls(tmp_path, jpeg_file, tiny_weights, capsys):
    """realism x steps below one half still costs one call, and the line says so."""
    assert main(["enhance", str(jpeg_file), "-o", str(tmp_path / "o.png"), "--realism", "0.5", "--steps", "1",
                 "--weights", str(tiny_weights)]) == 0
    assert "realism 0.5 (1 of 1 network calls)" in capsys.readouterr().out


def test_steps_beyond_the_schedule_are_refused_once_before_decoding_unless_realism_is_0(tmp_path, jpeg_file, tiny_weights, capsys):
    out = tmp_path / "many"
    out.mkdir()
    grey = tmp_path / "grey.jpg"
    grey.write_bytes(base_codecs.get_codec("jpeg").encode(np.full((32, 48), 90, np.uint8), quality=50))
    argv = ["enhance", str(jpeg_file), str(grey), "-o", str(out), "--steps", "700", "--weights", str(tiny_weights)]
    assert main(argv + ["--realism", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err == "dirac: error: steps must be at most 500 (sampling starts at t=500 at the finest rates), got 700\n"
    assert not list(out.iterdir())
    assert main(argv) == 0  # realism 0: one call at t_start, the step count does not matter
    assert len(list(out.iterdir())) == 2


def test_library_future_warnings_do_not_precede_the_one_line_error(monkeypatch, capsys):
    """compressai's import, for one, warns about torch.jit: users see only dirac's message."""
    import dirac.commands.info

    def noisy(args):
        warnings.warn("`torch.jit.script` is deprecated", FutureWarning)
        raise base_codecs.DiracError("x.dnc: bad")

    monkeypatch.setattr(dirac.commands.info, "run", noisy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["info", "x.dnc"]) == 2
    assert not caught and capsys.readouterr().err == "dirac: error: x.dnc: bad\n"
