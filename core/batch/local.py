"""The local engine: no service, this process. Models are loaded once; a thread decodes the next chunks while
the models explain this one (the evaluation's `decoded_ahead`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.batch.inputs import BatchImage
from core.batch.job import CHUNK, Job, decode_for, explain_chunk


def run_local(
    job: Job,
    images: Sequence[BatchImage],
    todo: Sequence,
    emit: Callable[[list[dict]], None],
    *,
    workers: int | None = None,
) -> None:
    """Explains `images` (each for the (model index, method) pairs of its `todo`) chunk by chunk, handing each
    chunk's rows to `emit` as soon as they are done. `workers` is the number of decoding threads."""
    from core import boxes
    from core.batch.trust import trust_hook
    from core.evaluation.scoring import decoded_ahead
    from core.scoring import load_model

    boxes.warm_up()  # compiles the box fit while the models load
    trust = trust_hook() if job.metrics else None
    models = [load_model(spec) for spec in job.specs]
    indices = list(range(len(images)))
    for part, decoded in decoded_ahead(
        indices, lambda i: decode_for(images[i], job.specs), workers=workers, chunk=CHUNK
    ):
        emit(explain_chunk(models, job, [images[i] for i in part], [todo[i] for i in part], decoded, trust))
