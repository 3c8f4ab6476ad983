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


def test_class_sets_say_when_two_models_choose_among_different_classes():
    from core.agreement import ClassSets

    same = ClassSets(("other dog", "dachshund"), ("dachshund", "other dog"))
    assert same.same and same.sentence("a", "b") is None and same.comparable("dachshund", "other dog")
    breeds = tuple(f"breed {i}" for i in range(18)) + ("dachshund",)
    apart = ClassSets(("other dog", "dachshund"), breeds)
    assert not apart.same and apart.shared == ("dachshund",)
    assert apart.comparable("dachshund", "dachshund") and not apart.comparable("other dog", "breed 3")
    assert apart.sentence("demo", "breeds") == (
        "The models choose among different classes: demo among 2 (other dog, dachshund), breeds among 19 "
        "(breed 0, breed 1, breed 2, breed 3 and 15 more); they share 1 (dachshund), so their answers are compared "
        "only where each model could have given the other's."
    )
    disjoint = ClassSets(("cat", "dog"), ("car", "bus"))
    assert "they share none, so their answers cannot agree or disagree" in disjoint.sentence("a", "b")


def test_predictions_of_different_class_sets_are_not_comparable_and_maps_of_different_classes_say_so():
    from core.agreement import ClassSets

    raw = _random_map(6)
    classes = ClassSets(("other dog", "dachshund"), ("beagle", "dachshund"))
    box = (0, 0, 10, 10)
    apart = agreement(raw, raw, box, box, "other dog", "beagle", explained=("other dog", "beagle"), classes=classes)
    alike = agreement(raw, raw, box, box, "dachshund", "dachshund", explained=("dachshund", "dachshund"),
                      classes=classes)  # fmt: skip
    assert apart.same_prediction is None and apart.predictions_word == "not comparable"
    assert alike.same_prediction is True and alike.predictions_word == "agree"
    assert not apart.same_class and alike.same_class
    assert apart.explained_sentence("A", "B") == (
        "The maps explain different classes: A “other dog”, B “beagle”; the scores compare where each model finds "
        "evidence for its own class."
    )
    assert alike.explained_sentence("A", "B") == "Both maps explain “dachshund”."
    means = mean_agreement([apart, alike])
    assert means["same_prediction"] == 1.0 and means["different_classes"] == 1  # only the comparable image counts
    assert mean_agreement([apart])["same_prediction"] is None


def test_top_region_overlap_of_unrelated_maps_is_the_chance_level():
    from core.agreement import chance_top_iou

    assert chance_top_iou(10) == pytest.approx(0.1 / 1.9)
    overlaps = [top_iou(_random_map(s, (60, 60)), _random_map(s + 100, (60, 60)), 10) for s in range(20)]
    assert np.mean(overlaps) == pytest.approx(chance_top_iou(10), abs=0.01)
