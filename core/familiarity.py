"""Whether an image is like the pictures a model knows (docs/methods.md, "Unfamiliar images").

Two signals, each calibrated once on images like those the model learned from; an image is flagged when either
says it is unusual. The prediction is still shown; only the words around it change.

- **Confidence**: the probability of the model's top class (the maximum softmax probability of Hendrycks and
  Gimpel 2017; for one sigmoid unit, max(p, 1 − p)). Its *usual floor* is the confidence that 95 % of the
  calibration images reach, their 5th percentile; below it the model is unusually unsure. A model without a
  calibration (no `familiarity` in its card) gets a general rule instead, said as such: halfway between a blind
  guess and certainty.
- **Feature distance**, which catches confident mistakes: how far the image's features (the input of the
  model's last dense layer, what its classifier head reads) lie from those of the pictures it learned from. The
  Mahalanobis distance to the nearest class mean, with one covariance shared by the classes (Lee et al. 2018)
  shrunk towards a multiple of the identity (Ledoit and Wolf 2004), so that directions in which the pictures
  barely vary do not get an unbounded weight. Its *usual ceiling* is the distance that 95 % of the calibration
  images stay within; beyond it the image is unlike the pictures the model learned from. Only Keras models have
  features to read, and only those whose card names a calibration file (`feature_familiarity`, written by
  `python -m core calibrate --write` beside the model); the others keep the confidence alone, said as such.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

# The share of the calibration images allowed below the floor: one in twenty known pictures is flagged.
SHARE_BELOW = 0.05
CARD_KEY = "familiarity"
# Pictures the feature means and covariance are fitted on (of the set the model learned from).
FIT_COUNT = 1000
# The same share beyond the usual feature distance, and where a model's card names its feature calibration file.
SHARE_ABOVE = 0.05
FEATURES_KEY = "feature_familiarity"
FEATURES_SUFFIX = ".familiarity.npz"
GENERATED_SOURCE = "generated dog pictures like those it learned from"


@dataclass(frozen=True)
class Calibration:
    """A model's usual floor of confidence and what it was measured on."""

    floor: float  # the top-class probability that (1 − share_below) of the calibration images reach
    share_below: float  # the share of the calibration images below the floor
    images: int  # how many images it was measured on; 0 for the general rule
    source: str  # those images, in a stakeholder's words ("generated dog pictures like those it learned from")
    detail: str = ""  # where they come from exactly, for whoever checks (e.g. the generated set's seed)

    @property
    def measured(self) -> bool:
        """False for the general rule of a model whose card gives no calibration."""
        return self.images > 0

    def as_card(self) -> dict:
        return {**asdict(self), "floor": round(self.floor, 4)}


@dataclass(frozen=True)
class FeatureCeiling:
    """A model's usual ceiling of feature distance and what it was measured on (no arrays: cheap to copy)."""

    ceiling: float  # the distance that (1 − share_above) of the calibration images stay within
    share_above: float  # the share of the calibration images beyond it
    images: int  # how many images the ceiling was measured on
    layer: str  # the layer whose output is the features (the input of the last dense layer)
    fitted_on: int  # how many images the class means and the covariance were estimated from
    detail: str = ""  # where the calibration images come from (e.g. the generated set's seed)
    fitted_detail: str = ""  # where the images the means and covariance come from
    source: str = GENERATED_SOURCE  # the calibration images, in a stakeholder's words


@dataclass(frozen=True)
class FeatureDistance:
    """One image's feature distance against its model's usual ceiling."""

    distance: float
    usual: FeatureCeiling

    @property
    def near(self) -> bool:
        return self.distance <= self.usual.ceiling


@dataclass(frozen=True)
class Familiarity:
    """One prediction's confidence against its model's usual floor and, where the model has a feature
    calibration, its image's feature distance against the usual ceiling."""

    confidence: float  # the top class's probability, 0..1
    calibration: Calibration
    classes: int
    feature: FeatureDistance | None = None  # None: the model has no feature calibration

    @property
    def sure(self) -> bool:
        """As sure as usual: the confidence reaches the usual floor."""
        return self.confidence >= self.calibration.floor

    @property
    def near(self) -> bool:
        """As close to the pictures it learned from as usual (True where there is no feature calibration)."""
        return self.feature is None or self.feature.near

    @property
    def familiar(self) -> bool:
        return self.sure and self.near

    @property
    def label(self) -> str:
        """A few words for a heading: 'as sure as usual', 'unusually unsure', 'unlike what it learned from'."""
        if self.familiar:
            return "as sure as usual"
        if self.near:
            return "unusually unsure"
        return "unlike what it learned from" if self.sure else "unsure and unlike what it learned from"

    def comparison(self) -> str:
        """What the confidence is compared against, in one clause."""
        c = self.calibration
        if c.measured:
            return (
                f"on {c.images:,} {c.source}, {1 - c.share_below:.0%} of its answers were at least "
                f"{self._percent(c.floor)} sure"
            )
        return (
            f"its card gives no pictures to compare with, so the rule is halfway between a blind guess among "
            f"{self.classes:,} classes ({_percent(1 / self.classes)}) and certainty: {self._percent(c.floor)}"
        )

    def sentence(self, model: str) -> str:
        """One plain sentence: how sure the model is, against what, whether the image is like the pictures it
        learned from, and how to read it."""
        sure = f"{model} is {self._percent(self.confidence)} sure"
        if self.familiar:
            close = "" if self.feature is None else ", and the image is as close to them as usual in what it sees"
            return f"{sure}; {self.comparison()}{close}."
        if self.near:
            return (
                f"Unusually unsure: {sure}, while {self.comparison()}. The image may be unlike anything it was "
                "trained on: read this prediction with care."
            )
        usual = self.feature.usual
        further = f"the image lies further from those pictures than {1 - usual.share_above:.0%}"
        if self.sure:
            return (
                "Unlike the pictures it learned from (far from them in what the model sees), even though it is "
                f"sure: {sure}, yet in what it sees {further} of {usual.images:,} {usual.source} do. Treat "
                "this answer with care."
            )
        return (
            f"Unusually unsure, and unlike the pictures it learned from: {sure}, while {self.comparison()}; and "
            f"in what it sees {further} of them do. Treat this answer with care."
        )

    def short(self) -> str:
        """A few words for a projector: the verdict, then the usual floor in brackets."""
        floor = f"usually at least {self._percent(self.calibration.floor)}"
        if self.near:
            return f"{self.label.capitalize()} ({floor})"
        if self.sure:
            return f"Unlike the pictures it learned from, though {self._percent(self.confidence)} sure"
        return f"Unusually unsure ({floor}), and unlike the pictures it learned from"

    def detail(self) -> str:
        """The technical definitions, for whoever wants to check them."""
        c = self.calibration
        if not c.measured:
            confidence = (
                "Confidence is the probability of the top class. Without a calibration in the model's card, an "
                f"image counts as unusual below (1 + 1/{self.classes}) / 2 = {c.floor:.1%}."
            )
        else:
            confidence = (
                f"Confidence is the probability of the top class; the floor, {c.floor:.1%}, is its "
                f"{c.share_below:.0%} quantile over {c.images:,} images ({c.detail or c.source})."
            )
        return f"{confidence} {self._distance_detail()} See docs/methods.md, “Unfamiliar images”."

    def _distance_detail(self) -> str:
        f = self.feature
        if f is None:
            return (
                "Only the confidence is checked: the model has no feature calibration (`python -m core calibrate "
                "--write` makes one for a Keras model)."
            )
        u = f.usual
        return (
            f"Feature distance: the Mahalanobis distance of the image's features (the output of {u.layer}, which "
            "the last dense layer reads) from the nearest class mean, with one covariance for all classes shrunk "
            f"towards a multiple of the identity (Ledoit-Wolf), both estimated on {u.fitted_on:,} images "
            f"({u.fitted_detail or 'like those it learned from'}). The usual ceiling, {u.ceiling:.2f}, is its "
            f"{1 - u.share_above:.0%} quantile over {u.images:,} images ({u.detail or u.source}). This "
            f"image: {f.distance:.2f}, {'within' if f.near else 'beyond'} it."
        )

    def as_json(self) -> dict:
        f = self.feature
        return {
            "familiar": self.familiar,
            "usual_floor": round(self.calibration.floor, 4),
            "feature_distance": None if f is None else round(f.distance, 4),
            "usual_distance_ceiling": None if f is None else round(f.usual.ceiling, 4),
        }

    def _percent(self, value: float) -> str:
        """A percentage; with one decimal when the confidence and the floor would otherwise read the same."""
        same = f"{self.confidence:.0%}" == f"{self.calibration.floor:.0%}"
        return f"{value:.1%}" if same else _percent(value)


def top_probability(probabilities: np.ndarray) -> np.ndarray:
    """The top class's probability per image, (N,) from (N, classes) probabilities."""
    return np.asarray(probabilities, np.float64).max(axis=1)


def calibrate(
    probabilities: np.ndarray, source: str, detail: str = "", share_below: float = SHARE_BELOW
) -> Calibration:
    """The usual floor of a model from its probabilities (N, classes) on N images like those it learned from:
    the `share_below` quantile of their top-class probabilities (linear between neighbours)."""
    tops = top_probability(probabilities)
    if tops.size == 0:
        raise ValueError("Calibrating needs at least one image.")
    return Calibration(float(np.quantile(tops, share_below)), share_below, int(tops.size), source, detail)


def general_rule(classes: int) -> Calibration:
    """For a model without calibration: halfway between a blind guess (1 / classes) and certainty."""
    return Calibration((1 + 1 / classes) / 2, 0.0, 0, "")


def calibration_of(card: dict, classes: int) -> Calibration:
    """The calibration in a model's card (key `familiarity`), else the general rule for its number of classes."""
    entry = (card or {}).get(CARD_KEY)
    if isinstance(entry, dict):
        try:
            return Calibration(
                float(entry["floor"]),
                float(entry["share_below"]),
                int(entry["images"]),
                str(entry["source"]),
                str(entry.get("detail", "")),
            )
        except (KeyError, TypeError, ValueError):
            pass  # a card written by hand with a mistake: fall back to the rule rather than fail the page
    return general_rule(classes)


def assess(confidence: float, card: dict, classes: int, feature: FeatureDistance | None = None) -> Familiarity:
    """How a prediction of `confidence` (the top class's probability) compares with its model's usual floor, and
    its image's `feature` distance (None where the model has no feature calibration) with the usual ceiling."""
    return Familiarity(float(confidence), calibration_of(card, classes), classes, feature)


def assess_predictions(predictions, spec) -> Familiarity:
    """`assess` for one image's predictions by the model of `spec`, most probable first: a core.classify.Ranking
    brings the image's feature distance where the model has a feature calibration."""
    feature = getattr(predictions, "feature", None)
    return assess(predictions[0].probability, spec.card, len(spec.labels), feature)


# --- The feature distance ----------------------------------------------------------------------------------------


def _stored(values) -> np.ndarray:
    """float64 values as the calibration file keeps them (float32), so a distance measured when calibrating and
    one measured from the file agree."""
    return np.asarray(values, np.float32).astype(np.float64)


@dataclass(frozen=True, eq=False)
class FeatureSpace:
    """The class means of a model's features and the factor of the shared precision that measures distances."""

    means: np.ndarray  # (classes, D)
    whitening: np.ndarray  # (D, D) lower-triangular L with L Lᵀ = the inverse of the shared covariance
    shrinkage: float = 0.0  # the Ledoit-Wolf weight given to the multiple of the identity, 0..1

    @classmethod
    def from_covariance(cls, means, covariance, shrinkage: float = 0.0) -> FeatureSpace:
        precision = np.linalg.inv(np.asarray(covariance, np.float64))
        whitening = np.linalg.cholesky((precision + precision.T) / 2)
        return cls(_stored(means), _stored(whitening), float(shrinkage))

    @classmethod
    def fit(cls, features, classes) -> FeatureSpace:
        """The mean of each class's features (N, D) and the covariance of their differences from those means,
        one for all classes (Lee et al. 2018), shrunk towards a multiple of the identity by Ledoit and Wolf's
        formula: with a few hundred features and a thousand images the plain estimate's smallest eigenvalues are
        far too small, and their inverse would let a tiny change in a barely used feature dominate every
        distance. Ledoit-Wolf chooses the shrinkage from the data, keeps the features' correlations (a diagonal
        covariance would drop them) and stays invertible even with more features than images."""
        from sklearn.covariance import LedoitWolf

        features, classes = np.asarray(features, np.float64), np.asarray(classes)
        present = np.unique(classes)
        means = np.stack([features[classes == c].mean(axis=0) for c in present])
        residuals = features - means[np.searchsorted(present, classes)]
        shrunk = LedoitWolf(assume_centered=True).fit(residuals)
        return cls.from_covariance(means, shrunk.covariance_, shrunk.shrinkage_)

    @property
    def dimensions(self) -> int:
        return self.means.shape[1]

    def distances(self, features) -> np.ndarray:
        """(N,) the Mahalanobis distance of each row of `features` (N, D) from the nearest class mean."""
        features = np.asarray(features, np.float64).reshape(len(features), -1)
        if features.shape[1] != self.dimensions:
            raise ValueError(f"{self.dimensions} features were calibrated, {features.shape[1]} given.")
        points, centres = features @ self.whitening, self.means @ self.whitening
        # |p − c|² from three matrix products: no (N, classes, D) array, which a thousand classes would make huge.
        squared = (points**2).sum(1)[:, None] - 2 * points @ centres.T + (centres**2).sum(1)[None, :]
        return np.sqrt(np.maximum(squared.min(axis=1), 0.0))


@dataclass(frozen=True, eq=False)
class FeatureCalibration:
    """What a model's calibration file holds: the feature space and the usual ceiling of distance in it."""

    space: FeatureSpace
    usual: FeatureCeiling

    def measure(self, features) -> list[FeatureDistance]:
        return [FeatureDistance(float(d), self.usual) for d in self.space.distances(features)]

    def save(self, path: Path) -> None:
        """A compressed .npz: the means and the whitening's lower triangle (float32), and the facts."""
        rows, columns = np.tril_indices(self.space.dimensions)
        u = self.usual
        np.savez_compressed(
            path,
            means=self.space.means.astype(np.float32),
            whitening=self.space.whitening[rows, columns].astype(np.float32),
            shrinkage=self.space.shrinkage,
            **{key: getattr(u, key) for key in FeatureCeiling.__dataclass_fields__},
        )

    @classmethod
    def load(cls, path: Path) -> FeatureCalibration:
        with np.load(path, allow_pickle=False) as data:
            means = data["means"].astype(np.float64)
            whitening = np.zeros((means.shape[1],) * 2)
            whitening[np.tril_indices(means.shape[1])] = data["whitening"]
            usual = FeatureCeiling(**{key: data[key].item() for key in FeatureCeiling.__dataclass_fields__})
            return cls(FeatureSpace(means, whitening, float(data["shrinkage"])), usual)


def calibrate_features(
    space: FeatureSpace, features, layer: str, fitted_on: int, detail: str = "", fitted_detail: str = "",
    share_above: float = SHARE_ABOVE,
) -> FeatureCalibration:  # fmt: skip
    """The usual ceiling of distance in `space` from the features (N, D) of N images like those the model learned
    from, kept apart from those the space was fitted on: the (1 − `share_above`) quantile of their distances."""
    distances = space.distances(features)
    if distances.size == 0:
        raise ValueError("Calibrating needs at least one image.")
    ceiling = float(np.quantile(distances, 1 - share_above))
    usual = FeatureCeiling(ceiling, share_above, int(distances.size), layer, int(fitted_on), detail, fitted_detail)
    return FeatureCalibration(space, usual)


def feature_layer(keras_model) -> str | None:
    """The layer whose output the model's last dense layer reads (its classifier head's input; the layers are
    searched from the end, a nested model's own layers included), or None where there is no dense layer or it
    reads more than one vector per image."""
    import keras

    def last_dense(layers):
        for layer in reversed(layers):
            if isinstance(layer, keras.layers.Dense):
                return layer
            if isinstance(layer, keras.Model) and (inner := last_dense(layer.layers)) is not None:
                return inner
        return None

    dense = last_dense(keras_model.layers)
    if dense is None or not dense._inbound_nodes:
        return None
    (features, *_) = dense._inbound_nodes[0].input_tensors
    if len(features.shape) != 2:
        return None
    return features._keras_history.operation.name


def features_and_scores(model, pixels: np.ndarray, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """The features (N, D) at `layer` and the class scores (N, classes) of model-sized pixels: one batched pass."""
    from core.inside.features import layer_outputs

    features, scores = layer_outputs(model, pixels, layer)
    return features.reshape(len(features), -1), scores


def feature_calibration_of(model) -> FeatureCalibration | None:
    """The feature calibration file that a Keras model's card names (`feature_familiarity`, a file beside the
    model), read once per version of the file; None where the card names none, the file is missing or
    unreadable, or the model gives no features (SavedModel, TensorFlow Lite)."""
    entry = (model.spec.card or {}).get(FEATURES_KEY)
    name = entry.get("file") if isinstance(entry, dict) else None
    if not model.differentiable or not isinstance(name, str) or Path(name).name != name:
        return None  # a file beside the model only, never a path elsewhere
    path = model.spec.path.parent / name
    try:
        found = path.stat()
    except OSError:
        return None
    return _read_features(str(path), found.st_size, found.st_mtime_ns)


@lru_cache(maxsize=32)
def _read_features(path: str, size: int, modified: int) -> FeatureCalibration | None:
    try:
        return FeatureCalibration.load(Path(path))
    except (OSError, KeyError, TypeError, ValueError):
        return None  # a broken file: the confidence alone, as for a model without one


def probabilities_and_features(model, pixels: np.ndarray) -> tuple[np.ndarray, list[FeatureDistance | None]]:
    """Class probabilities (N, classes) and each image's feature distance (None where the model has no feature
    calibration), from one batched pass of model-sized pixels."""
    from core.errors import ModelError

    calibration = feature_calibration_of(model)
    if calibration is None:
        return model.probabilities(pixels), [None] * len(pixels)
    features, scores = features_and_scores(model, pixels, calibration.usual.layer)
    try:
        distances = calibration.measure(features)
    except ValueError as error:
        raise ModelError(
            f"The feature calibration of {model.name} does not fit it ({error}); calibrate it again "
            "(python -m core calibrate --write)."
        ) from None
    return model.probabilities_of(scores), distances


# --- Calibrating on generated pictures ---------------------------------------------------------------------------


def calibrate_on_generated(
    model, seed: int, count: int, fit_seed: int = 1, fit_count: int = 0
) -> tuple[Calibration, FeatureCalibration | None]:
    """Calibrates a model on `count` generated dachshund/other-dog pictures of the set `seed` (the bundled
    models were validated on set 2, and never trained on it), with the cue its card says it learned with
    (`"cue"`, see core.dataset), so that they are pictures like those it learned from: the usual floor of
    confidence and, where `fit_count` > 0 and the model has features to read, the feature calibration, its class
    means and covariance from `fit_count` pictures of the set `fit_seed` (the bundled models learned from set
    1) and its ceiling from the same pass over the `count` pictures that gives the floor."""
    from core import dataset

    cue = (model.spec.card or {}).get("cue")
    cue = cue if cue in dataset.CUES else None
    images, _ = dataset.generate_batch(seed, count, cue=cue)
    pixels = model.spec.resize(list(images))
    layer = feature_layer(model.model) if model.differentiable and fit_count > 0 else None
    if layer is None:
        return calibrate(model.probabilities(pixels), GENERATED_SOURCE, generated_detail(seed, cue)), None
    features, scores = features_and_scores(model, pixels, layer)
    calibration = calibrate(model.probabilities_of(scores), GENERATED_SOURCE, generated_detail(seed, cue))
    fit_images, fit_classes = dataset.generate_batch(fit_seed, fit_count, cue=cue)
    fitted, _ = features_and_scores(model, model.spec.resize(list(fit_images)), layer)
    space = FeatureSpace.fit(fitted, fit_classes)
    first = f"the first {fit_count:,} pictures of {generated_detail(fit_seed, cue)}"
    return calibration, calibrate_features(space, features, layer, fit_count, generated_detail(seed, cue), first)


def generated_detail(seed: int, cue: str | None = None) -> str:
    return f"the generated set {seed} of core/dataset.py" + (f", with the {cue} cue" if cue else "")


def features_path(card_file: Path) -> Path:
    """Where a model's feature calibration goes: beside its card, `NAME.familiarity.npz` for `NAME.json`."""
    return Path(card_file).with_name(Path(card_file).stem + FEATURES_SUFFIX)


def write_to_card(card_file: Path, calibration: Calibration, features: FeatureCalibration | None = None) -> None:
    """Adds (or replaces) the calibration in a model's card, keeping the rest of the card as it is; with
    `features`, writes them beside the card and names the file in it (without, a feature entry goes: it would
    belong to an older calibration)."""
    card = json.loads(Path(card_file).read_text("utf-8"))
    card[CARD_KEY] = calibration.as_card()
    card.pop(FEATURES_KEY, None)
    if features is not None:
        path = features_path(card_file)
        features.save(path)
        card[FEATURES_KEY] = {"file": path.name, "layer": features.usual.layer}
    Path(card_file).write_text(json.dumps(card, indent=2) + "\n", "utf-8")


def _percent(value: float) -> str:
    """Whole percents, never rounded to 100 % or 0 % (core.classify.probability_text)."""
    from core.classify import probability_text

    return probability_text(value, 0)
