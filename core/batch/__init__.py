"""Explaining a whole image collection: every image by each model with each method, into one Parquet table with
the maps, overlays, boxes and (when asked) trust metrics; resumable, and the same rows from the local engine
(`local.py`) and from Ray Data (`ray_engine.py`, on this machine or an existing cluster).

inputs.py  the images a folder, CSV, annotations.json or glob names
job.py     the job and the work on one chunk, the same in every engine
table.py   the columns, part files, the combined table and the manifest
run.py     a run: what is left, the engine, progress, the table at the end (also when cut short)
trust.py   the hook through which the trust metrics reach the rows
"""

from core.batch.inputs import BatchImage, find_images
from core.batch.job import Job
from core.batch.run import ENGINES, Progress, Summary, run_batch
from core.batch.table import MANIFEST, TABLE, read_manifest, read_table

__all__ = [
    "ENGINES",
    "MANIFEST",
    "TABLE",
    "BatchImage",
    "Job",
    "Progress",
    "Summary",
    "find_images",
    "read_manifest",
    "read_table",
    "run_batch",
]
