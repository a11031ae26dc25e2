"""A tiny real training run: loss falls, weights save, checkpoints resume."""
import csv
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from base_codecs import DiracError
from dirac import Enhancer
from dirac.core.pipeline import DiracPipeline
from dirac.training.trainer import Trainer
from dirac.training.config import TrainConfig
from dirac.training.data import load_image

from conftest import TINY_MODEL


def make_images(folder, count=4, size=96):
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(count):
        yy, xx = np.mgrid[0:size, 0:size]
        base = 128 + 80 * np.sin(xx / (4 + i) + yy / 7)[..., None] * rng.uniform(0.5, 1, 3)
        edges = 60 * ((xx // 24 + yy // 24) % 2)[..., None]
        Image.fromarray(np.clip(base + edges, 0, 255).astype(np.uint8)).save(folder / f"im{i}.png")


def read_log(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_tiny_training_lowers_loss_and_resumes(tmp_path):
    make_images(tmp_path / "data")
    out = tmp_path / "weights"
    cfg = TrainConfig(data=[str(tmp_path / "data")], out=str(out), steps=100, batch=8, patch=32, lr=3e-3, warmup=1,
                      val_every=50, regression_fraction=1.0, model=TINY_MODEL, seed=0)
    best = Trainer(cfg).run()
    rows = read_log(out / "train_log.csv")
    # The held-out MSE of the one-call output falls: at init (zero head) the output is the JPEG
    # decode itself, a 0 dB gain; training must push the gain up, validation after validation.
    gains = [float(r["val_psnr_gain_db"]) for r in rows if r["val_psnr_gain_db"]]
    assert len(gains) == 2 and 0 < gains[0] < gains[1] and best == gains[1] > 0.1
    assert (out / "checkpoint" / "state.pt").exists()
    assert Enhancer.from_pretrained(out).codec == "jpeg"

    cfg.steps = 120
    resumed = Trainer(cfg)
    assert resumed.step == 100 and len(resumed.optimizer.state) > 0  # the checkpoint, not a warm start
    resumed.run()
    steps = [int(r["step"]) for r in read_log(out / "train_log.csv")]
    assert steps[-1] == 120 and steps == sorted(steps)  # resumed at 100, not from scratch


def test_vvc_training_from_coded_bitstreams(shared_dir, tmp_path):
    """No VVC encoder here: training reads pre-coded pairs and conditions on the decoded QP."""
    vvc = shared_dir / "datasets" / "vvc" / "train" / "cbsd68"
    entries = [e for e in json.loads((vvc / "manifest.json").read_text()) if e["source"] in ("101085.png", "101087.png")]
    coded = tmp_path / "coded"
    for e in entries:
        (coded / e["bitstream"]).parent.mkdir(parents=True, exist_ok=True)
        (coded / e["bitstream"]).write_bytes((vvc / e["bitstream"]).read_bytes())
    (coded / "manifest.json").write_text(json.dumps(entries))
    out = tmp_path / "weights"
    cfg = TrainConfig(codec="vvc", data=[str(coded)], sources=[str(shared_dir / "datasets" / "train" / "cbsd68")],
                      out=str(out), steps=6, batch=2, patch=64, val_every=6, model=TINY_MODEL)
    Trainer(cfg).run()
    enhancer = Enhancer.from_pretrained(out)
    assert enhancer.codec == "vvc" and len(enhancer.pipeline.model.config.stats_rates) == 4
    out_img = enhancer.enhance_bytes((vvc / entries[0]["bitstream"]).read_bytes())
    assert out_img.shape == (480, 320, 3)


def test_warm_start_from_shipped_weights(tmp_path):
    """No checkpoint: training continues from the saved weights at the log's last step."""
    make_images(tmp_path / "data", count=2)
    out = tmp_path / "weights"
    cfg = TrainConfig(data=[str(tmp_path / "data")], out=str(out), steps=4, batch=2, patch=32, val_every=4, model=TINY_MODEL)
    Trainer(cfg).run()
    saved = Enhancer.from_pretrained(out).pipeline.model.state_dict()
    (out / "checkpoint" / "state.pt").unlink()
    cfg.steps = 6
    scheduler_config = out / "scheduler" / "scheduler_config.json"
    index = json.loads(scheduler_config.read_text())
    scheduler_config.write_text(json.dumps({**index, "detail_sigma": 2.0, "t_start_min": 450}))
    warm = Trainer(cfg)
    assert warm.step == 4 and len(warm.optimizer.state) == 0 and warm.best > -math.inf
    assert all(torch.equal(v, warm.unwrapped.state_dict()[k]) for k, v in saved.items())
    warm.save_weights(warm.ema_pipeline())  # the weights' sampler settings are kept, not reset to the defaults
    kept = Enhancer.from_pretrained(out).pipeline.scheduler.config
    assert (kept.detail_sigma, kept.t_start_min, kept.t_start_max) == (2.0, 450, index["t_start_max"])
    scheduler_config.write_text(json.dumps({**index, "detail_sigma": -3}))
    cfg.steps = 8
    with pytest.raises(DiracError, match="weights at .*: detail_sigma must be 0"):
        Trainer(cfg)


def test_damaged_checkpoint_is_a_one_line_error(tmp_path):
    make_images(tmp_path / "data", count=2)
    out = tmp_path / "weights"
    cfg = TrainConfig(data=[str(tmp_path / "data")], out=str(out), steps=2, batch=2, patch=32, val_every=2, model=TINY_MODEL)
    Trainer(cfg).run()
    ckpt = out / "checkpoint" / "state.pt"
    state = torch.load(ckpt, weights_only=False)
    del state["optimizer"]
    for damaged in (ckpt.read_bytes()[:200], b"not a checkpoint", None):
        if damaged is None:
            torch.save(state, ckpt)
        else:
            ckpt.write_bytes(damaged)
        cfg.steps = 4
        with pytest.raises(DiracError, match="state.pt is damaged .*remove it to warm-start") as caught:
            Trainer(cfg)
        assert "\n" not in str(caught.value)


def test_steps_not_above_trained_steps_is_refused(tmp_path):
    """Asking for fewer steps than already trained is a usage error, said before any training
    data is read (here the data is gone), and the saved config is kept."""
    make_images(tmp_path / "data", count=2)
    out = tmp_path / "weights"
    cfg = TrainConfig(data=[str(tmp_path / "data")], out=str(out), steps=4, batch=2, patch=32, val_every=4, model=TINY_MODEL)
    Trainer(cfg).run()
    saved_config = (out / "train_config.json").read_text()
    shutil.rmtree(tmp_path / "data")
    for resume_from_checkpoint in (True, False):
        if not resume_from_checkpoint:
            (out / "checkpoint" / "state.pt").unlink()
        cfg.steps = 3
        with pytest.raises(DiracError, match="already holds 4 trained steps"):
            Trainer(cfg)
    assert (out / "train_config.json").read_text() == saved_config


@pytest.mark.parametrize("option, value, message", [
    ("--batch", "0", "batch must be at least 1"),
    ("--lr", "-1", "lr must be a positive number"),
    ("--lr", "nan", "lr must be a finite number"),
    ("--min-lr", "1", "min_lr must lie in 0..lr (0.0003), got 1.0 (use --min-lr)"),
    ("--regression-fraction", "2", "regression_fraction must lie in 0..1"),
    ("--steps", "0", "steps must be at least 1"),
    ("--patch", "40", "patch must be a positive multiple of 16"),
    ("--checkpoint-minutes", "0", "checkpoint_minutes must be positive"),
    ("--max-minutes", "-5", "max_minutes must be positive"),
    ("--seed", "-1", "seed must be at least 0"),
    ("--perceptual-weight", "-1", "perceptual_weight must be at least 0, got -1.0 (use --perceptual-weight)"),
])
def test_bad_training_options_are_one_line_errors_before_anything_is_written(tmp_path, capsys, option, value, message):
    from dirac.cli import main

    make_images(tmp_path / "data")
    out = tmp_path / "weights"
    assert main(["train", "--data", str(tmp_path / "data"), "--out", str(out), option, value]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not out.exists()


def test_continued_run_keeps_its_saved_settings_unless_told_otherwise(tmp_path):
    from dirac.training.config import continued_config

    saved = TrainConfig(data=["d"], out=str(tmp_path), steps=500, lr=2e-4, regression_fraction=0.6, seed=7, model=TINY_MODEL)
    (tmp_path / "train_config.json").write_text(json.dumps(vars(saved)))
    kept = continued_config(str(tmp_path), data=["e"], steps=900, lr=None, regression_fraction=None, seed=None)
    assert (kept.steps, kept.lr, kept.regression_fraction, kept.seed, kept.model, kept.data) == (900, 2e-4, 0.6, 7, json.loads(json.dumps(TINY_MODEL)), ["e"])
    assert continued_config(str(tmp_path), lr=1e-4).lr == 1e-4
    fresh = continued_config(str(tmp_path / "new"), lr=None)
    assert (fresh.lr, fresh.regression_fraction, fresh.steps) == (TrainConfig.lr, TrainConfig.regression_fraction, TrainConfig.steps)
    with pytest.raises(DiracError, match="holds jpeg training, not hevc"):
        continued_config(str(tmp_path), codec="hevc")


@pytest.mark.parametrize("saved, kept", [("no", "fp32"), ("bf16", "bf16")])
def test_a_run_saved_with_the_old_mixed_precision_key_keeps_its_precision(tmp_path, saved, kept):
    from dirac.training.config import continued_config

    config = {k: v for k, v in vars(TrainConfig(data=["d"], out=str(tmp_path))).items() if k != "precision"}
    (tmp_path / "train_config.json").write_text(json.dumps({**config, "mixed_precision": saved}))
    assert continued_config(str(tmp_path), data=["d"]).precision == kept
    with pytest.raises(DiracError, match="precision must be auto, fp32 or bf16"):
        TrainConfig(precision="no")


def test_continued_vvc_run_keeps_its_sources_but_not_its_time_limit(tmp_path):
    from dirac.training.config import continued_config

    saved = TrainConfig(codec="vvc", data=["coded"], sources=["originals"], out=str(tmp_path), max_minutes=65.0)
    (tmp_path / "train_config.json").write_text(json.dumps(vars(saved)))
    kept = continued_config(str(tmp_path), data=["coded"], sources=None, max_minutes=None)
    assert (kept.codec, kept.sources, kept.max_minutes) == ("vvc", ["originals"], None)
    assert continued_config(str(tmp_path), data=["coded"], sources=["other"]).sources == ["other"]


@pytest.mark.parametrize("saved", ["null", '"steps"', '{"steps": "10"}', '{"lr": null}', '{"batch": 2.5}', '{"sources": "x"}', "{not json"])
def test_damaged_saved_config_is_a_one_line_error(tmp_path, saved):
    from dirac.training.config import continued_config

    (tmp_path / "train_config.json").write_text(saved)
    with pytest.raises(DiracError, match="train_config.json is unreadable|training: "):
        continued_config(str(tmp_path), data=["d"])


def test_codec_of_a_run_without_saved_config_comes_from_its_weights(tmp_path, tiny_enhancer):
    from dirac.training.config import continued_config

    tiny_enhancer.pipeline.save_pretrained(tmp_path)  # weights (jpeg), no train_config.json
    assert continued_config(str(tmp_path), data=["d"]).codec == "jpeg"
    with pytest.raises(DiracError, match="holds jpeg training, not hevc"):
        continued_config(str(tmp_path), data=["d"], codec="hevc")


def test_a_too_small_image_is_named_wherever_it_falls(tmp_path):
    make_images(tmp_path / "data", count=3)
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "data" / "a_small.png")  # sorts into validation
    with pytest.raises(DiracError, match="1 training images are smaller than the 32px patch \\(e.g. .*a_small.png\\)"):
        Trainer(TrainConfig(data=[str(tmp_path / "data")], out=str(tmp_path / "w"), steps=2, batch=2, patch=32, model=TINY_MODEL))


def test_one_training_image_is_a_clear_error(tmp_path):
    make_images(tmp_path / "data", count=1)
    with pytest.raises(DiracError, match="at least 2 images"):
        Trainer(TrainConfig(data=[str(tmp_path / "data")], out=str(tmp_path / "w"), steps=2, batch=2, patch=32, model=TINY_MODEL))


@pytest.mark.parametrize("model, message", [
    ({"chanels": [8, 16, 32]}, "unknown model option(s) chanels; known: block, channels, "),
    ({"channels": [8]}, "bad model options"),
])
def test_bad_model_options_in_a_saved_config_are_one_line_errors(tmp_path, capsys, model, message):
    from dirac.cli import main

    make_images(tmp_path / "data")
    out = tmp_path / "weights"
    out.mkdir()
    (out / "train_config.json").write_text(json.dumps({"codec": "jpeg", "steps": 2, "batch": 2, "patch": 32, "model": model}))
    assert main(["train", "--data", str(tmp_path / "data"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert sorted(p.name for p in out.iterdir()) == ["train_config.json"]


@pytest.mark.parametrize("out, message", [
    ("", r"the run folder is empty; name one \(pass out=\)"),
    ("a-file", "is a file, not a run folder"),
    ("a-file/run", "is not a writable folder"),
])
def test_an_unusable_run_folder_is_refused_before_any_data_is_read(tmp_path, monkeypatch, out, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(DiracError, match=message):
        Trainer(TrainConfig(data=[str(tmp_path / "no-data")], out=out, steps=2, model=TINY_MODEL))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize("damage, message", [
    (lambda out: (out / "model" / "config.json").write_text("{garbage"), "model holds damaged weights"),
    (lambda out: (out / "model" / "config.json").write_text('"a string"'), "model holds damaged weights"),
    (lambda out: (out / "train_log.csv").write_text("step,loss\nabc,1\n"), "train_log.csv is damaged"),
    (lambda out: (out / "train_log.csv").write_text("loss\n1\n"), "train_log.csv is damaged"),
])
@pytest.mark.filterwarnings("ignore:It is deprecated to pass a pretrained model")  # diffusers, on the string config
def test_a_damaged_run_folder_is_a_one_line_error(tmp_path, tiny_enhancer, damage, message):
    out = tmp_path / "run"
    tiny_enhancer.pipeline.save_pretrained(out)  # weights to warm-start from, no checkpoint
    damage(out)
    with pytest.raises(DiracError, match=message) as caught:
        Trainer(TrainConfig(data=[str(tmp_path / "no-data")], out=str(out), steps=10**6, model=TINY_MODEL))
    assert "\n" not in str(caught.value)


def test_training_data_must_be_folders_and_vvc_needs_its_sources(tmp_path, shared_dir):
    make_images(tmp_path / "data", count=2)
    image = next((tmp_path / "data").iterdir())
    bitstreams = shared_dir / "datasets" / "vvc" / "train" / "cbsd68"  # pre-coded, but no --sources given
    with pytest.raises(DiracError, match="give pre-coded bitstreams as the data and their originals as the sources"):
        Trainer(TrainConfig(codec="vvc", data=[str(bitstreams)], out=str(tmp_path / "w"), steps=2, model=TINY_MODEL))
    with pytest.raises(DiracError, match="is a file, not a directory of images"):
        Trainer(TrainConfig(data=[str(image)], out=str(tmp_path / "w"), steps=2, model=TINY_MODEL))
    with pytest.raises(DiracError, match="give pre-coded bitstreams as the data and their originals as the sources"):
        Trainer(TrainConfig(codec="vvc", data=[str(tmp_path / "data")], out=str(tmp_path / "w"), steps=2, model=TINY_MODEL))


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_an_interrupt_keeps_the_steps_trained_so_far(tmp_path, monkeypatch, stop):
    """Ctrl-C, and SIGTERM (which the CLI unwinds as dirac.cli.Terminated), save a checkpoint first."""
    from dirac.cli import Terminated

    make_images(tmp_path / "data", count=2)
    out = tmp_path / "w"
    trainer = Trainer(TrainConfig(data=[str(tmp_path / "data")], out=str(out), steps=50, batch=2, patch=32, model=TINY_MODEL))
    step = trainer.train_step
    signal = KeyboardInterrupt if stop == "ctrl-c" else Terminated

    def interrupted_at_step_3():
        if trainer.step == 3:
            raise signal
        return step()

    monkeypatch.setattr(trainer, "train_step", interrupted_at_step_3)
    with pytest.raises(signal):
        trainer.run()
    assert torch.load(out / "checkpoint" / "state.pt", weights_only=False)["step"] == 3


def test_weights_are_saved_whole_and_by_the_umask(tmp_path, monkeypatch):
    make_images(tmp_path / "data", count=2)
    out = tmp_path / "w"
    trainer = Trainer(TrainConfig(data=[str(tmp_path / "data")], out=str(out), steps=2, batch=2, patch=32, val_every=2,
                                  model=TINY_MODEL))
    old_umask = os.umask(0o027)
    try:
        trainer.run()
    finally:
        os.umask(old_umask)
    files = [p for p in out.joinpath("model").rglob("*") if p.is_file()]
    assert {p.stat().st_mode & 0o777 for p in files} == {0o640}  # safetensors alone would write 0600
    assert not list(out.glob(".*"))  # no staging left behind
    before = {p: p.read_bytes() for p in files}

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(DiracPipeline, "save_pretrained", disk_full)
    with pytest.raises(DiracError, match="cannot write .*No space left on device"):
        trainer.save_weights(trainer.ema_pipeline())
    assert {p: p.read_bytes() for p in files} == before  # the previous best weights are whole
    monkeypatch.undo()
    rename = Path.rename

    def interrupted_swap(self, target):
        if self.parent.name == ".saving":
            raise KeyboardInterrupt
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", interrupted_swap)
    with pytest.raises(KeyboardInterrupt):
        trainer.save_weights(trainer.ema_pipeline())
    assert {p: p.read_bytes() for p in files} == before  # the part set aside is put back


def test_a_model_grown_from_trained_weights_starts_at_their_quality_and_trains_whole(tmp_path):
    """--init-from: the new model (here with a fine branch) loads the smaller one's tensors, keeps
    its statistics and sampler settings, validates as it did, and every part then trains."""
    make_images(tmp_path / "data", count=2)
    small = tmp_path / "small"
    cfg = TrainConfig(data=[str(tmp_path / "data")], out=str(small), steps=4, batch=2, patch=32, val_every=4, model=TINY_MODEL)
    Trainer(cfg).run()
    scheduler_config = small / "scheduler" / "scheduler_config.json"
    scheduler_config.write_text(json.dumps({**json.loads(scheduler_config.read_text()), "detail_sigma": 2.0}))
    grown_cfg = TrainConfig(data=[str(tmp_path / "data")], out=str(tmp_path / "grown"), steps=3, batch=2, patch=32, val_every=3,
                            lr=1e-3, warmup=1, init_from=str(small), model={"fine_channels": 8})
    trainer = Trainer(grown_cfg)
    before = Enhancer.from_pretrained(small).pipeline
    assert trainer.step == 0 and trainer.unwrapped.config.fine_channels == 8
    assert trainer.unwrapped.config.stats_sigma == before.model.config.stats_sigma
    assert trainer.validate(trainer.ema_pipeline()) == pytest.approx(trainer.validate(before), abs=1e-9)
    start = {k: v.clone() for k, v in trainer.unwrapped.state_dict().items()}
    trainer.run()
    after = trainer.unwrapped.state_dict()
    assert not torch.equal(after["fine_head.0.weight"], start["fine_head.0.weight"])
    assert not torch.equal(after["stem.1.weight"], start["stem.1.weight"])  # the grown-from part trains too
    saved = Enhancer.from_pretrained(tmp_path / "grown").pipeline
    assert saved.model.config.fine_channels == 8 and saved.scheduler.config.detail_sigma == 2.0


def test_weights_of_another_codec_warm_start_a_new_codec_with_its_own_statistics(tmp_path, tiny_weights):
    """JPEG weights start an HEVC model: every tensor loaded, the residual statistics measured on HEVC decodes."""
    make_images(tmp_path / "data", count=2)
    hevc = TrainConfig(codec="hevc", data=[str(tmp_path / "data")], out=str(tmp_path / "a"), steps=2, batch=2, patch=32,
                       init_from=str(tiny_weights))
    trainer = Trainer(hevc)
    jpeg = Enhancer.from_pretrained(tiny_weights).pipeline.model
    assert trainer.unwrapped.config.codec == "hevc" and trainer.unwrapped.config.channels == jpeg.config.channels
    assert all(torch.equal(v, jpeg.state_dict()[k]) for k, v in trainer.unwrapped.state_dict().items())
    assert trainer.unwrapped.config.stats_rates == [float(r) for r in range(22, 48, 5)]  # HEVC's QP grid, not JPEG's


def test_a_neural_codec_enhancer_trains_on_the_decoded_latent_and_needs_it(tmp_path, tiny_weights):
    """Patches coded by the shipped neural codec at its qualities bring their decoded latents; a
    model grown with latent_channels trains its latent join and, saved, needs the latent."""
    import base_codecs

    make_images(tmp_path / "data", count=2, size=128)
    codec = base_codecs.get_codec("neural")
    decoded = codec.decode(codec.encode(load_image(next((tmp_path / "data").iterdir())), quality=3))
    cfg = TrainConfig(codec="neural", data=[str(tmp_path / "data")], out=str(tmp_path / "n"), steps=2, batch=2, patch=64, val_every=2,
                      lr=1e-3, warmup=1, init_from=str(tiny_weights), model={"latent_channels": decoded.latent.shape[0]})
    trainer = Trainer(cfg)
    assert trainer.unwrapped.config.stats_rates == [1.0, 3.0, 5.0]  # the qualities the codec ships
    trainer.run()
    assert trainer.unwrapped.state_dict()["latent_join.2.weight"].abs().max() > 0
    enhancer = Enhancer.from_pretrained(tmp_path / "n")
    assert enhancer.enhance(decoded).shape == decoded.image.shape
    with pytest.raises(DiracError, match="conditioned on the codec's decoded latent"):
        enhancer.enhance(decoded.image, rate=3)


def test_growing_into_another_shape_is_a_one_line_error(tmp_path, tiny_weights):
    make_images(tmp_path / "data", count=2)
    other = TrainConfig(data=[str(tmp_path / "data")], out=str(tmp_path / "b"), steps=2, batch=2, patch=32,
                        init_from=str(tiny_weights), model={"channels": [8, 16, 24]})
    with pytest.raises(DiracError, match="bad model options .*cannot grow"):
        Trainer(other)


@pytest.mark.parametrize("precision, rho", [("bf16", 0.5), ("fp32", 0.0), ("auto", 0.0)])
def test_precision_and_perceptual_weight(tmp_path, precision, rho):
    """bf16 autocast and fp32 both train, auto as the CPU runs best; rho > 0 logs the LPIPS term of the diffusion examples."""
    from dirac.core.sampler import fast_bf16

    make_images(tmp_path / "data", count=2)
    cfg = TrainConfig(data=[str(tmp_path / "data")], out=str(tmp_path / "w"), steps=20, batch=4, patch=32, val_every=20,
                      regression_fraction=0.5, perceptual_weight=rho, precision=precision, model=TINY_MODEL)
    trainer = Trainer(cfg)
    assert trainer.precision == {"auto": "bf16" if fast_bf16("cpu") else "fp32"}.get(precision, precision)
    with trainer.autocast():
        assert torch.is_autocast_enabled("cpu") == (trainer.precision == "bf16")
    trainer.run()
    row = read_log(tmp_path / "w" / "train_log.csv")[0]
    assert math.isfinite(float(row["loss"]))
    if rho:
        assert 0 < float(row["loss_perceptual"]) < 2
    else:
        assert row["loss_perceptual"] in ("", "nan")


def test_the_neural_base_codec_trains_saves_and_codes_as_the_plugin_reads_it(tmp_path, smooth_rgb):
    """`dirac train-codec` writes q<index>.pt and its log; the neural plugin codes with that file."""
    import base_codecs
    from dirac.training.neural_codec import CodecTrainConfig, train_codec

    make_images(tmp_path / "data", count=3, size=128)
    cfg = CodecTrainConfig(data=[str(tmp_path / "data")], out=str(tmp_path / "codec"), qualities=[2], channels=8,
                           latent_channels=12, minutes_per_quality=0.02, batch=2, patch=64)
    (saved,) = train_codec(cfg, progress=False)
    assert saved.name == "q2.pt" and (tmp_path / "codec" / "q2_log.csv").is_file()
    log = list(csv.DictReader(open(tmp_path / "codec" / "q2_log.csv", newline="")))
    assert [row["stored"] for row in log[-2:]] == ["fp32", "fp16"]  # held out before and after rounding to the shipped fp16
    assert float(log[-1]["heldout_bpp"]) > 0 and float(log[-1]["heldout_psnr"]) > 0
    state = torch.load(saved, weights_only=True)["state_dict"]
    assert state["g_a.0.weight"].dtype == torch.float16 and state["entropy_bottleneck._quantized_cdf"].dtype == torch.int32
    codec = base_codecs.get_codec("neural", checkpoint=saved)
    decoded = codec.decode(codec.encode(smooth_rgb))
    assert decoded.image.shape == smooth_rgb.shape and decoded.rate.value == 2
    assert decoded.latent.shape == (12, *(-(-n // 64) * 4 for n in smooth_rgb.shape[:2]))  # padded to 64 px, one position per 16
    with pytest.raises(DiracError, match="qualities must be among"):
        CodecTrainConfig(data=["d"], out="o", qualities=[9])


@pytest.mark.parametrize("option, value, ok", [("lr", "2e-4", True), ("lr", "0", False), ("precision", "fp32", True), ("precision", "fp8", False)])
def test_train_codec_takes_its_learning_rate_and_precision(tmp_path, monkeypatch, capsys, option, value, ok):
    from dirac.cli import main

    seen = []
    monkeypatch.setattr("dirac.training.neural_codec.train_codec", lambda cfg: seen.append(cfg))
    try:
        code = main(["train-codec", "--data", str(tmp_path), "--out", str(tmp_path / "codec"), f"--{option}", value])
    except SystemExit as exc:  # argparse refuses a choice it does not know
        code = exc.code
    expected = float(value) if option == "lr" else value
    assert (code == 0) == ok and [getattr(c, option) for c in seen] == ([expected] if ok else [])
