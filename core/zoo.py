"""The ImageNet pair from keras.applications: ResNet50V2 and EfficientNetB1 with ImageNet weights.

Their specs are always known (`imagenet_models`) and `ready` once the weights file is in the Keras
cache (`$KERAS_HOME/models`, by default `~/.keras/models`, the file names keras.applications itself
uses, so either fills the cache for the other). `download` fetches a file with a progress callback
and checks its MD5 (the hashes keras.applications pins); offline it raises one ModelError sentence.
The 1000 ImageNet class names ship in models/imagenet_class_index.json (byte for byte the file
Keras's `decode_predictions` downloads: MD5 c2c37ea517e94d9795004a39431a14cb).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.errors import ModelError
from core.model_files import read_labels
from core.spec import MODELS_DIR, ModelSpec

IMAGENET_LABELS = MODELS_DIR / "imagenet_class_index.json"
Progress = Callable[[int, int], None]  # (bytes done, bytes in all; 0 when unknown)


@dataclass(frozen=True)
class ZooModel:
    name: str
    architecture: str  # the keras.applications constructor
    file_name: str  # as keras.applications names it in the cache
    url: str
    md5: str
    megabytes: int  # approximate download size, shown before downloading
    input_size: tuple[int, int]
    preprocessing: str
    gradcam_layer: str
    description: str


ZOO = (
    ZooModel(
        "resnet50v2",
        "ResNet50V2",
        "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
        "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5",
        "3ef43a0b657b3be2300d5770ece849e0",
        103,
        (224, 224),
        "resnet_v2",
        "post_relu",
        "ResNet50V2 (He et al. 2016) trained on ImageNet-1k, 25.6 M parameters.",
    ),
    ZooModel(
        "efficientnetb1",
        "EfficientNetB1",
        "efficientnetb1.h5",
        "https://storage.googleapis.com/keras-applications/efficientnetb1.h5",
        "1d254153d4ab51201f1646940f018540",
        32,
        (240, 240),
        "efficientnet",
        "top_activation",
        "EfficientNetB1 (Tan & Le 2019) trained on ImageNet-1k, 7.9 M parameters.",
    ),
)


def cache_dir() -> Path:
    """Where keras.applications keeps downloaded weights: $KERAS_HOME/models, else ~/.keras/models."""
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = Path.home()
        home = str((base if os.access(base, os.W_OK) else Path("/tmp")) / ".keras")
    return Path(home).expanduser() / "models"


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in class order ("tench", "goldfish", ..., "golden retriever", ...)."""
    return read_labels(IMAGENET_LABELS)


def imagenet_models() -> list[ModelSpec]:
    """Specs of the ImageNet pair; `ready` is False until the weights are in the cache."""
    folder = cache_dir()
    return [
        ModelSpec(
            name=entry.name,
            path=folder / entry.file_name,
            input_size=entry.input_size,
            labels=imagenet_labels(),
            preprocessing=entry.preprocessing,
            colour_mode="rgb",
            output="softmax",
            gradcam_layer=entry.gradcam_layer,
            card={
                "name": entry.name,
                "architecture": entry.description,
                "url": entry.url,
                "md5": entry.md5,
                "download_megabytes": entry.megabytes,
                "labels_file": IMAGENET_LABELS.name,
            },
            format="applications",
            architecture=entry.architecture,
        )
        for entry in ZOO
    ]


def download(spec: ModelSpec, progress: Progress | None = None, *, timeout: float = 30.0) -> Path:
    """Downloads the spec's weights into the cache (once; a ready spec returns at once), calling
    `progress(done_bytes, total_bytes)` as bytes arrive. The file is written to a temporary name and
    moved into place only after its MD5 matches. Raises ModelError with one sentence on any failure."""
    url, md5 = spec.card.get("url"), spec.card.get("md5")
    if not url:
        raise ModelError(f"{spec.name} is not a model that can be downloaded.")
    target = Path(spec.path)
    if target.exists():
        size = target.stat().st_size
        if progress:
            progress(size, size)
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as error:
        raise ModelError(
            f"The weights of {spec.name} cannot be saved in {target.parent} ({error.strerror})."
        ) from error
    digest = hashlib.md5()
    try:
        with os.fdopen(handle, "wb") as file, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            if progress:
                progress(0, total)
            while chunk := response.read(1 << 20):
                file.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        if md5 and digest.hexdigest() != md5:
            raise ModelError(
                f"The weights downloaded for {spec.name} are damaged (their checksum does not match); try again."
            )
        os.replace(partial, target)
    except ModelError:
        _remove(partial)
        raise
    except (urllib.error.URLError, OSError, ValueError) as error:  # offline, refused, timed out, disk full
        _remove(partial)
        reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
        raise ModelError(
            f"The ImageNet weights of {spec.name} could not be downloaded ({reason}); check the internet "
            f"connection, or copy {target.name} into {target.parent}."
        ) from error
    return target


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
