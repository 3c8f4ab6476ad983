"""The Ray engine: Ray Data streams the images through a pool of actors, each loading every model once and running
the same `explain_chunk` as the local engine; this process writes the rows as the actors finish them.

Without an address Ray starts on this machine and stops at the end; with one (`auto`, `ray://HOST:PORT`) the run
goes to that cluster, whose nodes must reach the models, the images and the output folder by the same paths as
this machine, and have this project importable at the same path (README, "Running on a Ray cluster").

A worker that dies (killed, out of memory, its node lost) ends the run with `WorkerDied`: the rows that finished
stay, and the same command computes the rest. Ray Data would otherwise restart the worker and retry its call
without limit, so a call that kills its worker every time (an image that runs it out of memory, a crash inside a
method) would restart it for ever, reloading every model each time and saying nothing; a rerun costs only the calls
that were in flight.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from core.batch.inputs import BatchImage
from core.batch.job import CHUNK, Job
from core.errors import UserError

ROOT = Path(__file__).resolve().parent.parent.parent
RAY_BATCH = 2 * CHUNK  # images per actor call (and per part file); the second chunk decodes while the first runs
# On two CPUs, actors that hold every CPU starve the tasks that feed them and the run hangs: keep this much free.
SPARE_CPU = 0.5
# A dead worker is not restarted, so its call is not retried (see above). Ray 2.60 has no named parameter for it.
NO_RESTARTS = {"max_restarts": 0}


class WorkerDied(UserError):
    """A Ray worker process died before finishing its images; the rows that finished are kept."""


class Explainer:
    """A Ray Data actor: loads the job's models once, with TensorFlow's threads limited to the CPUs Ray gave it,
    then explains batches of images into rows (a pyarrow table)."""

    def __init__(self, job: Job, threads: int) -> None:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        from core import boxes
        from core.batch.trust import trust_hook
        from core.scoring import load_model

        boxes.warm_up()
        self.job = job
        self.trust = trust_hook() if job.metrics else None
        self.models = [load_model(spec) for spec in job.specs]

    def __call__(self, batch):
        from core.batch.job import decode_for, explain_chunk
        from core.batch.table import as_arrow
        from core.evaluation.scoring import decoded_ahead

        items = batch.to_pylist()
        images = [as_image(item) for item in items]
        todo = [[tuple(pair) for pair in json.loads(i["todo"])] for i in items]
        rows = []
        for part, decoded in decoded_ahead(
            list(range(len(images))), lambda i: decode_for(images[i], self.job.specs), workers=1, chunk=CHUNK
        ):
            chunk = [images[i] for i in part]
            rows += explain_chunk(self.models, self.job, chunk, [todo[i] for i in part], decoded, self.trust)
        return as_arrow(rows)


ITEM_COLUMNS = ("path", "name", "true_label", "error", "box", "parts", "distractors", "todo")


def as_item(image: BatchImage, pairs) -> dict:
    """An image and its (model index, method) pairs as a row of strings, as Ray Data hands it to a worker."""
    return {
        "path": image.path,
        "name": image.name,
        "true_label": image.true_label,
        "error": image.error,
        "box": None if image.box is None else json.dumps(list(image.box)),
        "parts": image.parts,
        "distractors": image.distractors,
        "todo": json.dumps(pairs),
    }


def as_image(item: dict) -> BatchImage:
    """The image of a row made by `as_item`."""
    box = None if item["box"] is None else tuple(float(v) for v in json.loads(item["box"]))
    fields = ("path", "name", "true_label", "error", "parts", "distractors")
    return BatchImage(**{name: item[name] for name in fields}, box=box)


def _sizes(ray, workers: int | None, local: bool) -> tuple[int, float, int, int]:
    """(workers, CPUs per worker, TensorFlow threads per worker, GPUs per worker): one worker per GPU where the
    cluster has GPUs, else one per node (one on this machine); CPUs shared out, SPARE_CPU left for Ray's tasks."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    nodes = [node for node in ray.nodes() if node.get("Alive") and node["Resources"].get("CPU", 0) > 0]
    if workers is None:
        workers = gpus or (1 if local else max(1, len(nodes)))
    total = float(resources.get("CPU", 1))
    largest = max((float(node["Resources"]["CPU"]) for node in nodes), default=total)
    per_worker = max(0.5, min(largest, total / workers) - SPARE_CPU)
    if per_worker * workers > total - SPARE_CPU + 1e-9 and workers > 1:
        per_worker = max(0.25, (total - SPARE_CPU) / workers)
    return workers, per_worker, max(1, math.ceil(per_worker)), 1 if gpus >= workers and gpus else 0


def run_ray(
    job: Job,
    images: Sequence[BatchImage],
    todo: Sequence,
    emit: Callable[[list[dict]], None],
    *,
    address: str | None = None,
    workers: int | None = None,
) -> None:
    """Explains `images` on Ray Data (see the module's description), handing each actor call's rows to `emit`."""
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise UserError("--engine ray needs Ray Data (pip install 'ray[data]>=2.60').") from error
    import logging

    import pyarrow as pa

    runtime_env = {
        "env_vars": {
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        }
    }
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(
                address=address,
                num_cpus=os.cpu_count() if address is None else None,
                include_dashboard=False if address is None else None,
                log_to_driver=False,
                logging_level=logging.WARNING,
                runtime_env=runtime_env,
            )
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise UserError(f"Ray could not start or reach {address or 'a local cluster'}: {error}") from error
    try:
        # Our progress line replaces Ray Data's, and our sentence its traceback when a worker dies.
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        count, cpus, threads, gpus = _sizes(ray, workers, address is None)
        items = [as_item(image, pairs) for image, pairs in zip(images, todo, strict=True)]
        # One block per actor call, so each call's rows come back (and are written) as soon as it ends; blocks of
        # several calls came back only when the whole block was done.
        columns = pa.schema([(name, pa.string()) for name in ITEM_COLUMNS])
        blocks = [pa.Table.from_pylist(items[i : i + RAY_BATCH], columns) for i in range(0, len(items), RAY_BATCH)]
        dataset = ray.data.from_arrow(blocks)
        with warnings.catch_warnings():  # ray_remote_args is deprecated, but the only way to say max_restarts
            warnings.simplefilter("ignore", category=DeprecationWarning)
            explained = dataset.map_batches(
                Explainer,
                fn_constructor_kwargs={"job": job, "threads": threads},
                batch_size=RAY_BATCH,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=count),
                num_cpus=cpus,
                num_gpus=gpus,
                runtime_env=runtime_env,
                **NO_RESTARTS,
            )
        # Without prefetching: a prefetched iterator hands over each call's rows only when the next call ends.
        try:
            for block in explained.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0):
                emit(block.to_pylist())
        except ray.exceptions.RayActorError as error:
            raise WorkerDied(
                "a Ray worker process died before finishing its images (killed, out of memory, or its node was lost)"
            ) from error
    finally:
        if started_here:
            ray.shutdown()
