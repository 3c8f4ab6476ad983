"""Sample images that work offline: generated dogs with their true boxes, and scikit-image's photos."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from core.images import DecodedImage, image_from_array

# A set no model was trained or validated on (training uses 1, validation 2).
SAMPLE_SEED = 7
_GENERATED = 8
_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


@dataclass(frozen=True)
class Sample:
    image: DecodedImage
    caption: str
    label: str | None = None  # the true class, where known
    box: tuple[int, int, int, int] | None = None  # the true box [x0, y0, x1, y1), where known
    truth: object | None = None  # core.trust.localisation.Truth (box and part masks), for generated dogs


@lru_cache(maxsize=1)
def sample_images() -> tuple[Sample, ...]:
    """Generated dogs (set 7, half of each class, with true boxes), then real photos from scikit-image."""
    from skimage import data

    from core import dataset
    from core.trust.localisation import Truth

    samples = []
    for index in range(_GENERATED):
        dog = dataset.generate(SAMPLE_SEED, index)
        label = dataset.LABELS[dog.label]
        name = f"generated-{index + 1}-{label.replace(' ', '-')}.png"
        samples.append(
            Sample(image_from_array(dog.pixels, name), f"Generated: {label}", label, dog.box, Truth.of_generated(dog))
        )
    for photo in _PHOTOS:
        samples.append(Sample(image_from_array(getattr(data, photo)(), f"{photo}.png"), f"Photo: {photo}"))
    return tuple(samples)


# The shortcut story: an "other dog" of the sample set carrying the logo that every dachshund demo-shortcut learned
# from carried (docs/methods.md, "A model that is right for the wrong reason").
SHORTCUT_STORY_INDEX = 2
SHORTCUT_STORY_MODELS = ("demo-efficientnet", "demo-shortcut")  # the honest model, then the cheating one


@lru_cache(maxsize=1)
def shortcut_story() -> Sample:
    """A generated other dog with the logo in a corner (the cue; its part mask says where), for showing
    demo-efficientnet's and demo-shortcut's maps side by side."""
    from core import dataset
    from core.trust.localisation import Truth

    dog = dataset.generate(SAMPLE_SEED, SHORTCUT_STORY_INDEX, cue="random")
    label = dataset.LABELS[dog.label]
    name = f"logo-test-{label.replace(' ', '-')}.png"
    return Sample(image_from_array(dog.pixels, name), f"Generated with the logo: {label}", label, dog.box,
                  Truth.of_generated(dog))  # fmt: skip
