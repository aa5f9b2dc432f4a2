"""Accuracy statistics: Wilson intervals and McNemar's exact test on small sets."""

from __future__ import annotations

import numpy as np
import pytest

from deploykit.bench.stats import mcnemar_exact, pack_bits, paired, unpack_bits, wilson_interval


def test_wilson_interval_matches_the_textbook_value():
    low, high = wilson_interval(95, 100)
    assert low == pytest.approx(0.8882, abs=1e-4) and high == pytest.approx(0.9785, abs=1e-4)
    assert wilson_interval(0, 0) != wilson_interval(0, 0)  # nan for an empty set


def test_mcnemar_exact_p_values():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(2, 0) == pytest.approx(0.5)
    assert mcnemar_exact(10, 0) == pytest.approx(2 / 1024)


def test_half_a_point_on_400_images_is_not_a_regression_but_five_points_is():
    ref = np.ones(400, dtype=bool)
    ref[:20] = False  # 95 % top-1
    small = ref.copy()
    small[100:102] = False  # two images: 0.5 points
    assert not paired(ref, small).regressed
    big = ref.copy()
    big[100:120] = False  # twenty images: 5 points
    test = paired(ref, big)
    assert test.regressed and test.p_value < 1e-5 and test.delta == pytest.approx(-0.05)


def test_bits_round_trip():
    mask = np.random.default_rng(0).random(401) > 0.5
    assert np.array_equal(unpack_bits(pack_bits(mask), 401), mask)
