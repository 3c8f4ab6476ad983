"""Perturbation methods: SHAP (Partition and expected gradients) and LIME. Maps are (N, H, W) float32
in the model's input space, signed (+ for the target class, − against it), not normalised.

They explain the class score before the final sigmoid/softmax (`model.scores`), like every other
method here, and build their shap/lime objects per call: one shared explainer gives wrong results
when two threads use it (see docs/methods.md, "Threads").
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from numba import njit

from core.explain.gradients import input_gradients
from core.scoring import LoadedModel

# How many masked images shap's Owen recursion expands per round. Not tied to `batch_size`: the
# recursion picks different coalitions for other round sizes when max_evals binds, so tying them would
# make the map depend on a memory setting. 50 is what shap's own image examples use; only a model whose
# memory estimate allows fewer images per pass gets smaller rounds (`LoadedModel.batch`).
_SHAP_ROUND = 50


def shap_partition(
    model: LoadedModel,
    pixels: np.ndarray,
    targets: np.ndarray,
    *,
    max_evals: int = 300,
    blur: int = 16,
    batch_size: int = 50,
) -> np.ndarray:
    """Owen/Shapley values of hierarchical image patches hidden by a `blur`×`blur` box blur, summed over
    channels (Lundberg & Lee 2017, shap's Partition explainer). Each map sums to score(x) − score(blur(x))."""
    import shap

    def scores(masked: np.ndarray) -> np.ndarray:
        return model.scores(np.asarray(masked, np.float32), batch_size)

    maps = np.zeros(pixels.shape[:3], np.float32)
    for i, (image, target) in enumerate(zip(pixels, targets, strict=True)):
        # A fresh masker and explainer per image. shap's blur masker caches the blurred image under
        # id(x.ravel()), a temporary whose id is reused: with two images in one masker, one image was
        # sometimes masked with the other's blur (maps off by 14 %). Alone, a cache hit is always right;
        # `_blur_masker` keys its cache on the image itself.
        masker = _blur_masker(blur, pixels.shape[1:])
        explainer = shap.Explainer(scores, masker, algorithm="partition")
        explanation = explainer(
            image[None], max_evals=max_evals, batch_size=model.batch(_SHAP_ROUND), outputs=[int(target)], silent=True
        )
        maps[i] = explanation.values[0, ..., 0].sum(axis=-1)  # (1, H, W, C, 1) -> (H, W)
    return maps


def _blur_masker(blur: int, shape: tuple[int, ...]):
    """shap's blur image masker, faster with the same images: it masks with one array selection instead of
    a copy and two boolean-index passes per masked image, and takes its partition tree (which depends only
    on the image shape and took shap 0.2 s per masker at 160×160, a fifth of the model passes) from a cache."""
    return _blur_masker_class()(f"blur({blur},{blur})", shape)


_PARTITION_TREES: dict[tuple[int, ...], np.ndarray] = {}  # image shape -> shap's axis-aligned partition tree


@functools.cache
def _blur_masker_class():
    import cv2
    import shap

    class BlurMasker(shap.maskers.Image):
        def build_partition_tree(self):
            shape = tuple(int(n) for n in self.input_shape)
            if shape not in _PARTITION_TREES:
                super().build_partition_tree()
                _PARTITION_TREES[shape] = self.clustering.copy()
            self.clustering = _PARTITION_TREES[shape].copy()  # its own copy: nothing shared can be changed

        def __call__(self, mask, x):
            if mask is None or not isinstance(x, np.ndarray):
                return super().__call__(mask, x)
            if getattr(self, "_blurred_image", None) is not x:  # the image itself, held: its id cannot be reused
                self._blurred = cv2.blur(x.reshape(self.input_shape), self.blur_kernel).ravel()
                self._blurred_image = x
            return (np.where(mask, x.ravel(), self._blurred).reshape(1, *x.shape),)

    return BlurMasker


def grey_references(shape: tuple[int, ...], background: int) -> np.ndarray:
    """`background` uniform images (background, H, W, C) float32 with grey levels evenly spaced from
    black (0) to white (255); one reference is plain black."""
    levels = np.linspace(0.0, 255.0, background) if background > 1 else np.zeros(1)
    return np.broadcast_to(levels[:, None, None, None], (background, *shape)).astype(np.float32)


def shap_gradient(
    model: LoadedModel,
    pixels: np.ndarray,
    targets: np.ndarray,
    *,
    samples: int = 50,
    background: int = 8,
    seed: int = 0,
    batch_size: int = 32,
) -> np.ndarray:
    """Expected gradients (Erion et al. 2021; SHAP's GradientExplainer, Lundberg & Lee 2017): the mean over
    `samples` draws of (x − r) · ∇score(r + α(x − r)), r from `grey_references`, α ~ U(0, 1), summed
    over channels. Own implementation, not shap's: see the comment below."""
    # shap.GradientExplainer needs a functional Keras model (a keras.Model subclass has no `.inputs`),
    # reseeds numpy's global RNG (np.random.seed) on each call, which is not thread-safe, and traces
    # a new gradient function per explainer and output. `input_gradients` is compiled once per model.
    references = grey_references(pixels.shape[1:], background)
    maps = np.empty(pixels.shape[:3], np.float32)
    for i, (image, target) in enumerate(zip(pixels, targets, strict=False)):
        # One generator per image: a map depends on its image and the seed, not on the others in the batch.
        rng = np.random.default_rng(seed)
        chosen = references[rng.integers(len(references), size=samples)]
        alphas = rng.uniform(0.0, 1.0, size=(samples, 1, 1, 1)).astype(np.float32)
        delta = image[None] - chosen
        gradients, _ = input_gradients(model, chosen + alphas * delta, np.full(samples, target, np.int32), batch_size)
        maps[i] = (delta * gradients).mean(axis=0).sum(axis=-1)
    return maps


SEGMENTATIONS = ("quickshift", "slic")  # how LIME cuts an image into superpixels


def lime_segments(
    pixels_uint8: np.ndarray, segments: int = 40, segmentation: str = "quickshift", seed: int = 0
) -> np.ndarray:
    """Superpixel labels 0..k−1 (H, W) int32 of one uint8 image (H, W, C) or (H, W). "quickshift" with
    lime's own settings (kernel 4, max_dist 200, ratio 0.2; Vedaldi & Soatto 2008; docs/methods.md), seeded
    so it repeats; or "slic" with about `segments` regions (Achanta et al. 2012) when the count matters."""
    image = np.asarray(pixels_uint8, np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        # lime turns grayscale images into RGB before segmenting; do the same so both see one result.
        image = np.repeat(image, 3, axis=-1)
    if segmentation not in SEGMENTATIONS:
        raise ValueError("segmentation must be 'quickshift' or 'slic'")
    # Quickshift costs about a sixth of LIME's 300 model passes here. The same image comes back often (the
    # other model of a comparison has the same input size, another target or sample count, the report), so
    # the labels of the last few images are kept, by content.
    key = (hashlib.blake2b(image.tobytes(), digest_size=16).digest(), image.shape, segments, segmentation, seed)
    with _SEGMENTS_LOCK:
        if key in _SEGMENTS:
            _SEGMENTS.move_to_end(key)
            return _SEGMENTS[key].copy()
    labels = _segment(image, segments, segmentation, seed)
    with _SEGMENTS_LOCK:
        _SEGMENTS[key] = labels.copy()
        while len(_SEGMENTS) > _SEGMENTS_KEPT:
            _SEGMENTS.popitem(last=False)
    return labels


_SEGMENTS: OrderedDict[tuple, np.ndarray] = OrderedDict()  # the last few images' superpixels, newest last
_SEGMENTS_KEPT = 32  # 100 kB each at 160×160
_SEGMENTS_LOCK = threading.Lock()


def clear_segment_cache() -> None:
    """Forgets every image's superpixels (the benchmark measures LIME as on a new image)."""
    with _SEGMENTS_LOCK:
        _SEGMENTS.clear()


def _segment(image: np.ndarray, segments: int, segmentation: str, seed: int) -> np.ndarray:
    from skimage.segmentation import quickshift, slic

    if segmentation == "quickshift":
        labels = quickshift(image, kernel_size=4, max_dist=200, ratio=0.2, rng=seed)
        return np.unique(labels, return_inverse=True)[1].reshape(labels.shape).astype(np.int32)
    for compactness in (20.0, 100.0, 1000.0):
        # On noisy or heavily textured images SLIC's connectivity step can merge almost everything
        # (one region for 16x16 noise at compactness 20); more compact, grid-like regions then.
        labels = slic(image, n_segments=segments, compactness=compactness, start_label=0, channel_axis=-1)
        if labels.max() + 1 >= segments / 2:
            break
    # lime indexes its features by label, so the labels must be 0..k−1 without gaps.
    return np.unique(labels, return_inverse=True)[1].reshape(labels.shape).astype(np.int32)


def lime(
    model: LoadedModel,
    pixels: np.ndarray,
    targets: np.ndarray,
    *,
    num_samples: int = 300,
    segmentation: str = "quickshift",
    segments: int = 40,
    seed: int = 0,
    batch_size: int = 50,
) -> np.ndarray:
    """LIME (Ribeiro et al. 2016): weights of a linear model fitted to the scores of `num_samples` copies
    with random superpixels (`lime_segments`) replaced by their mean colour; each pixel gets its superpixel's weight."""
    channels = pixels.shape[-1]
    batch_size = model.batch(batch_size)  # the copies of one batch are made at once: as many as the model takes

    def scores(images: np.ndarray) -> np.ndarray:
        # The sampler hands back float32 RGB copies; grayscale ones were replicated to three equal channels.
        return model.scores(np.asarray(images, np.float32)[..., :channels], batch_size)

    images = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)  # quickshift/SLIC and lime expect uint8
    images = images[..., 0] if channels == 1 else images  # lime makes RGB of grayscale, as lime_segments does
    maps = np.zeros(pixels.shape[:3], np.float32)
    # The next image is segmented in a background thread while this one's model passes run (quickshift and
    # TensorFlow both release the GIL): with several images, most of the segmentation time is hidden.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lime-segments") as segmenter:

        def segment(index: int) -> Future:
            return segmenter.submit(lime_segments, images[index], segments, segmentation, seed)

        upcoming = segment(0) if len(images) else None
        for i, (image, target) in enumerate(zip(images, targets, strict=False)):
            target, current = int(target), upcoming
            if i + 1 < len(images):
                upcoming = segment(i + 1)
            # A fresh explainer per image: its random state advances with each image, and must not be shared.
            explainer = _lime_explainer(seed)
            explanation = explainer.explain_instance(
                image,
                scores,
                labels=(target,),
                top_labels=None,
                hide_color=None,  # a hidden superpixel takes its own mean colour (lime's default), not black
                num_samples=num_samples,
                batch_size=batch_size,
                random_seed=seed,
                segmentation_fn=lambda rgb, labels=current: labels.result(),
            )
            weights = np.zeros(explanation.segments.max() + 1, np.float32)
            for feature, weight in explanation.local_exp[target]:
                weights[feature] = weight
            maps[i] = weights[explanation.segments]
    return maps


def _lime_explainer(seed: int):
    """lime's LimeImageExplainer with a compiled sampler: the same random draws and images, built in one
    pass per batch straight into float32, the model's input type (lime's own loop per sample and superpixel
    cost about a third of a model pass per sample on these models; array operations a twentieth)."""
    from lime.lime_image import LimeImageExplainer

    class CompiledSampler(LimeImageExplainer):
        def data_labels(self, image, fudged_image, segments, classifier_fn, num_samples, batch_size=10):
            n_features = np.unique(segments).shape[0]
            data = self.random_state.randint(0, 2, num_samples * n_features).reshape((num_samples, n_features))
            data[0, :] = 1
            switched_on = data.astype(bool)
            # lime's copies are uint8 0..255: the same values as these float32 ones.
            kept, hidden = np.atleast_3d(image).astype(np.float32), np.atleast_3d(fudged_image).astype(np.float32)
            labels, superpixels = [], np.ascontiguousarray(segments, np.int64)
            for start in range(0, num_samples, batch_size):
                images = _compose(switched_on[start : start + batch_size], superpixels, kept, hidden)
                labels.extend(classifier_fn(images if image.ndim == 3 else images[..., 0]))
            return data, np.array(labels)

    return CompiledSampler(random_state=seed)


@njit(cache=True)
def _compose(switched_on, segments, kept, hidden):
    """(samples, H, W, C) float32: `kept` where sample s keeps the superpixel segments[y, x], else `hidden`."""
    height, width, channels = kept.shape
    images = np.empty((switched_on.shape[0], height, width, channels), np.float32)
    for sample in range(switched_on.shape[0]):
        for y in range(height):
            for x in range(width):
                source = kept if switched_on[sample, segments[y, x]] else hidden
                for c in range(channels):
                    images[sample, y, x, c] = source[y, x, c]
    return images


@functools.cache  # once per process: later calls return the same thread
def warm_up() -> threading.Thread:
    """Starts compiling LIME's sampler in a background thread (about a second the first time, then loaded from
    numba's cache in __pycache__), rather than in front of the first LIME map."""
    thread = threading.Thread(
        target=lambda: _compose(np.ones((1, 1), bool), np.zeros((1, 1), np.int64), *np.zeros((2, 1, 1, 1), np.float32)),
        name="LIME sampler warm-up",
        daemon=True,
    )
    thread.start()
    return thread
