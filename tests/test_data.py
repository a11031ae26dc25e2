"""Training data: real on-the-fly degradation through base_codecs, and residual statistics."""
import json

import numpy as np
import pytest

import base_codecs
from dirac import DiracError
from dirac.training.data import POOL_SIZE, Pair, PairSampler, PatchSampler, load_coded_pairs, load_image
from dirac.metrics import y_channel

from bad_inputs import png_chunks


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:160, 0:192]
    colour = np.clip(128 + 60 * np.sin(xx / 5.0)[..., None] + rng.normal(0, 20, (160, 192, 3)), 0, 255).astype(np.uint8)
    return [colour, y_channel(colour)]


def test_training_images_load_like_every_other_input(tmp_path):
    """16-bit samples keep their top 8 bits (not clipped to 255); a damaged file names itself."""
    deep = np.array([[0, 40000], [65535, 256]], dtype=">u2")
    (tmp_path / "deep.png").write_bytes(png_chunks(2, 2, 16, 0, b"".join(b"\x00" + row.tobytes() for row in deep)))
    assert load_image(tmp_path / "deep.png").tolist() == [[0, 156], [255, 1]]
    (tmp_path / "broken.png").write_bytes((tmp_path / "deep.png").read_bytes()[:40])
    with pytest.raises(DiracError, match="broken.png: corrupt or truncated"):
        load_image(tmp_path / "broken.png")


@pytest.mark.parametrize("codec", [f for f in base_codecs.families() if base_codecs.codec_type(f).degradation])
def test_batches_are_really_degraded_at_rates_in_range(images, codec):
    sampler = PatchSampler(images, codec, patch=32, seed=0)
    originals, decodes, rates, latents = sampler.batch(6)
    assert originals.shape == decodes.shape == (6, 32, 32, 3) and originals.dtype == np.uint8
    spec = base_codecs.codec_type(codec).degradation
    assert all(spec.low <= r <= spec.high and (r - spec.low) % spec.step == 0 for r in rates)
    assert all(np.abs(o.astype(int) - d).mean() > 0.5 for o, d in zip(originals, decodes))
    if codec == "neural":  # a learned codec's decoded latent comes along, one position per 16x16 pixels
        assert latents.shape[0] == 6 and latents.shape[2:] == (2, 2) and latents.dtype == np.float32 and np.abs(latents).max() > 0
    else:
        assert latents is None


def test_a_slow_encoder_codes_one_crop_per_reuse_patches(images, monkeypatch):
    """x265 codes crops of twice the patch size, one per ``reuse`` patches after the first batch,
    and the batches are cut from a pool of the latest, so patches repeat only as often as that."""
    sampler = PatchSampler(images, "hevc", patch=32, seed=0)
    reuse, coded, code = base_codecs.codec_type("hevc").degradation.reuse, [], sampler.code
    monkeypatch.setattr(sampler, "code", lambda crop, *rate: coded.append(crop.shape[:2]) or code(crop, *rate))
    sampler.batch(16)
    assert len(coded) == 16 and set(coded) == {(64, 64)}
    for _ in range(3):
        originals, decodes, rates, _ = sampler.batch(16)
    assert len(coded) == 16 + 3 * 16 // reuse and len(sampler.pool) == len(coded) <= POOL_SIZE
    assert originals.shape == decodes.shape == (16, 32, 32, 3) and len({o.tobytes() for o in originals}) > 12


def test_residual_stats_grow_as_quality_falls(images):
    stats = PatchSampler(images, "jpeg", patch=32, seed=0).residual_stats(per_rate=8)
    sigma = dict(zip(stats["stats_rates"], stats["stats_sigma"]))
    assert sigma[5.0] > sigma[50.0] > sigma[95.0] > 0
    assert all(t > s for t, s in zip(stats["stats_tau"], stats["stats_sigma"]))


def test_unsupported_codec_and_small_images_raise(images):
    with pytest.raises(DiracError, match="vvc cannot be coded on the fly .*pass sources="):
        PatchSampler(images, "vvc", patch=32)
    with pytest.raises(DiracError, match="smaller than"):
        PatchSampler(images, "jpeg", patch=512)


def test_pair_sampler_cuts_aligned_patches_and_measures_each_rate(images):
    codec = base_codecs.get_codec("jpeg")
    pairs = [Pair(images[0], codec.decode(codec.encode(images[0], quality=q)).image, float(q)) for q in (10, 40)]
    sampler = PairSampler(pairs, patch=32, seed=0)
    originals, decodes, rates, _ = sampler.batch(5)
    assert originals.shape == decodes.shape == (5, 32, 32, 3) and set(rates) <= {10.0, 40.0}
    assert not np.array_equal(originals, decodes)
    stats = sampler.residual_stats()
    assert stats["stats_rates"] == [10.0, 40.0] and stats["stats_sigma"][0] > stats["stats_sigma"][1]
    assert all(o.shape[0] % 16 == 0 for o, *_ in sampler.fixed_crops(64))


@pytest.mark.parametrize("folder, source", [("cbsd68", "101085.png"), ("usc_sipi_misc", "5.1.09.png")])  # colour, grey
def test_coded_pairs_from_vvc_manifest(shared_dir, tmp_path, folder, source):
    vvc = shared_dir / "datasets" / "vvc" / "train" / folder
    entries = [e for e in json.loads((vvc / "manifest.json").read_text()) if e["source"] == source]
    for e in entries:
        (tmp_path / e["bitstream"]).parent.mkdir(exist_ok=True)
        (tmp_path / e["bitstream"]).write_bytes((vvc / e["bitstream"]).read_bytes())
    (tmp_path / "manifest.json").write_text(json.dumps(entries))
    pairs = load_coded_pairs([tmp_path], [shared_dir / "datasets" / "train" / folder], "vvc")
    (name, coded), = pairs.items()
    assert name == source and len(coded) == 4
    for original, decoded, qp, latent in coded:
        assert original.shape == decoded.shape and original.shape[2] == 3 and 18 <= qp <= 42 and latent is None
        assert 25 < 10 * np.log10(255**2 / np.mean((original.astype(float) - decoded) ** 2)) < 45


@pytest.mark.parametrize("manifest, message", [
    ('[{"source": "a.png", "bitstream": "a.jpg", "crop": [0, 0, 192, 160]}]', "a.jpg is jpeg, not vvc; train codec jpeg"),
    ('[{"source": "a.png", "bitstream": "gone.266", "crop": [0, 0, 192, 160]}]', "cannot read gone.266"),
    ('[{"source": "a.png", "bitstream": "a.jpg"}]', "entry 0 is not {source: name, bitstream: path, crop: [x0, y0, w, h]}"),
    ('[{"source": "a.png", "bitstream": "a.jpg", "crop": [0, 0, 192]}]', "entry 0 is not"),
    ('[{"source": "a.png", "bitstream": 5, "crop": [0, 0, 192, 160]}]', "entry 0 is not"),
    ('[{"source": "a.png", "bitstream": "a.jpg", "crop": [0, 0, 0, 160]}]', "a non-empty box"),
    ('{"source": "a.png"}', "entry 0 is not"),
    ('[{"source": "a.png", "bitstream": "bad.266", "crop": [0, 0, 192, 160]}]', "bad.266: "),
    ('[{"source": "a.png", ', "unreadable"),
])
def test_bad_manifests_are_one_line_errors(tmp_path, images, manifest, message):
    from PIL import Image

    (tmp_path / "src").mkdir()
    Image.fromarray(images[0]).save(tmp_path / "src" / "a.png")
    (tmp_path / "coded").mkdir()
    (tmp_path / "coded" / "a.jpg").write_bytes(base_codecs.get_codec("jpeg").encode(images[0], quality=20))
    (tmp_path / "coded" / "bad.266").write_bytes(b"\x00\x00\x01\x00\x79" + bytes(range(256)))  # a VVC start, then garbage
    (tmp_path / "coded" / "manifest.json").write_text(manifest)
    with pytest.raises(DiracError, match="manifest.json: ") as caught:
        load_coded_pairs([tmp_path / "coded"], [tmp_path / "src"], "vvc")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_folder_named_twice_gives_its_images_once(tmp_path, images):
    from PIL import Image

    from dirac.training.data import find_images

    (tmp_path / "d").mkdir()
    for i, image in enumerate(images[:2]):
        Image.fromarray(image).save(tmp_path / "d" / f"{i}.png")
    assert len(find_images([tmp_path / "d", tmp_path / "d" / ".." / "d"])) == 2
