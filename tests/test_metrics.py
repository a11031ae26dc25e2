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
