"""The saliency-mass box (docs/methods.md) on maps whose answer is obvious."""

import numpy as np
import pytest

from core.boxes import ORDERS, fit_box, iou, mass_of


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


def _reference_boxes(saliency, tol, smoothing):
    """The box fit of docs/methods.md written plainly, one order and one side at a time, with numpy's
    arithmetic: the kept mass from an integral image, the centred moving average as a difference of running sums."""
    mass = mass_of(saliency)
    height, width = mass.shape
    integral = np.zeros((height + 1, width + 1))
    integral[1:, 1:] = mass.cumsum(0).cumsum(1)
    total = mass.sum()
    cx = int(mass.sum(axis=0) @ (np.arange(width) + 0.5) / total)
    cy = int(mass.sum(axis=1) @ (np.arange(height) + 0.5) / total)
    cx, cy = min(cx, width - 1), min(cy, height - 1)
    columns = {"left": 0, "top": 1, "right": 2, "bottom": 3}
    stops = {"left": cx, "right": cx + 1, "top": cy, "bottom": cy + 1}
    length = max(height, width) + 1  # a curve as long as the longer side; past its reach a side stays put
    boxes = []
    for order in ORDERS:
        box = [0, 0, width, height]
        for side in order:
            column, step = columns[side], 1 if side in ("left", "top") else -1
            reach = abs(stops[side] - box[column])
            kept = []
            for offset in range(length):
                x0, y0, x1, y1 = box[:column] + [box[column] + step * min(offset, reach)] + box[column + 1 :]
                kept.append(integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0])
            kept = np.array(kept)
            fraction = kept / kept[0] if kept[0] > 0 else np.ones_like(kept)
            if smoothing > 1:
                half = smoothing // 2
                padded = np.concatenate([[fraction[0]] * (half + 1), fraction, [fraction[-1]] * half])
                sums = np.cumsum(padded)
                fraction = (sums[2 * half + 1 :] - sums[: -2 * half - 1]) / (2 * half + 1)
            allowed = [offset for offset in range(reach + 1) if fraction[offset] >= tol - 1e-12]
            box[column] += step * (allowed[-1] if allowed else 0)
        boxes.append(box)
    return np.array(boxes, float)


@pytest.mark.parametrize("seed", range(24))
def test_compiled_fit_matches_a_plain_reference_exactly(seed):
    rng = np.random.default_rng(seed)
    height, width = rng.integers(2, 48, size=2)
    saliency = [
        rng.random((height, width)) ** 6,  # sparse positive mass
        rng.normal(size=(height, width)).astype(np.float32),  # signed float32, as the methods return it
        (rng.random((height, width)) < 0.05) * rng.random((height, width)),  # a few hot pixels
    ][seed % 3]
    if seed % 4 == 3:  # non-finite values: NaN and −inf carry no mass, +inf all of it
        saliency = saliency.astype(np.float64)
        saliency[rng.random((height, width)) < 0.05] = np.nan
        saliency[rng.random((height, width)) < 0.02] = -np.inf
    tol = [0.9, 0.5, 0.99, 1.0, float(rng.uniform(0.05, 1))][seed % 5]
    smoothing = [3, 1, 5, 2, 0, 7][seed % 6]
    if mass_of(saliency).sum() == 0:
        saliency[0, 0] = 1.0
    fit = fit_box(saliency, tol, smoothing)
    expected = _reference_boxes(saliency, tol, smoothing)
    np.testing.assert_array_equal(fit.boxes, expected)
    assert fit.box == tuple(expected.mean(axis=0))
    assert fit.orders == ORDERS


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


@pytest.mark.parametrize("shape", [(4, 4, 3), (16,), (0, 5)])
def test_a_map_that_is_not_two_dimensional_is_a_clear_value_error(shape):
    with pytest.raises(ValueError, match="non-empty \\(H, W\\) map"):
        fit_box(np.ones(shape, np.float32))
