"""Two models (or one) explaining the same images with the same methods: the numbers behind the report.

`compare` runs everything for the command line and `check_trust` adds each map's trust checks; the dashboard
builds the same `Comparison` from its cache. A comparison gives its agreement scores, and its numbers as JSON and
CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property

import numpy as np

from core.agreement import Agreement, ClassSets, agreement, mean_agreement
from core.classify import classify
from core.explain import METHODS, explain_images, method_params
from core.images import DecodedImage
from core.scoring import LoadedModel
from core.spec import ModelSpec


@dataclass(frozen=True)
class Comparison:
    """Everything a report shows: per model its predictions, per (model, method) its explanations, one per image."""

    images: tuple[DecodedImage, ...]
    models: tuple[ModelSpec, ...]
    methods: tuple[str, ...]
    params: dict  # method -> parameters used
    predictions: dict  # model name -> [[Prediction, ...] per image]
    explanations: dict  # (model name, method) -> [Explanation per image]
    percent: float = 10.0  # k of the top-k% region agreement
    true_labels: tuple = ()  # per image, None where unknown (empty: none known)
    true_boxes: tuple = ()
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    # (model name, method) -> [core.trust.TrustResult per image]: each map's trust checks; empty when not asked for.
    trust: dict = field(default_factory=dict)
    # How two maps' agreement is scored: core.agreement.agreement, or a caller's cache of it (the dashboard's).
    agree: Callable[..., Agreement] = field(default=agreement, compare=False, repr=False)

    @property
    def pair(self) -> bool:
        return len(self.models) == 2

    def maps(self, method: str) -> dict[tuple[str, int], np.ndarray]:
        """Every raw map of `method`, keyed by (model name, image index), as `colour_limits` takes them."""
        return {
            (spec.name, i): result.map
            for spec in self.models
            for i, result in enumerate(self.explanations[(spec.name, method)])
        }

    def trust_summary(self) -> dict:
        """{method: {model: core.trust.summary.summarise(...)}}: the means of each map's checks over the images beside
        the means of their references; empty without checks."""
        from core.trust.summary import summarise

        return {
            method: {
                spec.name: summarise([(c.faithfulness, c.localisation) for c in self.trust[(spec.name, method)]])
                for spec in self.models
            }
            for method in self.methods
            if self.trust
        }

    def agreements(self, method: str) -> list[Agreement]:
        """Per image, how much model A's and model B's explanations agree (empty for one model)."""
        return self._agreements[method]

    @property
    def class_sets(self) -> ClassSets | None:
        """The classes each of the two models chooses among (None for one model)."""
        return ClassSets(self.models[0].labels, self.models[1].labels) if self.pair else None

    @cached_property
    def _agreements(self) -> dict[str, list[Agreement]]:
        if not self.pair:
            return {method: [] for method in self.methods}
        a, b = (spec.name for spec in self.models)
        return {
            method: [
                self.agree(
                    first.map,
                    second.map,
                    first.fit.box,
                    second.fit.box,
                    self.predictions[a][i][0].label,
                    self.predictions[b][i][0].label,
                    self.percent,
                    explained=(first.target_label, second.target_label),
                    classes=self.class_sets,
                )
                for i, (first, second) in enumerate(
                    zip(self.explanations[(a, method)], self.explanations[(b, method)], strict=True)
                )
            ]
            for method in self.methods
        }

    def records(self) -> list[dict]:
        """The numbers, one flat row per (image, method): for JSON and CSV downloads. With trust checks, each model's
        numbers beside their references (core.trust.summary.trust_numbers), suffixed by its letter."""
        from core.trust.summary import trust_numbers

        rows = []
        for method in self.methods:
            scores = self.agreements(method)
            for i, image in enumerate(self.images):
                row = {"image": image.name, "sha256": image.sha256, "method": method}
                for letter, spec in zip("ab", self.models, strict=False):
                    top = self.predictions[spec.name][i][0]
                    result = self.explanations[(spec.name, method)][i]
                    row |= {
                        f"model_{letter}": spec.name,
                        f"prediction_{letter}": top.label,
                        f"probability_{letter}": round(top.probability, 6),
                        f"target_{letter}": result.target_label,
                        f"box_{letter}": [round(v, 1) for v in result.fit.box],
                        f"seconds_{letter}": round(result.seconds, 4),
                    }
                    if self.trust:
                        checks = self.trust[(spec.name, method)][i]
                        numbers = trust_numbers(checks.faithfulness, checks.localisation)
                        row |= {f"{key}_{letter}": _round(value) for key, value in numbers.items()}
                if scores:
                    score = scores[i]
                    row |= {
                        "rank_correlation": round(score.rank_correlation, 4),
                        f"top_{score.top_percent:g}_percent_iou": round(score.top_iou, 4),
                        "box_iou": round(score.box_iou, 4),
                        "same_prediction": score.same_prediction,
                        "same_class_explained": score.same_class,
                    }
                rows.append(row)
        return rows

    def as_json(self) -> str:
        summary = {method: mean_agreement(self.agreements(method)) for method in self.methods} if self.pair else {}
        return json.dumps(
            {
                "created": self.created.isoformat(timespec="seconds"),
                "models": [spec.name for spec in self.models],
                "same_classes": self.class_sets.same if self.pair else None,
                "methods": list(self.methods),
                "params": {method: _plain(self.params[method]) for method in self.methods},
                "top_percent": self.percent,
                "mean_agreement": summary,
                **self._trust_json(),
                "rows": self.records(),
            },
            indent=1,
        )

    def _rounded_trust_summary(self) -> dict:
        return {
            method: {name: {k: _round(v) if isinstance(v, float) else v for k, v in means.items()}
                     for name, means in by_model.items()}
            for method, by_model in self.trust_summary().items()
        }  # fmt: skip

    def _trust_json(self) -> dict:
        """The trust checks' settings and means, for the JSON; empty without checks."""
        if not self.trust:
            return {}
        faith = next(iter(self.trust.values()))[0].faithfulness
        settings = {"substrate": faith.map.substrate, "steps": faith.map.steps}
        return {"trust": settings | {"random_maps": faith.references["random"].seeds},
                "mean_trust": self._rounded_trust_summary()}  # fmt: skip

    def as_csv(self) -> str:
        rows = self.records()
        columns = list(dict.fromkeys(key for row in rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: " ".join(map(str, v)) if isinstance(v, list) else v for key, v in row.items()})
        return buffer.getvalue()


def compare(
    models: list[LoadedModel],
    images: list[DecodedImage],
    methods: list[str],
    params: dict | None = None,
    percent: float = 10.0,
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """Predictions and explanations of every model for every image and method (each explaining its own
    predicted class), all models on the same inputs with the same parameters."""
    params = params or {}
    chosen = {method: method_params(METHODS[method], params.get(method)) for method in methods}
    pixels = [image.pixels for image in images]
    predictions, explanations = {}, {}
    total, done = len(models) * len(methods), 0
    for model in models:
        predictions[model.name] = classify(model, pixels, 3)
        for method in methods:
            explanations[(model.name, method)] = explain_images(model, pixels, method, None, chosen[method])
            done += 1
            if progress is not None:
                progress(done, total)
    return Comparison(
        tuple(images), tuple(m.spec for m in models), tuple(methods), chosen, predictions, explanations, percent
    )


def check_trust(
    comparison: Comparison,
    models: list[LoadedModel],
    truths: list | None = None,
    *,
    steps: int = 20,
    substrate: str = "blur",
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """The comparison with every map's trust checks (core.trust.check_map): deletion and insertion beside random maps
    and a centred blob, and, where `truths[i]` (core.trust.localisation.Truth on image i's grid, or None) is known,
    localisation. `models` are the comparison's, loaded; `progress(done, total)` after each map. Costs
    `core.trust.faithfulness.report_passes(0, steps)` model passes per map."""
    from core.trust import check_map

    truths = list(truths) if truths is not None else [None] * len(comparison.images)
    total, done, found = len(models) * len(comparison.methods) * len(comparison.images), 0, {}
    for model in models:
        for method in comparison.methods:
            checks = []
            for image, result, truth in zip(
                comparison.images, comparison.explanations[(model.name, method)], truths, strict=True
            ):
                checks.append(check_map(model, image.pixels, result, truth, steps=steps, substrate=substrate))
                done += 1
                if progress is not None:
                    progress(done, total)
            found[(model.name, method)] = checks
    return replace(comparison, trust=found)


def _round(value):
    return None if isinstance(value, float) and value != value else round(float(value), 4)


def _plain(params: dict) -> dict:
    return {k: (v if isinstance(v, int | float | str | bool) or v is None else str(v)) for k, v in params.items()}
