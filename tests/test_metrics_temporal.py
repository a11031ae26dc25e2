"""Video flicker: zero for a faithful copy, grows with frame-independent noise. Warping error:
texture that moves with the picture scores low, texture pinned to the screen high."""
import numpy as np
import pytest

from dirac.metrics import MetricError, flicker, warping_error


def frames(count=4, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 200, (24, 32, 3))
    return [(base + 10 * t).astype(np.uint8) for t in range(count)]


def test_faithful_or_static_offsets_do_not_flicker():
    video = frames()
    assert flicker(video, video) == 0.0 and flicker(np.stack(video), video) == 0.0
    shifted = [np.clip(f.astype(int) + 5, 0, 255).astype(np.uint8) for f in video]  # same texture every frame
    assert flicker(video, shifted) == 0.0


def test_independent_noise_per_frame_flickers():
    video = frames()
    rng = np.random.default_rng(1)
    noisy = [np.clip(f + rng.normal(0, 4, f.shape), 0, 255).astype(np.uint8) for f in video]
    shared = rng.normal(0, 4, video[0].shape)
    steady = [np.clip(f + shared, 0, 255).astype(np.uint8) for f in video]
    assert flicker(video, noisy) > 3 > flicker(video, steady)


def test_mismatched_sequences_raise():
    with pytest.raises(MetricError):
        flicker(frames(3), frames(2))


def _narrowed_last(video):
    return video[:-1] + [video[-1][:, :30]]


@pytest.mark.parametrize("original, enhanced", [
    (_narrowed_last(frames(3)), _narrowed_last(frames(3))),  # frames of a clip differ in size
    (frames(3), [f.astype(np.float32) for f in frames(3)]),
    (frames(3), [f.tolist() for f in frames(3)]),
    (frames(3), [None] * 3),
    (None, frames(3)),
    (frames(3), np.uint8(3)),
    (frames(3), [f[..., 0] for f in frames(3)]),  # grey against colour
], ids=["sizes", "float", "lists", "none-frames", "none", "scalar", "grey-vs-colour"])
def test_frames_must_be_uint8_images_of_one_shape(original, enhanced):
    with pytest.raises(MetricError):
        flicker(original, enhanced)


def test_texture_pinned_to_the_screen_has_a_high_warping_error_and_moving_texture_a_low_one(smooth_rgb):
    """A pan (4 px a frame); texture added to it either moves with the picture or stays put."""
    wide = np.concatenate([smooth_rgb, smooth_rgb[:, ::-1]], axis=1)
    texture = np.random.default_rng(0).normal(0, 12, wide.shape)
    pan = lambda image: [np.ascontiguousarray(image[:, 4 * t : 4 * t + 128]) for t in range(4)]  # noqa: E731
    clip = lambda image: [np.clip(f, 0, 255).astype(np.uint8) for f in pan(image)]  # noqa: E731
    original = clip(wide.astype(float))
    moving = clip(wide + texture)
    pinned = [np.clip(f.astype(float) + texture[:, :128], 0, 255).astype(np.uint8) for f in original]
    floor = warping_error(original, original)
    assert floor < 1.5 and warping_error(original, moving) < floor + 1.5 < 5 < warping_error(original, pinned)
    with pytest.raises(MetricError):
        warping_error(frames(3), frames(2))
