"""Agreement scores between two maps, on hand-made maps whose answers are known."""

import numpy as np
import pytest

from core.agreement import agreement, mean_agreement, rank_correlation, top_iou, top_region


def _random_map(seed=0, shape=(32, 40)):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_identical_maps_agree_completely():
    raw = _random_map()
    assert rank_correlation(raw, raw.copy()) == pytest.approx(1.0)
    assert top_iou(raw, raw.copy(), 10) == pytest.approx(1.0)


def test_a_map_and_its_negation_have_rank_correlation_minus_one():
    raw = _random_map(1)
    assert rank_correlation(raw, -raw) == pytest.approx(-1.0)


def test_rank_correlation_ignores_monotone_rescaling():
    raw = _random_map(2)
    assert rank_correlation(raw, np.exp(5 * raw)) == pytest.approx(1.0)


def test_disjoint_hot_regions_do_not_overlap():
    a = np.zeros((20, 20), np.float32)
    b = np.zeros((20, 20), np.float32)
    a[:4, :10] = 1.0  # 40 pixels = 10 %
    b[-4:, -10:] = 1.0
    assert top_iou(a, b, 10) == 0.0
    assert top_iou(a, a, 10) == 1.0


def test_half_overlapping_regions_give_one_third():
    a = np.zeros((20, 20), np.float32)
    b = np.zeros((20, 20), np.float32)
    a[:4, :10] = 1.0
    b[:4, 5:15] = 1.0  # shares 20 of 40 pixels: IoU 20 / 60
    assert top_iou(a, b, 10) == pytest.approx(1 / 3)


def test_top_region_takes_exactly_k_percent():
    raw = _random_map(3, (10, 10))
    mask = top_region(raw, 25)
    assert mask.sum() == 25
    assert raw[mask].min() >= raw[~mask].max()


def _blob(size: int) -> np.ndarray:
    """A smooth bump at (0.3, 0.4) of the image sampled at pixel centres of a size×size grid."""
    centres = (np.arange(size) + 0.5) / size
    return np.exp(-((centres[None, :] - 0.3) ** 2 + (centres[:, None] - 0.4) ** 2) / 0.02).astype(np.float32)


def test_maps_of_different_sizes_are_compared_on_one_grid():
    coarse, fine = _blob(10), _blob(40)  # the same map at Grad-CAM's and at the input's resolution
    assert rank_correlation(coarse, fine) > 0.98
    assert top_iou(coarse, fine, 10) > 0.8


def test_constant_map_correlates_with_nothing():
    assert rank_correlation(np.ones((5, 5)), _random_map(4, (5, 5))) == 0.0


def test_agreement_of_a_pair_and_the_mean_over_images():
    raw = _random_map(5)
    same = agreement(raw, raw, (0, 0, 10, 10), (0, 0, 10, 10), "dachshund", "dachshund", 20)
    opposite = agreement(raw, -raw, (0, 0, 10, 10), (10, 10, 20, 20), "dachshund", "other dog", 20)
    assert (same.rank_correlation, same.top_iou, same.box_iou, same.same_prediction) == pytest.approx((1, 1, 1, True))
    assert opposite.rank_correlation == pytest.approx(-1)
    assert opposite.box_iou == 0.0 and not opposite.same_prediction
    means = mean_agreement([same, opposite])
    assert means["rank_correlation"] == pytest.approx(0.0, abs=1e-9)
    assert means["box_iou"] == pytest.approx(0.5)
    assert means["same_prediction"] == pytest.approx(0.5)
    assert means["top_percent"] == 20
