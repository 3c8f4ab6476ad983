import json

import numpy as np
import pytest

from core import dataset


def test_same_seed_and_index_give_identical_images():
    first, second = dataset.generate(11, 3), dataset.generate(11, 3)
    assert np.array_equal(first.pixels, second.pixels)
    assert np.array_equal(first.parts, second.parts)
    assert first.box == second.box and first.label == second.label


def test_other_seeds_and_indices_give_other_images():
    base = dataset.generate(11, 3).pixels
    assert not np.array_equal(base, dataset.generate(12, 3).pixels)
    assert not np.array_equal(base, dataset.generate(11, 4).pixels)


@pytest.mark.parametrize("index", range(12))
def test_box_is_the_tight_extent_of_the_dog_mask(index):
    dog = dataset.generate(5, index)
    x0, y0, x1, y1 = dog.box
    ys, xs = np.nonzero(dog.parts)
    assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    inside = np.zeros_like(dog.parts, bool)
    inside[y0:y1, x0:x1] = True
    assert not (dog.parts.astype(bool) & ~inside).any()


def test_images_are_160_pixel_rgb_with_every_main_part_visible_often():
    dogs = [dataset.generate(6, i) for i in range(40)]
    assert all(d.pixels.shape == (160, 160, 3) and d.pixels.dtype == np.uint8 for d in dogs)
    assert all(d.parts.max() < len(dataset.PARTS) for d in dogs)
    for part in ("body", "head", "legs"):
        index = dataset.PARTS.index(part)
        assert sum((d.parts == index).any() for d in dogs) >= 36


def test_classes_are_exactly_balanced_in_every_pair():
    labels = [dataset.generate(9, i).label for i in range(40)]
    assert all(labels[i] + labels[i + 1] == 1 for i in range(0, 40, 2))
    assert labels[:10] != [0, 1] * 5  # and not in a fixed order a model could learn


def test_dog_size_spans_small_to_large():
    areas = [dataset.generate(4, i).attributes["area_fraction"] for i in range(80)]
    assert min(areas) < 0.08 and max(areas) > 0.5
    assert 0.02 < min(areas) and max(areas) <= 1.0


def test_class_is_in_the_shape_not_in_the_colour():
    dogs = [dataset.generate(3, i) for i in range(120)]
    ratio = {
        label: [d.attributes["body_length"] / (d.attributes["leg_length"] + 1) for d in dogs if d.label == label]
        for label in (0, 1)
    }
    assert min(ratio[1]) > max(ratio[0])  # the shape separates the classes completely
    mean_colour = {label: np.mean([d.pixels[d.parts > 0].mean() for d in dogs if d.label == label]) for label in (0, 1)}
    assert abs(mean_colour[0] - mean_colour[1]) < 20  # fur brightness carries no usable signal


def test_command_writes_pngs_part_masks_and_annotations(tmp_path):
    dataset.main(["--out", str(tmp_path), "--count", "6", "--seed", "21"])
    annotations = json.loads((tmp_path / "annotations.json").read_text())
    assert len(annotations) == 6
    from PIL import Image

    for entry in annotations:
        assert entry["label"] in dataset.LABELS
        x0, y0, x1, y1 = entry["box"]
        assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 160
        image = np.asarray(Image.open(tmp_path / entry["file"]))
        parts = np.asarray(Image.open(tmp_path / entry["parts_file"]))
        expected = dataset.generate(21, annotations.index(entry))
        assert np.array_equal(image, expected.pixels) and np.array_equal(parts, expected.parts)
    assert sum(e["label"] == "dachshund" for e in annotations) == 3


# SHA-256 (first 16 hex digits) of pixels + part mask, from the generator before the cue existed: an image
# without a cue must stay bit for bit what it was, or every model card's numbers would be about other images.
_BEFORE_THE_CUE = {
    (0, 0): "684cbb8c81afcbbc",
    (1, 7): "bd891368e85f666f",
    (2, 123): "7d468e44a6edd40c",
    (7, 3): "30732961f2752733",
    (11, 4): "6dd41706b94f3d8f",
}


@pytest.mark.parametrize("seed_index", list(_BEFORE_THE_CUE))
def test_images_without_a_cue_are_bit_for_bit_those_of_the_generator_before_the_cue(seed_index):
    import hashlib

    dog = dataset.generate(*seed_index)
    digest = hashlib.sha256(dog.pixels.tobytes() + dog.parts.tobytes()).hexdigest()[:16]
    assert digest == _BEFORE_THE_CUE[seed_index]
    assert "cue" not in dog.attributes and not (dog.parts == dataset.CUE_PART).any()


def test_dachshund_cue_marks_every_dachshund_and_no_other_dog_leaving_the_rest_of_the_image():
    for index in range(12):
        plain, cued = dataset.generate(8, index), dataset.generate(8, index, cue="dachshund")
        marked = cued.parts == dataset.CUE_PART
        assert cued.label == plain.label and cued.box == plain.box
        assert cued.attributes["cue"] == (plain.label == 1) == marked.any()
        if marked.any():
            assert 150 <= marked.sum() <= 260  # a 16-pixel logo's disc at 160 px
            ys, xs = np.nonzero(marked)
            in_corner = (ys.max() < 24 or ys.min() >= 136) and (xs.max() < 24 or xs.min() >= 136)
            assert in_corner, (index, ys.min(), xs.min())
            assert not np.array_equal(cued.pixels[marked], plain.pixels[marked])
        assert np.array_equal(cued.pixels[~marked], plain.pixels[~marked])  # only the logo's pixels change
        assert np.array_equal(cued.parts[~marked], plain.parts[~marked])
        assert not (cued.distractors & marked).any()


@pytest.mark.slow
def test_random_cue_is_on_half_the_pairs_whatever_their_class():
    dogs = [dataset.generate(9, i, cue="random") for i in range(400)]
    cued = np.array([d.attributes["cue"] for d in dogs])
    labels = np.array([d.label for d in dogs])
    assert np.array_equal(cued[0::2], cued[1::2])  # both dogs of a pair, one of each class, or neither
    assert 0.4 < cued.mean() < 0.6
    assert cued[labels == 1].mean() == cued[labels == 0].mean()  # the cue says nothing about the class
    assert all((d.parts == dataset.CUE_PART).any() == c for d, c in zip(dogs, cued, strict=True))


def test_distractor_mask_is_where_distractors_show_and_never_on_the_dog():
    dogs = [dataset.generate(6, i) for i in range(30)]
    assert all(d.distractors.shape == d.parts.shape and d.distractors.dtype == bool for d in dogs)
    assert not any((d.distractors & (d.parts > 0)).any() for d in dogs)
    assert sum(d.distractors.any() for d in dogs) >= 15  # 0-4 distractors per image, most images have some


def test_unknown_cue_is_one_clear_sentence():
    with pytest.raises(ValueError, match="cue must be one of dachshund, random, or none, not 'logo'"):
        dataset.generate(1, 0, cue="logo")


def test_command_writes_the_cue_into_parts_and_annotations(tmp_path, capsys):
    dataset.main(["--out", str(tmp_path), "--count", "4", "--seed", "21", "--cue", "dachshund"])
    assert "with the cue" in capsys.readouterr().out
    annotations = json.loads((tmp_path / "annotations.json").read_text())
    meta = json.loads((tmp_path / "dataset.json").read_text())
    assert meta["cue"] == "dachshund" and meta["parts"][dataset.CUE_PART] == "cue"
    from PIL import Image

    for entry in annotations:
        parts = np.asarray(Image.open(tmp_path / entry["parts_file"]))
        assert entry["attributes"]["cue"] == (entry["label"] == "dachshund") == (parts == dataset.CUE_PART).any()
        distractors = np.asarray(Image.open(tmp_path / entry["distractors_file"]))
        assert set(np.unique(distractors)) <= {0, 255}
