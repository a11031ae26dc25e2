"""Rate conventions: native values to [0, 1], per-rate statistics, rate-dependent late start."""
import pytest

from dirac import DiracError
from dirac.core.rates import check_rate, interpolate_stat, normalise_rate


@pytest.mark.parametrize(
    "family,coarse,fine",
    [("jpeg", 5, 95), ("hevc", 47, 22), ("vvc", 42, 27), ("neural", 1, 8)],
)
def test_finer_quantisation_maps_higher(family, coarse, fine):
    assert 0 <= normalise_rate(family, coarse) < normalise_rate(family, fine) <= 1


def test_range_ends_and_errors():
    assert normalise_rate("jpeg", 1) == 0 and normalise_rate("jpeg", 100) == 1
    assert normalise_rate("vvc", 63) == 0 and normalise_rate("vvc", 0) == 1
    with pytest.raises(DiracError, match="outside"):
        normalise_rate("hevc", 52)
    with pytest.raises(DiracError, match="unknown codec .png"):
        normalise_rate("png", 3)


@pytest.mark.parametrize("family", ["hevc", "vvc"])
def test_negative_qps_of_deep_video_are_taken_as_the_finest_rate(family):
    """10-bit video codes QPs down to -12 (16-bit: -48); they are valid, and finer than QP 0."""
    assert normalise_rate(family, -12) == normalise_rate(family, -1) == normalise_rate(family, 0) == 1
    with pytest.raises(DiracError, match=f"rate -49 is outside {family}'s range -48"):
        normalise_rate(family, -49)


def test_statistics_interpolate_and_hold_at_the_ends():
    rates, values = [10, 30, 20], [1.0, 3.0, 2.0]  # any order
    assert interpolate_stat(rates, values, 25) == pytest.approx(2.5)
    assert interpolate_stat(rates, values, 5) == 1.0 and interpolate_stat(rates, values, 90) == 3.0


def test_sampling_starts_earlier_at_coarser_rates(tiny_enhancer):
    scheduler = tiny_enhancer.pipeline.scheduler
    assert scheduler.t_start(0.0) == scheduler.config.t_start_max > scheduler.t_start(0.5) > scheduler.t_start(1.0) == scheduler.config.t_start_min


def test_a_bool_is_not_a_rate():
    with pytest.raises(DiracError, match="rate for jpeg must be a number"):
        check_rate("jpeg", True)
