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
