"""Outputs never contain NaN, even when the network does: a non-finite residual prediction adds
nothing to the base decode, and weights holding NaN are refused on loading."""
import numpy as np
import pytest
import torch
from PIL import Image

import base_codecs
from dirac import ResidualDenoiser
from dirac.cli import main


def _returning(value: float):
    """A forward pass (bound or not) answering ``value`` everywhere in the shape of z_t, its
    first tensor argument."""
    return lambda *args: torch.full_like(next(a for a in args if isinstance(a, torch.Tensor)), value)


@pytest.fixture
def jpeg_decode(textured_rgb):
    data = base_codecs.get_codec("jpeg").encode(textured_rgb, quality=20)
    return data, base_codecs.get_codec("jpeg").decode(data).image


@pytest.mark.parametrize("realism", [0.0, 0.5, 1.0])
def test_nan_network_leaves_the_base_decode(tiny_enhancer, monkeypatch, jpeg_decode, realism):
    monkeypatch.setattr(tiny_enhancer.pipeline.model, "forward", _returning(float("nan")))
    _, decoded = jpeg_decode
    out = tiny_enhancer.enhance(decoded, 20, realism=realism, steps=4, seed=0)
    np.testing.assert_array_equal(out, decoded)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_tensor_outputs_stay_finite_and_in_range(tiny_enhancer, monkeypatch, jpeg_decode, value):
    monkeypatch.setattr(tiny_enhancer.pipeline.model, "forward", _returning(value))
    batch = torch.tensor(jpeg_decode[1]).permute(2, 0, 1)[None].float() / 255
    out = tiny_enhancer.enhance(batch, 20, realism=0.5, steps=4, seed=0)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_cli_output_with_a_nan_network_is_the_base_decode(tmp_path, tiny_weights, monkeypatch, jpeg_decode):
    monkeypatch.setattr(ResidualDenoiser, "forward", _returning(float("nan")))
    data, decoded = jpeg_decode
    (tmp_path / "in.jpg").write_bytes(data)
    out = tmp_path / "out.png"
    assert main(["enhance", str(tmp_path / "in.jpg"), "-o", str(out), "--weights", str(tiny_weights)]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out)), decoded)
