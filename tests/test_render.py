import numpy as np
import pytest

from core.boxes import fit_box
from core.render import PER_IMAGE, PER_MAP, SHARED, colour_limit, colour_limits, colourise, draw_boxes, overlay


def test_a_zero_map_leaves_the_image_untouched():
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(overlay(image, np.zeros((10, 15)), 1.0, signed=False), image)


def test_full_strength_evidence_is_blended_at_the_chosen_opacity():
    image = np.zeros((4, 4, 3), np.uint8)
    coloured = overlay(image, np.ones((4, 4)), 1.0, signed=False, opacity=0.5, colourmap="gray")
    np.testing.assert_array_equal(coloured, np.full((4, 4, 3), 128, np.uint8))  # half of white over black


def test_signed_maps_put_zero_at_the_middle_of_the_colour_map():
    colours = colourise(np.array([[-1.0, 0.0, 1.0]]), 1.0, signed=True, colourmap="bwr")
    assert colours[0, 0, 2] > 200 and colours[0, 0, 0] < 60  # blue against
    assert colours[0, 2, 0] > 200 and colours[0, 2, 2] < 60  # red for
    assert (colours[0, 1] > 240).all()  # white at zero


def test_shared_scale_is_one_limit_and_per_image_follows_each_map():
    maps = np.stack([np.full((5, 5), 1.0), np.full((5, 5), 4.0)])
    assert colour_limit(maps, False) == 4.0  # shared: one limit over every map
    assert [colour_limit(m, False) for m in maps] == [1.0, 4.0]  # per image


def test_colour_scale_policies_pool_every_map_each_image_or_none():
    # Two models of different input sizes, two images: maps of 1, 2 (image 0) and 3, 4 (image 1).
    maps = {
        ("small", 0): np.full((4, 4), 1.0),
        ("large", 0): np.full((8, 8), 2.0),
        ("small", 1): np.full((4, 4), 3.0),
        ("large", 1): np.full((8, 8), 4.0),
    }
    assert set(colour_limits(maps, False, SHARED).values()) == {4.0}
    assert colour_limits(maps, False, PER_IMAGE) == {key: 2.0 if key[1] == 0 else 4.0 for key in maps}
    assert colour_limits(maps, False, PER_MAP) == {key: raw[0, 0] for key, raw in maps.items()}
    assert colour_limits({}, False, SHARED) == {}
    with pytest.raises(ValueError, match="no colour scale"):
        colour_limits(maps, False, "per planet")


def test_colour_limit_ignores_a_single_hot_pixel():
    saliency = np.ones((100, 100))
    saliency[0, 0] = 1000.0
    assert colour_limit(saliency, False) < 2


def test_boxes_are_drawn_at_their_coordinates():
    saliency = np.zeros((40, 40))
    saliency[10:16, 20:26] = 1
    picture = draw_boxes(np.zeros((40, 40, 3), np.uint8), fit_box(saliency), true_box=(2, 2, 38, 38), all_boxes=False)
    assert tuple(picture[10, 20]) == (0, 230, 255)  # the mean box's top-left corner is cyan
    assert picture[13, 23, 0] == 255  # the centroid is a red dot
    assert picture[2, 3, 1] > 200  # the true box is green


def test_strongest_regions_keeps_the_largest_weights_of_either_sign():
    from core.render import strongest_regions

    raw = np.array([[0.5, 0.5, -0.9], [0.1, -0.2, 0.0]], np.float32)
    np.testing.assert_allclose(strongest_regions(raw, 2), [[0.5, 0.5, -0.9], [0, 0, 0]])
    np.testing.assert_array_equal(strongest_regions(raw, 10), raw)
