import numpy as np
import pytest

from core.boxes import fit_box
from core.render import (
    FRAME,
    PER_IMAGE,
    PER_MAP,
    SHARED,
    OverlayLayer,
    blend,
    colour_bar,
    colour_limit,
    colour_limits,
    colourise,
    colourmap_named,
    draw_boxes,
    framed,
    is_blank,
    limit_caption,
    overlay,
    overlay_layer,
    resize_map,
    scale_sentence,
)


def test_a_zero_map_leaves_the_image_untouched():
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(overlay(image, np.zeros((10, 15)), 1.0, signed=False), image)


def test_full_strength_evidence_is_blended_at_the_chosen_opacity():
    image = np.zeros((4, 4, 3), np.uint8)
    coloured = overlay(image, np.ones((4, 4)), 1.0, signed=False, opacity=0.5, colourmap="gray")
    np.testing.assert_array_equal(coloured, np.full((4, 4, 3), 128, np.uint8))  # half of white over black


@pytest.mark.parametrize("signed", [False, True])
def test_where_the_map_is_zero_the_overlay_is_the_photo_itself(signed):
    photo = np.random.default_rng(1).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    raw = np.zeros((24, 24), np.float32)
    raw[4:10, 4:10] = 2.0
    raw[14:20, 14:20] = -1.0 if signed else 0.5
    for exponent in (1.0, 1.5):
        picture = overlay(photo, raw, 2.0, signed, opacity=0.9, exponent=exponent)
        np.testing.assert_array_equal(picture[raw == 0], photo[raw == 0])  # alpha 0: "no effect" is the photo
        assert (picture[raw != 0] != photo[raw != 0]).any(axis=-1).all()  # every pixel with evidence is coloured


def test_opacity_is_the_chosen_opacity_times_strength_to_the_methods_exponent():
    grey = np.full((1, 2, 3), 100, np.uint8)
    red = np.array(colourmap_named(None, True)(1.0)[:3]) * 255  # the signed colour map's end "for the class"
    raw = np.array([[0.25, 1.0]], np.float32)
    for exponent in (1.0, 1.5):
        picture = overlay(grey, raw, 1.0, True, opacity=0.8, exponent=exponent)
        for column, strength in enumerate((0.25, 1.0)):
            alpha = 0.8 * strength**exponent
            np.testing.assert_allclose(picture[0, column], (100 * (1 - alpha) + red * alpha).round(), atol=0.5)


def test_weak_signed_evidence_is_a_faint_tint_of_its_colour_not_a_pale_veil():
    # A map barely above zero (SHAP's "no effect" patches): the old rule drew 0.6 × √0.02 ≈ 8% white over the photo.
    dark = np.full((1, 2, 3), 40, np.uint8)
    picture = overlay(dark, np.array([[0.02, -0.02]], np.float32), 1.0, True, opacity=0.65).astype(int)
    assert np.abs(picture - 40).max() <= 4  # about 1% of a colour, not a veil
    assert picture[0, 0, 0] > 40 and picture[0, 0, 1] < 40  # a touch of red for, no lightening
    assert picture[0, 1, 2] > 40 and picture[0, 1, 0] < 40  # a touch of blue against


def test_colour_bar_is_the_overlay_over_white_in_a_frame():
    signed = colour_bar(True, width=101, height=9)
    assert signed.shape == (9, 101, 3)
    assert (signed[0] == FRAME).all() and (signed[:, -1] == FRAME).all()  # the frame shows on a white page
    middle, left, right = signed[4, 50], signed[4, 1], signed[4, -2]
    assert (middle == 255).all()  # no effect: clear, so the page (or the photo) shows through
    assert left[2] > 200 and left[0] < 60  # blue against
    assert right[0] > 200 and right[1] < 60  # red for
    unsigned = colour_bar(False, width=101, height=9)  # plasma: clear, then purple to yellow
    assert (unsigned[4, 1] >= 245).all()  # no influence: clear
    assert unsigned[4, 50, 1] < 200 and unsigned[4, -2, 2] < 60 and unsigned[4, -2, 0] > 200  # then purple, yellow


def test_a_raw_map_is_framed_so_a_white_map_shows_on_a_white_page():
    white = colourise(np.zeros((8, 8)), 1.0, signed=True)
    assert (white[3, 3] == 255).all()
    picture = framed(white)
    assert (picture[0] == FRAME).all() and (picture[:, 0] == FRAME).all() and (picture[3, 3] == 255).all()


def test_a_map_that_is_zero_everywhere_is_blank_and_says_so():
    assert is_blank(np.zeros((4, 4))) and not is_blank(np.eye(4) * 1e-9)
    assert limit_caption(np.zeros((4, 4)), 1.0, False, PER_MAP) == "zero everywhere: nothing to colour"


def test_the_caption_names_the_scale_and_how_faint_a_map_is_on_a_shared_one():
    weak, strong = np.full((4, 4), 0.1), np.full((4, 4), 10.0)
    assert limit_caption(weak, 0.1, False, PER_MAP) == "colour limit 0.1 (this map's own)"
    assert limit_caption(weak, 10.0, False, SHARED) == "colour limit 10 (shared) · this map peaks at 1% of it"
    assert limit_caption(strong, 10.0, False, PER_IMAGE) == "colour limit 10 (shared by this image's maps)"
    assert scale_sentence(PER_MAP).startswith("Colour scale: each map its own")


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


def _reference_overlay(image, raw, limit, signed, *, opacity=0.6, colourmap=None, exponent=1.0):
    """The overlay as plain float32 array operations: what the compiled blend and the cached layers replaced."""
    height, width = image.shape[:2]
    resized = resize_map(raw, width, height)
    strength = np.clip(np.abs(resized) / limit, 0, 1)
    cmap = colourmap_named(colourmap, signed)
    if signed:
        ends = np.array([cmap(0.0)[:3], cmap(1.0)[:3]], np.float32) * 255
        colours = ends[(resized > 0).astype(np.intp)]
    else:
        colours = cmap(strength)[..., :3].astype(np.float32) * 255
    alpha = (opacity * strength**exponent)[..., None]
    return (image.astype(np.float32) * (1 - alpha) + colours * alpha).round().astype(np.uint8)


def _test_maps(rng):
    """Maps that reach every corner of the arithmetic: smooth and noisy, clipped at the limit, values exactly on
    the colour table's steps, exact zeros, both signs, and sizes that are and are not the image's."""
    smooth = np.outer(np.hanning(23), np.hanning(31)).astype(np.float32) * 3
    noisy = rng.normal(size=(40, 56)).astype(np.float32)
    steps = (np.arange(40 * 56, dtype=np.float32).reshape(40, 56) % 257) / 256  # k/256 and 1.0 itself
    sparse = np.where(rng.random((40, 56)) < 0.7, 0, rng.normal(size=(40, 56))).astype(np.float32)
    return {"smooth": smooth, "noisy": noisy, "steps": steps, "sparse": sparse}


@pytest.mark.parametrize(
    "signed, colourmap", [(False, None), (False, "jet"), (False, "gray"), (True, None), (True, "bwr")]
)
def test_the_cached_layer_and_compiled_blend_draw_exactly_the_plain_overlay(signed, colourmap):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    for name, raw in _test_maps(rng).items():
        for limit in (float(np.abs(raw).max()), 0.5, 1.0):
            for exponent in (1.0, 1.5):
                layer = overlay_layer(40, 56, raw, limit, signed, colourmap=colourmap, exponent=exponent)
                for opacity in (0.0, 0.05, 0.35, 0.65, 0.9, 1.0):
                    expected = _reference_overlay(
                        image, raw, limit, signed, opacity=opacity, colourmap=colourmap, exponent=exponent
                    )
                    np.testing.assert_array_equal(blend(image, layer, opacity), expected, err_msg=name)
                    np.testing.assert_array_equal(
                        overlay(image, raw, limit, signed, opacity=opacity, colourmap=colourmap, exponent=exponent),
                        expected,
                        err_msg=name,
                    )


def test_a_layer_is_blended_over_an_image_of_its_own_size_only():
    layer = overlay_layer(4, 6, np.ones((2, 3)), 1.0, False)
    assert isinstance(layer, OverlayLayer) and layer.weight.shape == (4, 6) and layer.nbytes > 0
    with pytest.raises(ValueError, match="cannot be blended"):
        blend(np.zeros((6, 4, 3), np.uint8), layer, 0.5)
