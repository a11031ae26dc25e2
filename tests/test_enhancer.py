"""The pipeline and the Enhancer API on a tiny randomly initialised model."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import base_codecs
import dirac
from dirac import DiracError, Enhancer
from dirac.core.weights import default_weights
from dirac.core.rates import normalise_rate


@pytest.fixture(scope="module")
def enhancer(tiny_enhancer):
    return tiny_enhancer


def smooth_image(h, w, channels=3, seed=0):
    """Sines plus seeded noise, any size, grey or RGB."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    planes = [128 + 90 * np.sin(6 * xx * (c + 1) + 4 * yy) + rng.normal(0, 8, (h, w)) for c in range(channels)]
    img = np.clip(np.stack(planes, -1), 0, 255).astype(np.uint8)
    return img[..., 0] if channels == 1 else img


def test_save_load_round_trip_is_bit_exact(enhancer, tmp_path):
    enhancer.pipeline.save_pretrained(tmp_path)
    loaded = Enhancer.from_pretrained(tmp_path)
    assert (tmp_path / "model" / "diffusion_pytorch_model.safetensors").exists()
    assert list(loaded.pipeline.model.config.stats_tau) == list(enhancer.pipeline.model.config.stats_tau)
    settings = lambda e: {k: v for k, v in e.pipeline.scheduler.config.items() if not k.startswith("_")}  # noqa: E731
    assert settings(loaded) == settings(enhancer) and settings(loaded)["t_start_max"] == 700
    img = smooth_image(48, 64)
    for realism in (0.0, 0.5):
        assert np.array_equal(enhancer.enhance(img, 20, realism=realism, seed=3), loaded.enhance(img, 20, realism=realism, seed=3))


def test_output_matches_input_kind_and_shape(enhancer):
    rgb, grey = smooth_image(37, 53), smooth_image(29, 41, channels=1)
    out = enhancer.enhance(rgb, 30)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    assert enhancer.enhance(grey, 30).shape == grey.shape
    pil = enhancer.enhance(Image.fromarray(rgb), 30)
    assert isinstance(pil, Image.Image) and pil.size == (53, 37) and pil.mode == "RGB"
    batch = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(255).repeat(2, 1, 1, 1)
    out_t = enhancer.enhance(batch, [30, 60])
    assert out_t.shape == batch.shape and out_t.dtype == torch.float32
    assert 0 <= out_t.min() and out_t.max() <= 1


def test_output_respects_tau_bound_for_an_adversarial_network(enhancer, monkeypatch):
    import copy

    pipeline = copy.deepcopy(enhancer.pipeline)
    monkeypatch.setattr(pipeline.model, "forward", lambda z, x, t, r, latent=None: torch.where(x > 0, 1e3, -1e3))
    img = smooth_image(32, 48)
    for realism in (0.0, 1.0):
        out = Enhancer(pipeline).enhance(img, 95, realism=realism, steps=4, seed=0).astype(int)
        change = np.abs(out - img)
        assert change.max() <= np.ceil(0.05 * 255) and change.max() >= 12  # tau(95) = 0.05: clipped, not silent


def test_tiled_equals_untiled_when_image_fits_one_tile(enhancer):
    pipeline = enhancer.pipeline
    img = smooth_image(60, 72)  # padded to 64x80 for the network
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    sigma, _ = pipeline.residual_scale(40)
    with torch.inference_mode():  # by hand: one model call on the edge-padded image
        padded = torch.nn.functional.pad(x, (0, 8, 0, 4), mode="replicate")
        t = torch.tensor([pipeline.scheduler.t_start(normalise_rate("jpeg", 40))])
        z_0 = pipeline.model(torch.zeros_like(padded), padded * 2 - 1, t, torch.tensor([normalise_rate("jpeg", 40)]))
    direct = (x + sigma * z_0[:, :, :60, :72]).clamp(0, 1).mul(255).round()[0].permute(1, 2, 0).numpy()
    assert np.array_equal(enhancer.enhance(img, 40, tile=96, overlap=32, precision="fp32"), direct)
    tiled = enhancer.enhance(img, 40, tile=32, overlap=16, precision="fp32")
    assert 0 < np.abs(tiled.astype(int) - direct).mean() < 2.0  # several tiles: blended, close, not exact


def test_seed_reproducible_and_realism_changes_output(enhancer):
    img = smooth_image(32, 32)
    a, b = enhancer.enhance(img, 10, realism=1.0, steps=5, seed=1), enhancer.enhance(img, 10, realism=1.0, steps=5, seed=1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, enhancer.enhance(img, 10, realism=1.0, steps=5, seed=2))
    assert not np.array_equal(a, enhancer.enhance(img, 10, realism=0.0))


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, True])
def test_seed_out_of_range_raises_project_error(enhancer, seed):
    with pytest.raises(DiracError, match="seed must be an integer"):
        enhancer.enhance(smooth_image(16, 16), 10, realism=1.0, steps=2, seed=seed)


@pytest.mark.parametrize("image, rate, message", [
    (smooth_image(16, 16), None, "rate is missing"),
    (smooth_image(16, 16), base_codecs.RateInfo("hevc", 32.0), "the rate is hevc's but these weights enhance jpeg"),
    (smooth_image(16, 16), base_codecs.RateInfo("jpeg", None), "the jpeg data does not say its rate"),
    (smooth_image(16, 16), [None], "rate must be a number"),
    (smooth_image(16, 16), "20", "rate must be a number"),
    (smooth_image(16, 16), True, "rate must be a number"),
    (torch.zeros(0, 3, 16, 16), 20, "empty batch"),
])
def test_bad_api_arguments_raise_project_errors(enhancer, image, rate, message):
    with pytest.raises(DiracError, match=message):
        enhancer.enhance(image, rate)


@pytest.mark.parametrize("image, rate, options, message", [
    (smooth_image(16, 16), [True], {}, "rate must be a number, got True"),
    (smooth_image(16, 16), ["12"], {}, "rate must be a number, got '12'"),
    (smooth_image(16, 16), 20, {"realism": "0.5"}, "realism must be a number"),
    (smooth_image(16, 16), 20, {"realism": None}, "realism must be a number"),
    (smooth_image(16, 16), 20, {"realism": 1.0, "steps": 4.5}, "steps must be an integer"),
    (smooth_image(16, 16), 20, {"eta": "0"}, "eta must be a number"),
    (smooth_image(16, 16), 20, {"tile": 64.0}, "tile must be an integer"),
    (torch.rand(1, 3, 0, 16), 20, {}, "image is empty"),
    (torch.full((3, 16, 16), float("nan")), 20, {}, "NaN or infinite"),
    (smooth_image(16, 16), 20, {"precision": "fp16"}, "precision must be one of auto, fp32, bf16"),
])
def test_arguments_of_the_wrong_type_raise_project_errors(enhancer, image, rate, options, message):
    with pytest.raises(DiracError, match=message):
        enhancer.enhance(image, rate, **options)


def test_numpy_numbers_serve_as_arguments(enhancer):
    img = smooth_image(16, 16)
    expected = enhancer.enhance(img, 20, realism=1.0, steps=3, seed=4, tile=64)
    same = enhancer.enhance(img, np.float32(20), realism=np.float64(1.0), steps=np.int64(3), seed=np.int64(4), tile=np.int32(64))
    assert np.array_equal(same, expected)


def test_the_pipeline_refuses_what_it_cannot_enhance(enhancer):
    for images, options, message in [(torch.zeros(1, 3, 16, 16, dtype=torch.uint8), {}, "expected a float tensor"),
                                     (torch.zeros(1, 3, 16, 16), {"generator": 5}, "generator must be a torch.Generator")]:
        with pytest.raises(DiracError, match=message):
            enhancer.pipeline(images, 20, **options)


def test_bytes_inputs_are_bytes_like_or_a_clear_error(enhancer):
    jpeg = base_codecs.get_codec("jpeg").encode(smooth_image(16, 16), quality=20)
    expected = enhancer.enhance_bytes(jpeg)
    for same in (bytearray(jpeg), memoryview(jpeg)):
        assert np.array_equal(enhancer.enhance_bytes(same), expected)
    for wrong, message in [("photo.jpg", "got str \\(a file name"), (np.frombuffer(jpeg, np.uint8), "got ndarray")]:
        with pytest.raises(DiracError, match=message):
            enhancer.enhance_bytes(wrong)


def test_an_image_file_is_enhanced_as_a_decode_at_the_given_rate(enhancer):
    img = smooth_image(16, 16)
    png = io.BytesIO()
    Image.fromarray(img).save(png, format="PNG")
    assert np.array_equal(enhancer.enhance_bytes(png.getvalue(), rate=30), enhancer.enhance(img, 30))
    with pytest.raises(DiracError, match=r"already decoded picture .* give its rate .*\(pass rate=\)"):
        enhancer.enhance_bytes(png.getvalue())


def test_a_truncated_pil_image_is_a_project_error(enhancer, tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "a.png").write_bytes((tmp_path / "a.png").read_bytes()[:3000])
    with pytest.raises(DiracError, match="PNG cannot be read \\(truncated or corrupt\\)"):
        enhancer.enhance(Image.open(tmp_path / "a.png"), 30)


def test_an_unusable_device_is_a_project_error():
    with pytest.raises(DiracError, match="device 'warp' is not usable here"):
        Enhancer.from_pretrained(device="warp")


def test_eta_changes_only_the_stochastic_path(enhancer):
    img = smooth_image(32, 32)
    assert np.array_equal(enhancer.enhance(img, 10, eta=0.0), enhancer.enhance(img, 10, eta=1.0))
    ddim, ddpm = (enhancer.enhance(img, 10, realism=1.0, steps=5, seed=1, eta=e) for e in (0.0, 1.0))
    assert np.array_equal(ddim, enhancer.enhance(img, 10, realism=1.0, steps=5, seed=1))  # DDIM is the default
    assert not np.array_equal(ddim, ddpm)


def test_detail_sigma_changes_only_the_multi_call_path_and_round_trips(enhancer, tmp_path):
    img = smooth_image(32, 32)
    assert np.array_equal(enhancer.enhance(img, 10, detail_sigma=0.0), enhancer.enhance(img, 10, detail_sigma=3.0))
    default, whole = (enhancer.enhance(img, 10, realism=1.0, steps=5, seed=1, detail_sigma=s) for s in (None, 0.0))
    configured = enhancer.pipeline.scheduler.config.detail_sigma
    assert configured == 1.0 and np.array_equal(default, enhancer.enhance(img, 10, realism=1.0, steps=5, seed=1, detail_sigma=configured))
    assert not np.array_equal(default, whole)
    with pytest.raises(DiracError, match="detail_sigma must be 0 \\(the steps' whole output\\) or in"):
        enhancer.enhance(img, 10, realism=1.0, detail_sigma=-0.5)
    enhancer.pipeline.save_pretrained(tmp_path / "w")
    saved = tmp_path / "w" / "scheduler" / "scheduler_config.json"
    config = json.loads(saved.read_text())
    saved.write_text(json.dumps({**config, "detail_sigma": 0.0}))
    assert np.array_equal(Enhancer.from_pretrained(tmp_path / "w").enhance(img, 10, realism=1.0, steps=5, seed=1), whole)
    del config["detail_sigma"]  # weights saved before the setting existed get the default
    saved.write_text(json.dumps(config))
    assert Enhancer.from_pretrained(tmp_path / "w").pipeline.scheduler.config.detail_sigma == 1.0


def test_enhance_bytes_reads_rate_from_jpeg(enhancer):
    img = smooth_image(32, 48)
    data = base_codecs.get_codec("jpeg").encode(img, quality=25)
    decoded = base_codecs.get_codec("jpeg").decode(data)
    assert np.array_equal(enhancer.enhance_bytes(data), enhancer.enhance(decoded.image, 25))


def test_bad_inputs_raise_project_error(enhancer, tmp_path):
    with pytest.raises(DiracError, match="outside jpeg's range"):
        enhancer.enhance(smooth_image(16, 16), 150)
    with pytest.raises(DiracError, match="realism"):
        enhancer.enhance(smooth_image(16, 16), 50, realism=2)
    with pytest.raises(DiracError):
        enhancer.enhance_bytes(b"not an image")
    with pytest.raises(DiracError, match="model_index.json"):
        Enhancer.from_pretrained(tmp_path / "missing")


def test_default_weights_per_codec_and_how_to_train_missing_ones(enhancer, tmp_path, monkeypatch):
    monkeypatch.setenv("DIRAC_WEIGHTS", str(tmp_path))
    enhancer.pipeline.save_pretrained(tmp_path / "jpeg")
    assert Enhancer.from_pretrained(codec="jpeg").codec == "jpeg"
    with pytest.raises(DiracError, match=r"no hevc weights at .*, where \$DIRAC_WEIGHTS points; unset it for the shipped"):
        Enhancer.from_pretrained(codec="hevc")
    monkeypatch.setattr("dirac.enhancer.SHIPPED_WEIGHTS", tmp_path / "none")  # as if only these shipped
    (tmp_path / "none" / "jpeg").mkdir(parents=True)
    (tmp_path / "none" / "jpeg" / "model_index.json").touch()
    with pytest.raises(DiracError, match="ships weights for jpeg only.*dirac train --codec hevc"):
        Enhancer.from_pretrained(codec="hevc")
    with pytest.raises(DiracError, match="--sources"):
        Enhancer.from_pretrained(codec="vvc")
    monkeypatch.setenv("DIRAC_WEIGHTS", "")  # empty is unset: the package's weights/
    assert default_weights("hevc") == Path(dirac.__file__).resolve().parent / "weights" / "hevc"
    with pytest.raises(DiracError, match="not a known codec"):
        Enhancer.from_pretrained(codec="h264")
    with pytest.raises(DiracError, match="enhance jpeg, not hevc"):
        Enhancer.from_pretrained(tmp_path / "jpeg", codec="hevc")


def test_frames_share_noise_so_static_scene_does_not_flicker(enhancer):
    frame = smooth_image(32, 48)
    video = (frame.copy() for _ in range(3))
    out = list(enhancer.enhance_frames(video, 10, realism=1.0, steps=4, seed=5))
    assert len(out) == 3 and all(np.array_equal(out[0], o) for o in out[1:])
    unshared = [enhancer.enhance(frame, 10, realism=1.0, steps=4, seed=s) for s in (1, 2)]
    assert not np.array_equal(*unshared)  # independent noise would flicker


def test_non_finite_tensor_input_is_refused(enhancer):
    bad = torch.full((3, 16, 16), 0.5)
    bad[0, 3, 3] = float("nan")
    with pytest.raises(DiracError, match="NaN"):
        enhancer.enhance(bad, 30)


def test_weights_with_nan_are_refused_by_the_api(enhancer, tmp_path):
    import copy

    pipeline = copy.deepcopy(enhancer.pipeline)
    next(pipeline.model.parameters()).data.fill_(float("nan"))
    pipeline.save_pretrained(tmp_path)
    with pytest.raises(DiracError, match="NaN or infinite"):
        Enhancer.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"stats_sigma": [0.0, 0.03, 0.01]}, "finite and positive"),
        ({"stats_tau": [0.3]}, "unequal length"),
    ],
)
def test_weights_with_unusable_statistics_are_refused(enhancer, tmp_path, change, message):
    import json

    enhancer.pipeline.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    (tmp_path / "model" / "config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(DiracError, match=message):
        Enhancer.from_pretrained(tmp_path)


def test_rate_may_be_any_scalar_but_not_a_string(enhancer):
    img = smooth_image(16, 32)
    expected = enhancer.enhance(img, 30)
    assert np.array_equal(enhancer.enhance(img, np.int64(30)), expected)
    assert np.array_equal(enhancer.enhance(img, torch.tensor(30.0)), expected)
    with pytest.raises(DiracError, match="must be a number"):
        enhancer.enhance(img, "30")


def test_pil_rgba_and_16bit_follow_the_cli_rule(enhancer):
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)  # fully transparent black: white on a page
    out = enhancer.enhance(Image.fromarray(rgba, "RGBA"), 90)
    assert out.mode == "RGB" and np.asarray(out).min() > 200
    grey16 = Image.fromarray(np.full((16, 16), 40000, dtype=np.uint16))
    assert abs(int(np.asarray(enhancer.enhance(grey16, 90)).mean()) - (40000 >> 8)) <= 3


def test_weights_saved_with_a_ddpm_scheduler_load_as_they_sampled(enhancer, tmp_path):
    """Weights saved before DiracScheduler (a diffusers DDPMScheduler, the sampling settings in the
    pipeline's config) load with those settings and sample exactly as the same weights saved now."""
    from diffusers import DDPMScheduler

    img = smooth_image(32, 32)
    enhancer.pipeline.save_pretrained(tmp_path / "old")
    index_path = tmp_path / "old" / "model_index.json"
    index = json.loads(index_path.read_text())
    index_path.write_text(json.dumps({**index, "scheduler": ["diffusers", "DDPMScheduler"], "t_start_min": 450, "detail_sigma": 2.0}))
    DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="sample", clip_sample=False).save_pretrained(tmp_path / "old" / "scheduler")
    loaded = Enhancer.from_pretrained(tmp_path / "old")
    assert (loaded.pipeline.scheduler.config.t_start_min, loaded.pipeline.scheduler.config.detail_sigma) == (450, 2.0)
    from dirac.core.scheduler import DiracScheduler

    enhancer.pipeline.scheduler = DiracScheduler(t_start_min=450, detail_sigma=2.0)
    try:
        dial = dict(realism=1.0, steps=4, seed=2, precision="fp32")
        assert np.array_equal(loaded.enhance(img, 20, **dial), enhancer.enhance(img, 20, **dial))
    finally:
        enhancer.pipeline.scheduler = DiracScheduler()
    DDPMScheduler(beta_schedule="linear", prediction_type="sample").save_pretrained(tmp_path / "old" / "scheduler")
    with pytest.raises(DiracError, match="linear betas .* not the cosine, clean-sample schedule"):
        Enhancer.from_pretrained(tmp_path / "old")


def test_weights_saved_before_the_modules_moved_still_load(enhancer, tmp_path):
    """model_index.json records the module that saved each part (``dirac.model`` before the
    ``dirac/core`` layout): loading reads the parts by their folders, so old folders load."""
    enhancer.pipeline.save_pretrained(tmp_path / "w")
    index_path = tmp_path / "w" / "model_index.json"
    index = json.loads(index_path.read_text())
    assert index["model"] == ["dirac.core.model", "ResidualDenoiser"]
    index_path.write_text(json.dumps({**index, "model": ["dirac.model", "ResidualDenoiser"], "scheduler": ["dirac.scheduler", "DiracScheduler"]}))
    img = smooth_image(32, 32)
    assert np.array_equal(Enhancer.from_pretrained(tmp_path / "w").enhance(img, 20), enhancer.enhance(img, 20))


def test_ensemble_averages_one_call_per_view_mapped_back(enhancer, monkeypatch):
    """2 views (as is, transposed) make the output transpose-equivariant at any size; 8 make it
    equivariant under every rotation and mirror once the size is a multiple of the stride."""
    calls = []
    forward = type(enhancer.pipeline.model).forward
    monkeypatch.setattr(type(enhancer.pipeline.model), "forward", lambda self, *a: calls.append(a[0].shape[-2:]) or forward(self, *a))
    odd = smooth_image(29, 45)
    plain, two = enhancer.enhance(odd, 20), enhancer.enhance(odd, 20, ensemble=2)
    assert len(calls) == 3 and calls[1] == (32, 48) and calls[2] == (48, 32)
    assert not np.array_equal(plain, two)  # a random network is not equivariant by itself
    assert np.array_equal(enhancer.enhance(np.ascontiguousarray(odd.transpose(1, 0, 2)), 20, ensemble=2), two.transpose(1, 0, 2))
    square = smooth_image(32, 48, channels=1)
    eight = enhancer.enhance(square, 20, ensemble=8)
    for turn in (np.rot90, np.flipud, np.fliplr):  # the same 8 calls, summed in another order
        assert np.abs(enhancer.enhance(np.ascontiguousarray(turn(square)), 20, ensemble=8).astype(int) - turn(eight)).max() <= 1
    tiled = enhancer.enhance(odd, 20, ensemble=4, tile=32, overlap=16, realism=0.5, seed=1)
    assert tiled.shape == odd.shape and tiled.dtype == np.uint8


@pytest.mark.parametrize("views", [0, 3, 16, 2.5, "2"])
def test_ensemble_refuses_other_view_counts(enhancer, views):
    with pytest.raises(DiracError, match="ensemble must be"):
        enhancer.enhance(smooth_image(16, 16), 20, ensemble=views)


def test_bf16_precision_runs_the_network_in_bf16_and_returns_what_fp32_does_within_rounding(enhancer, monkeypatch):
    image = smooth_image(48, 64)
    seen = []
    forward = type(enhancer.pipeline.model).forward
    monkeypatch.setattr(type(enhancer.pipeline.model), "forward",
                        lambda self, *a: seen.append(torch.is_autocast_enabled("cpu")) or forward(self, *a))
    fp32, bf16 = enhancer.enhance(image, 20, precision="fp32"), enhancer.enhance(image, 20, precision="bf16")
    assert seen == [False, True] and bf16.dtype == np.uint8 and bf16.shape == fp32.shape
    assert np.abs(bf16.astype(int) - fp32).max() <= 2


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_the_device_runs_it_natively(enhancer, monkeypatch, native):
    import dirac.core.sampler

    seen = []
    forward = type(enhancer.pipeline.model).forward
    monkeypatch.setattr(type(enhancer.pipeline.model), "forward",
                        lambda self, *a: seen.append(torch.is_autocast_enabled("cpu")) or forward(self, *a))
    monkeypatch.setattr(dirac.core.sampler, "fast_bf16", lambda device: native)
    enhancer.enhance(smooth_image(16, 16), 20)
    assert seen == [native]


def test_fast_bf16_knows_only_cpus_and_gpus():
    from dirac.core.sampler import fast_bf16

    assert isinstance(fast_bf16("cpu"), bool) and fast_bf16("meta") is False


def test_enhance_takes_what_base_codecs_decode_returns(enhancer):
    """A Decoded (or its RateInfo) goes straight in: the three-line example of the README."""
    jpeg = base_codecs.get_codec("jpeg")
    decoded = jpeg.decode(jpeg.encode(smooth_image(32, 48), quality=20))
    expected = enhancer.enhance(decoded.image, 20, precision="fp32")
    for out in (enhancer.enhance(decoded, precision="fp32"), enhancer.enhance(decoded.image, decoded.rate, precision="fp32"),
                enhancer.enhance_decoded(decoded, precision="fp32")):
        assert np.array_equal(out, expected)
    assert not np.array_equal(enhancer.enhance(decoded, 60, precision="fp32"), expected)  # a given rate wins
    with pytest.raises(DiracError, match="enhance_decoded takes a base_codecs.Decoded"):
        enhancer.enhance_decoded(decoded.image)


def test_latent_conditioned_weights_take_the_decoded_latent_and_refuse_pixels_alone():
    """Weights conditioned on a learned codec's latent (Brenig & Timofte) read it from the
    Decoded; the latent changes the output; given pixels alone they say what they need."""
    from conftest import make_tiny_enhancer

    enhancer = make_tiny_enhancer("neural", stats_rates=(1.0, 3.0, 5.0), latent_channels=6)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    latent = rng.integers(-4, 5, (6, 4, 4)).astype(np.float32)  # as the codec gives it: its picture padded to 64 px
    decoded = base_codecs.Decoded(image, base_codecs.RateInfo("neural", 3, 0.5), latent)
    out = enhancer.enhance(decoded)
    assert out.shape == image.shape and not np.array_equal(out, image)
    other = enhancer.enhance(base_codecs.Decoded(image, decoded.rate, latent[:, ::-1].copy()))
    assert not np.array_equal(out, other)
    assert enhancer.enhance(decoded, tile=32, overlap=16).shape == out.shape  # each tile gets its own part (the model checks its shape)
    with pytest.raises(DiracError, match="conditioned on the codec's decoded latent .6 channels.: give the bitstream"):
        enhancer.enhance(image, rate=3)
    with pytest.raises(DiracError, match="ensemble works on pixels alone"):
        enhancer.enhance(decoded, ensemble=2)
    with pytest.raises(DiracError, match="a 2x2 latent does not cover a 40x56 picture"):
        enhancer.enhance(base_codecs.Decoded(image, decoded.rate, latent[:, :2, :2]))
