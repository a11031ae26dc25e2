"""A video's noise carried along its motion (dirac.temporal), and the sampling's given noise."""
import numpy as np
import pytest
import torch

from base_codecs import DiracError
from dirac.temporal import MotionNoise, frame_noise


def pan(image, count=3, step=4, width=96):
    """Frames whose content moves ``step`` pixels left each frame."""
    return [np.ascontiguousarray(image[:, step * t : step * t + width]) for t in range(count)]


def test_noise_moves_with_the_picture_and_stays_standard_normal(textured_rgb):
    frames = pan(textured_rgb)
    motion = MotionNoise(seed=3)
    noise = [motion.noise_for(f) for f in frames]
    assert all(n.shape == (3, 96, 96) and n.dtype == torch.float32 for n in noise)
    inner = (slice(None), slice(8, 88), slice(8, 80))
    shifted = (slice(None), slice(8, 88), slice(12, 84))
    assert torch.equal(noise[1][inner], noise[0][shifted]) and torch.equal(noise[2][inner], noise[1][shifted])
    assert not torch.equal(noise[1][:, :, -4:], noise[0][:, :, :4])  # what enters at the edge is fresh
    assert abs(float(noise[2].mean())) < 0.05 and abs(float(noise[2].std()) - 1) < 0.05
    again = MotionNoise(seed=3)
    assert all(torch.equal(again.noise_for(f), n) for f, n in zip(frames, noise))  # seeded
    assert not torch.equal(MotionNoise(seed=4).noise_for(frames[0]), noise[0])


def test_a_zoom_never_copies_one_noise_value_to_two_pixels(smooth_rgb):
    from PIL import Image

    frames = [smooth_rgb]
    for scale in (1.1, 1.2):
        h, w = smooth_rgb.shape[:2]
        ch, cw = round(h / scale), round(w / scale)
        crop = smooth_rgb[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw]
        frames.append(np.asarray(Image.fromarray(crop).resize((w, h), Image.BICUBIC)))
    motion = MotionNoise(seed=0)
    noise = [motion.noise_for(f) for f in frames]
    triples = noise[2].reshape(3, -1).T  # a pixel's three values: copied together, never equal by chance
    assert len(torch.unique(triples, dim=0)) == len(triples)  # white: no value is used twice
    assert float(torch.isin(noise[2][0], noise[1][0]).float().mean()) > 0.5  # yet most of it carried over


def test_frame_noise_modes(textured_rgb):
    frames = pan(textured_rgb)
    screen = frame_noise("screen", 0, 1.0, 20)
    still = frame_noise("motion", 0, 0.0, 20)  # realism 0 samples no noise
    assert screen(frames[0]) is None and still(frames[0]) is None
    motion = frame_noise("motion", 0, 1.0, 20)
    assert motion(frames[0]).shape == (3, 96, 96)
    with pytest.raises(DiracError, match="noise must be one of motion, screen, got 'wobble'"):
        frame_noise("wobble", 0, 1.0, 20)
    with pytest.raises(DiracError, match="for tensors use 'screen'"):
        motion(torch.rand(3, 96, 96))


def test_the_sampling_takes_its_first_noise_as_given(tiny_enhancer, textured_rgb):
    image = textured_rgb[:80, :88]  # not a multiple of the stride: the padding's noise is drawn
    noise = torch.randn(3, 80, 88, generator=torch.Generator().manual_seed(0))
    options = dict(realism=1.0, steps=4, seed=7)
    given = tiny_enhancer.enhance(image, 20, noise=noise, **options)
    assert np.array_equal(given, tiny_enhancer.enhance(image, 20, noise=noise.clone(), **options))
    assert not np.array_equal(given, tiny_enhancer.enhance(image, 20, **options))
    assert not np.array_equal(given, tiny_enhancer.enhance(image, 20, noise=-noise, **options))
    plain = tiny_enhancer.enhance(image, 20)
    assert np.array_equal(plain, tiny_enhancer.enhance(image, 20, noise=noise))  # realism 0 draws no noise
    for bad in (torch.randn(3, 80, 80), np.zeros((3, 80, 88)), torch.zeros(3, 80, 88, dtype=torch.int64)):
        with pytest.raises(DiracError, match="noise must be"):
            tiny_enhancer.enhance(image, 20, noise=bad, **options)


def test_enhance_frames_carries_the_noise_or_pins_it(tiny_enhancer, textured_rgb):
    frames = pan(textured_rgb)
    options = dict(realism=1.0, steps=3, seed=2)
    motion = list(tiny_enhancer.enhance_frames(frames, 20, **options))
    screen = list(tiny_enhancer.enhance_frames(frames, 20, noise="screen", **options))
    assert np.array_equal(screen[1], tiny_enhancer.enhance(frames[1], 20, **options))  # the seed's draw, every frame
    motion_noise = MotionNoise(seed=2)
    expected = [tiny_enhancer.enhance(f, 20, noise=motion_noise.noise_for(f), **options) for f in frames]
    assert all(np.array_equal(a, b) for a, b in zip(motion, expected)) and not np.array_equal(motion[1], screen[1])


def test_a_crossfade_keeps_the_noise_in_place(textured_rgb):
    """Content changing where it stands: flow fitted to it explains a little; the noise stays put."""
    a, b = textured_rgb.astype(float), np.ascontiguousarray(textured_rgb[::-1, ::-1]).astype(float)
    frames = [np.rint(a + (b - a) * t / 3).astype(np.uint8) for t in range(4)]
    motion = MotionNoise(seed=0)
    noise = [motion.noise_for(f) for f in frames]
    stayed = [float((n == m).all(0).float().mean()) for m, n in zip(noise, noise[1:])]
    assert min(stayed) > 0.8, stayed
