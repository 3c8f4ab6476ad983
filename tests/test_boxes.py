"""The saliency-mass box of seed 000 §5.2 on maps whose answer is obvious."""

import numpy as np
import pytest

from core.boxes import fit_box, iou, mass_of


def _hot_rectangle(x0, y0, x1, y1, size=(64, 80)):
    saliency = np.zeros(size, np.float32)
    saliency[y0:y1, x0:x1] = 1.0
    return saliency


@pytest.mark.parametrize("rectangle", [(10, 12, 16, 18), (40, 5, 47, 12), (0, 0, 6, 6), (74, 58, 80, 64)])
def test_box_of_single_hot_rectangle_is_that_rectangle(rectangle):
    fit = fit_box(_hot_rectangle(*rectangle), tol=0.9)
    np.testing.assert_allclose(fit.box, rectangle)
    assert fit.boxes.shape == (24, 4) and np.allclose(fit.boxes, rectangle)


def test_centroid_is_the_centre_of_mass_in_pixel_coordinates():
    fit = fit_box(_hot_rectangle(10, 20, 14, 30))
    assert fit.centroid == pytest.approx((12.0, 25.0))


@pytest.mark.parametrize("seed", range(5))
def test_higher_tol_never_gives_a_smaller_box(seed):
    rng = np.random.default_rng(seed)
    saliency = rng.random((60, 60)) ** 6
    saliency[15:45, 10:40] += rng.random((30, 30))
    areas = []
    for tol in np.linspace(0.5, 0.99, 15):
        x0, y0, x1, y1 = fit_box(saliency, tol).box
        areas.append((x1 - x0) * (y1 - y0))
    assert all(later >= earlier - 1e-9 for earlier, later in zip(areas, areas[1:], strict=False))
    assert areas[-1] > 2 * areas[0]


def test_each_side_keeps_tol_of_the_remaining_mass_before_smoothing():
    # A linear ramp along x: moving the left side to p keeps (sum of p..W-1) / total.
    saliency = np.tile(np.arange(1, 101, dtype=np.float64), (10, 1))
    fit = fit_box(saliency, tol=0.9, smoothing=1)
    left_first = fit.boxes[fit.orders.index(("left", "right", "top", "bottom"))]
    columns = np.arange(1, 101)
    kept = np.array([columns[p:].sum() for p in range(100)]) / columns.sum()
    assert left_first[0] == np.flatnonzero(kept >= 0.9)[-1]
    # Rows carry equal mass: dropping one of ten keeps 0.9 (allowed), one of the nine left keeps 0.89 (not).
    assert (left_first[1], left_first[3]) == (1, 10)


def test_box_never_crosses_the_centroid():
    saliency = np.zeros((50, 50))
    saliency[5, 5] = saliency[45, 45] = 1.0  # two far-apart spots: the centroid lies between them
    fit = fit_box(saliency, tol=0.5)
    x, y = fit.centroid
    assert (fit.boxes[:, 0] <= x).all() and (fit.boxes[:, 2] >= x).all()
    assert (fit.boxes[:, 1] <= y).all() and (fit.boxes[:, 3] >= y).all()


def test_empty_and_negative_maps_give_the_whole_image():
    for saliency in (np.zeros((30, 40)), -np.ones((30, 40))):
        assert fit_box(saliency).box == (0.0, 0.0, 40.0, 30.0)


def test_mass_ignores_negative_evidence_and_scales_to_one():
    mass = mass_of(np.array([[-2.0, 0.0], [1.0, 4.0]]))
    np.testing.assert_allclose(mass, [[0, 0], [0.25, 1.0]])


def test_scaled_box_maps_model_coordinates_to_the_image():
    fit = fit_box(_hot_rectangle(10, 12, 16, 18)).scaled(width=160, height=128, map_width=80, map_height=64)
    np.testing.assert_allclose(fit.box, (20, 24, 32, 36))
    assert fit.centroid == pytest.approx((26.0, 30.0))


def test_iou_of_identical_disjoint_and_half_overlapping_boxes():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)


def test_foreground_colour_model_finds_the_salient_objects_colour_elsewhere():
    from core.boxes import foreground_background

    rng = np.random.default_rng(1)
    pixels = np.zeros((40, 40, 3))
    pixels[...] = (40, 120, 40)  # green background
    pixels[5:20, 5:20] = (200, 60, 60)  # a red object, salient
    pixels[25:35, 25:35] = (200, 60, 60)  # the same red elsewhere, not salient
    pixels += rng.normal(0, 4, pixels.shape)
    saliency = np.zeros((40, 40))
    saliency[5:20, 5:20] = 1 + rng.random((15, 15))
    split = foreground_background(saliency, np.clip(pixels, 0, 255))
    assert split.foreground.sum() == pytest.approx(0.05 * 1600, abs=2)  # top 5% of the saliency
    assert split.background.sum() >= 0.30 * 1600
    # Red is mostly foreground (the unsalient red patch also sits in the background sample), green is not.
    assert split.probability[10, 10] > 0.8 and split.probability[30, 30] > 0.8
    assert split.probability[2, 38] < 0.01
