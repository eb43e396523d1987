"""bench.stats.p50_difference: what the witnessed fan-out figure reports."""

from __future__ import annotations

import random

import pytest

from bench.stats import DIFFERENCE_BLOCKS, p50_difference


def test_a_constant_cost_shows_as_itself_however_the_machine_drifts() -> None:
    # The machine slows down over the run: both sides alike, b always 3 ms more.
    a = [0.020 + 0.001 * i for i in range(100)]
    b = [x + 0.003 for x in a]
    d = p50_difference(a, b, rng=random.Random(1))
    assert d.difference == pytest.approx(0.003)
    assert d.low == pytest.approx(0.003)
    assert d.high == pytest.approx(0.003)
    assert d.block_differences == pytest.approx([0.003] * DIFFERENCE_BLOCKS)


def test_noise_widens_the_interval_around_the_difference() -> None:
    rng = random.Random(2)
    a = [0.020 + rng.uniform(0, 0.010) for _ in range(200)]
    b = [0.025 + rng.uniform(0, 0.010) for _ in range(200)]
    d = p50_difference(a, b, rng=random.Random(3))
    assert d.low < d.difference < d.high
    assert d.low < 0.005 < d.high  # the true difference is inside


def test_unpaired_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="paired"):
        p50_difference([0.1] * 10, [0.1] * 9, rng=random.Random(0))
    with pytest.raises(ValueError, match="at least"):
        p50_difference([0.1] * 3, [0.1] * 3, rng=random.Random(0))
