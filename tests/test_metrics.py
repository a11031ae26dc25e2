"""dirac.metrics without network weights: PSNR, luma, MS-SSIM, the FID/256 crops and the FID/KID formulas."""
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from PIL import Image

import dirac.metrics as metrics
from dirac.metrics import MetricError

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"


def fixture_pair():
    """192x192 smooth random RGB (RandomState(0) 24x24 noise, PIL bicubic x8) and its Pillow JPEG at quality 20."""
    ref = np.asarray(Image.open(FIXTURES / "ref.png").convert("RGB"))
    jpeg = np.asarray(Image.open(FIXTURES / "ref_q20.jpg").convert("RGB"))
    return ref, jpeg


def test_exports_are_functions_not_submodules():
    for name in ("psnr", "psnr_y", "ms_ssim", "lpips", "dists", "niqe", "patches_256"):
        assert callable(getattr(metrics, name)), name
    assert set(metrics.__all__) <= set(dir(metrics))


def test_psnr_matches_the_formula_by_hand():
    a = np.zeros((10, 20, 3), np.uint8)
    b = a.copy()
    b[3, 4, 1] = 255  # mse = 255^2 / 600 -> PSNR = 10 log10(600)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(600), abs=1e-12)
    assert metrics.psnr(a[:, :, 0], b[:, :, 1]) == pytest.approx(10 * math.log10(200), abs=1e-12)
    assert metrics.psnr(a, a) == math.inf


def test_psnr_rejects_mismatched_or_non_uint8_inputs():
    a = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(MetricError, match="shape"):
        metrics.psnr(a, a[:4])
    with pytest.raises(MetricError, match="uint8"):
        metrics.psnr(a, a.astype(np.float32))


def test_y_channel_is_matlab_rgb2ycbcr_luma():
    # MATLAB: rgb2ycbcr(uint8([0 0 0; 255 255 255; 255 0 0; 0 255 0; 0 0 255])) -> Y = 16 235 81 145 41
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    assert metrics.y_channel(rgb).tolist() == [[16, 235, 81, 145, 41]]
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(metrics.y_channel(grey), grey)


def test_psnr_y_is_psnr_on_rounded_luma():
    ref, jpeg = fixture_pair()
    expected = metrics.psnr(metrics.y_channel(ref), metrics.y_channel(jpeg))
    assert metrics.psnr_y(ref, jpeg) == expected
    assert metrics.psnr_y(ref, jpeg) == pytest.approx(36.6138794599799, abs=1e-9)
    assert metrics.psnr(ref, jpeg) == pytest.approx(25.505470480278266, abs=1e-9)


def test_ms_ssim_matches_an_independent_implementation():
    # Reference values from piq 0.8.0 (multi_scale_ssim, data_range=255, float64), a separate code base.
    ref, jpeg = fixture_pair()
    assert metrics.ms_ssim(ref, jpeg) == pytest.approx(0.9647071599261624, abs=2e-6)
    y_ref, y_jpeg = metrics.y_channel(ref), metrics.y_channel(jpeg)
    assert metrics.ms_ssim(y_ref, y_jpeg) == pytest.approx(0.9939144331531684, abs=2e-6)
    assert metrics.ms_ssim(ref, ref) == pytest.approx(1.0, abs=1e-6)


def test_ms_ssim_refuses_images_too_small_for_five_scales():
    small = np.zeros((160, 300, 3), np.uint8)
    with pytest.raises(MetricError, match="161"):
        metrics.ms_ssim(small, small)


@pytest.mark.parametrize("h, w, count", [(512, 768, 8), (768, 512, 8), (512, 512, 5), (383, 383, 1), (200, 300, 0)])
def test_patches_256_counts_follow_the_fid256_protocol(h, w, count):
    image = np.zeros((h, w, 3), np.uint8)
    # floor(H/256)*floor(W/256) plus floor((H-128)/256)*floor((W-128)/256)
    assert count == (h // 256) * (w // 256) + ((h - 128) // 256) * ((w - 128) // 256)
    patches = metrics.patches_256(image)
    assert len(patches) == count
    assert all(p.shape == (256, 256, 3) for p in patches)


def test_patches_256_positions():
    image = np.random.RandomState(0).randint(0, 256, (512, 768, 3)).astype(np.uint8)
    patches = metrics.patches_256(image)
    assert np.array_equal(patches[0], image[:256, :256])
    assert np.array_equal(patches[5], image[256:, 512:])
    assert np.array_equal(patches[6], image[128:384, 128:384])
    assert np.array_equal(patches[7], image[128:384, 384:640])


def _frechet_by_sqrtm(x, y):
    """The textbook FID formula (pytorch-fid, clean-fid): matrix square root of the covariance product."""
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return ((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * root)


def test_frechet_distance_matches_sqrtm_formula_with_more_samples_than_dims():
    rng = np.random.RandomState(0)
    x = rng.randn(50, 8)
    y = rng.randn(60, 8) @ rng.randn(8, 8) * 0.5 + 1.0
    assert metrics.frechet_distance(x, y) == pytest.approx(_frechet_by_sqrtm(x, y), rel=1e-10)
    assert metrics.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-10)


def test_frechet_distance_is_exact_with_fewer_samples_than_dims():
    # Embedding 3-d features isometrically into 64 dims leaves FID unchanged; with 5 samples
    # in 64 dims the covariances are singular, where sqrtm is unreliable.
    rng = np.random.RandomState(1)
    x, y = rng.randn(5, 3), rng.randn(6, 3) + 0.3
    embed = np.linalg.qr(rng.randn(64, 3))[0].T  # 3x64, orthonormal rows
    expected = _frechet_by_sqrtm(x, y)
    assert metrics.frechet_distance(x @ embed + 2.0, y @ embed + 2.0) == pytest.approx(expected, rel=1e-10)


def test_kernel_distance_by_hand():
    # k(u, v) = (u.v/2 + 1)^3: Kxx off-diagonal 1, Kyy off-diagonal 3.375, Kxy = [[1, 1], [1, 3.375]]
    # KID = (2*1 + 2*3.375) / (2*1) - 2 * (1 + 1 + 1 + 3.375) / 4 = 4.375 - 3.1875
    x = np.array([[0.0, 0.0], [1.0, 0.0]])
    y = np.array([[0.0, 1.0], [1.0, 1.0]])
    assert metrics.kernel_distance(x, y, subsets=3) == pytest.approx(1.1875, abs=1e-12)


def test_set_metrics_need_two_samples():
    with pytest.raises(MetricError):
        metrics.frechet_distance(np.zeros((1, 4)), np.zeros((3, 4)))
    with pytest.raises(MetricError):
        metrics.kernel_distance(np.zeros((1, 4)), np.zeros((3, 4)))


def test_fidkid_feeds_fid256_crops_to_inception(monkeypatch):
    from dirac.metrics import fid

    seen = []

    def fake_features(images, device, batch_size):  # stands in for Inception: mean colour per crop
        crops = list(images)
        seen.extend(c.shape for c in crops)
        return np.array([c.reshape(-1, 3).mean(0) for c in crops])

    monkeypatch.setattr(fid, "inception_features", fake_features)
    ref, jpeg = fixture_pair()
    image = np.tile(ref, (2, 3, 1))[:384, :512]  # 2x1 grid crops + 1 shifted crop
    meter = metrics.FIDKID()
    meter.update(image, [image])
    meter.update(np.stack([image, image]), [image, image])
    result = meter.compute()
    assert (result["n_real"], result["n_fake"]) == (9, 9)
    assert seen == [(256, 256, 3)] * 18
    assert result["fid"] == pytest.approx(0.0, abs=1e-9)
    whole = metrics.FIDKID(patches=False)
    whole.update([ref, jpeg], [jpeg, ref])
    assert whole.compute()["n_real"] == 2 and seen[-1] == (192, 192, 3)


def test_fid256_needs_crops():
    meter = metrics.FIDKID()
    meter.update(np.zeros((200, 300, 3), np.uint8), [np.zeros((255, 255, 3), np.uint8)])
    with pytest.raises(MetricError, match="256 px"):
        meter.compute()


# Bad inputs are MetricErrors naming the problem; these checks run before any weights are loaded.

@pytest.mark.parametrize("net, side, shape", [("alex", 31, (30, 30)), ("alex", 31, (1, 256)), ("alex", 31, (256, 30)),
                                              ("vgg", 16, (15, 15)), ("vgg", 16, (64, 1))])
def test_lpips_names_the_minimum_side_of_its_net(net, side, shape):
    small = np.zeros(shape + (3,), np.uint8)
    with pytest.raises(MetricError, match=f"net='{net}' needs both sides >= {side} px, got {shape[1]}x{shape[0]}"):
        metrics.lpips(small, small, net=net, device="cpu")


@pytest.mark.parametrize("net", [["alex"], "squeeze", None])
def test_lpips_refuses_unknown_nets(net):
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(MetricError, match=r"net must be one of \['alex', 'vgg'\]"):
        metrics.lpips(image, image, net=net)


def _unusable_devices():
    import torch

    cuda = [] if torch.cuda.is_available() else ["cuda"]
    return ["tpu", "foo", "", "meta", "cuda:99", *cuda]


@pytest.mark.parametrize("device", _unusable_devices())
def test_network_metrics_refuse_unusable_devices(device):
    image = np.zeros((64, 64, 3), np.uint8)
    for call in (lambda: metrics.lpips(image, image, device=device), lambda: metrics.dists(image, image, device=device),
                 lambda: metrics.inception_features([image], device=device), lambda: metrics.FIDKID(device=device)):
        with pytest.raises(MetricError, match=f"device '{device}' is not usable here: ."):
            call()
    with pytest.raises(MetricError, match="device must be a name"):
        metrics.dists(image, image, device=0)


@pytest.mark.parametrize("crop_border", [-5, 2.5, "4", True, None])
def test_niqe_crop_border_is_a_non_negative_integer(crop_border):
    with pytest.raises(MetricError, match=f"crop_border must be an integer >= 0, got {crop_border!r}"):
        metrics.niqe(np.zeros((192, 192, 3), np.uint8), crop_border=crop_border)


def test_niqe_names_the_size_left_after_cropping():
    with pytest.raises(MetricError, match=r"got 72x72 px \(192x192 less crop_border=60 a side\)"):
        metrics.niqe(np.zeros((192, 192, 3), np.uint8), crop_border=np.int64(60))
    with pytest.raises(MetricError, match="got 0x0 px"):
        metrics.niqe(np.zeros((192, 192), np.uint8), crop_border=100)


@pytest.mark.parametrize("size", [0, 1, -1, 1.5, "256", None])
def test_patches_256_size_is_an_integer_of_at_least_2(size):
    with pytest.raises(MetricError, match=f"patch size must be an integer >= 2, got {size!r}"):
        metrics.patches_256(np.zeros((512, 512, 3), np.uint8), size=size)
    assert len(metrics.patches_256(np.zeros((8, 8, 3), np.uint8), size=np.int64(4))) == 4 + 1


@pytest.fixture
def mean_colour_inception(monkeypatch):
    """Inception replaced by the mean of each 299x299 input channel: 3-d features, instantly."""
    from dirac.metrics import fid

    monkeypatch.setattr(fid, "_inception", lambda device: lambda x: x.mean(dim=(2, 3)))


def test_inception_features_takes_one_image_as_one_image(mean_colour_inception):
    ref, jpeg = fixture_pair()
    one = metrics.inception_features(ref, device="cpu")
    assert one.shape == (1, 3)
    assert np.array_equal(one, metrics.inception_features([ref], device="cpu"))
    assert np.array_equal(metrics.inception_features(np.stack([ref, jpeg]), device="cpu")[:1], one)
    assert metrics.inception_features(Image.fromarray(ref), device="cpu").shape == (1, 3)
    assert metrics.inception_features(ref[:, :, 0], device="cpu").shape == (1, 3)
    with pytest.raises(MetricError, match="an image or an iterable of images, got int"):
        metrics.inception_features(5)
    with pytest.raises(MetricError, match="batch_size must be an integer >= 1, got 0"):
        metrics.inception_features([ref], batch_size=0)


def test_fidkid_update_keeps_neither_set_when_one_is_bad(mean_colour_inception):
    ref, jpeg = fixture_pair()
    meter = metrics.FIDKID(patches=False, device="cpu")
    with pytest.raises(MetricError, match="uint8"):
        meter.update([ref, jpeg], [jpeg, ref.astype(np.float32)])
    with pytest.raises(MetricError, match="HxWx3"):
        meter.update([ref, jpeg], [jpeg, ref[:, :, :2]])
    assert meter.real_features == [] and meter.fake_features == []
    meter.update([ref, jpeg], [jpeg, ref])
    result = meter.compute()
    assert (result["n_real"], result["n_fake"]) == (2, 2)
    assert result["fid"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("x, y, message", [
    (np.zeros((5, 4)), np.zeros((6, 3)), "feature sets differ in dimension: 4 vs 3"),
    (np.zeros(5), np.zeros(5), r"features must be NxD arrays \(one row per image\), got shapes \(5,\) and \(5,\)"),
    (np.zeros((5, 0)), np.zeros((5, 0)), "features must be NxD arrays"),
    (np.full((5, 4), np.nan), np.zeros((6, 4)), "features contain NaN or infinity"),
    (np.zeros((5, 4)), np.full((6, 4), np.inf), "features contain NaN or infinity"),
    ([["a", "b"]] * 3, np.zeros((6, 2)), "features must be numeric NxD arrays"),
])
def test_set_metrics_refuse_malformed_features(x, y, message):
    with pytest.raises(MetricError, match=f"FID {message}"):
        metrics.frechet_distance(x, y)
    with pytest.raises(MetricError, match=f"KID {message}"):
        metrics.kernel_distance(x, y)


@pytest.mark.parametrize("options, message", [
    (dict(subsets=0), "KID subsets must be an integer >= 1, got 0"),
    (dict(subsets=-1), "KID subsets must be an integer >= 1, got -1"),
    (dict(subsets=2.0), "KID subsets must be an integer >= 1, got 2.0"),
    (dict(subset_size=1), "KID subset_size must be an integer >= 2, got 1"),
    (dict(seed=-1), "KID seed must be an integer >= 0, got -1"),
])
def test_kid_options_are_checked(options, message):
    x = np.random.RandomState(0).randn(4, 2)
    with pytest.raises(MetricError, match=message):
        metrics.kernel_distance(x, x + 1, **options)
    with pytest.raises(MetricError, match=message):
        metrics.FIDKID(**{f"kid_{k}" if k != "seed" else k: v for k, v in options.items()})
    assert metrics.kernel_distance(x, x + 1, subsets=np.int64(1), subset_size=2) > 0


def test_bd_rate_of_a_curve_shifted_in_rate_is_that_shift_and_needs_overlapping_curves():
    from dirac.metrics import MetricError, bd_rate

    bpp = [0.25, 0.5, 1.0, 2.0]
    quality = [28.0, 31.5, 34.6, 37.2]
    assert bd_rate(bpp, quality, bpp, quality) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(bpp, quality, [0.9 * b for b in bpp], quality) == pytest.approx(-10.0, abs=1e-9)  # 10 % fewer bits
    # better quality at the same bits is a saving; the curves overlap over 29..37.2 dB
    assert bd_rate(bpp, quality, bpp, [q + 1 for q in quality]) < 0
    with pytest.raises(MetricError, match="at least four"):
        bd_rate(bpp[:3], quality[:3], bpp, quality)
    with pytest.raises(MetricError, match="do not overlap"):
        bd_rate(bpp, quality, bpp, [q + 20 for q in quality])
