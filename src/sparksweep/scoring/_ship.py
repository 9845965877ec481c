"""How a scoring model's files reach the Python workers, and their load once per worker process.

The driver zips the model folder (in memory) and names the zip by its sha256. How the zip travels depends on the
session:

* a classic session: in a Spark broadcast (:class:`BroadcastModel`), sent once per executor;
* a Spark Connect session (no ``sparkContext``, no broadcast), a zip of up to :data:`INLINE_BYTES`: inside the
  UDF's closure (:class:`InlineModel`), so Spark ships it with the plan; nothing is written anywhere;
* a Spark Connect session and a bigger zip: written once to ``staging_dir``, a path every executor can read (a local
  folder in local mode, a Unity Catalog volume or a cloud URI on a cluster, through ``pyarrow.fs``) and read by each
  worker, which checks its sha256 before unpacking it (:class:`StagedModel`); the file is removed when the job ends.

A worker unpacks the zip into a temporary folder removed as soon as the model is in memory, and keeps the loaded
model by its sha256 (:func:`worker_model`), so it loads each model once however it travelled.

Example:
    >>> shipped = ship_model(spark, "/path/to/model", staging_dir=None)  # doctest: +SKIP
    >>> worker_model(shipped)  # in a Python worker  # doctest: +SKIP
"""

from __future__ import annotations

import abc
import hashlib
import io
import logging
import tempfile
import threading
import uuid
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparksweep.errors import DataError

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem
    from pyspark import Broadcast
    from pyspark.sql import SparkSession

__all__ = [
    "INLINE_BYTES",
    "MAX_INLINE_BYTES",
    "BroadcastModel",
    "InlineModel",
    "ShippedModel",
    "StagedModel",
    "load_zipped_model",
    "ship_model",
    "worker_model",
    "zip_model",
]

INLINE_BYTES = 16 * 1024 * 1024
"""On Spark Connect, a zipped model up to this size rides in the UDF's closure; a bigger one is staged when a
``staging_dir`` is given (measured in the README, "On Databricks Standard access mode and serverless")."""
MAX_INLINE_BYTES = 64 * 1024 * 1024
"""Without a ``staging_dir``, the biggest zip sent in the plan: a bigger plan strains the Connect server's gRPC
limit (128 MB by default) and its driver memory, so scoring asks for a ``staging_dir`` instead."""
_CACHED_MODELS = 4
"""Models kept per Python worker process (a long-lived worker may score with several models in turn)."""
_models: OrderedDict[str, Any] = OrderedDict()
"""sha256 -> the loaded python model, in this (worker) process; a cache of immutable models, not run state."""
_lock = threading.Lock()
_log = logging.getLogger(__name__)


class ShippedModel(abc.ABC):
    """A model's zipped files on their way to the Python workers, named by their sha256 (``digest``)."""

    digest: str

    @abc.abstractmethod
    def payload(self) -> bytes:
        """The zip's bytes (called in a Python worker, once per process and model)."""

    @abc.abstractmethod
    def release(self) -> None:
        """Free what carries the model once no job needs it any more."""

    @property
    def holds_files(self) -> bool:
        """Whether :meth:`release` removes files (a lazily scored DataFrame releases them when the process exits)."""
        return False


@dataclass(frozen=True)
class BroadcastModel(ShippedModel):
    """The zip in a Spark broadcast (classic sessions)."""

    digest: str
    broadcast: Broadcast[bytes] = field(repr=False)

    def payload(self) -> bytes:
        return self.broadcast.value

    def release(self) -> None:
        """Drop the broadcast from the driver and the executors."""
        self.broadcast.destroy()


@dataclass(frozen=True)
class InlineModel(ShippedModel):
    """The zip itself, pickled with the UDF that holds it (Spark Connect, small models)."""

    digest: str
    data: bytes = field(repr=False)

    def payload(self) -> bytes:
        return self.data

    def release(self) -> None:
        """Nothing to free: the zip went with the job."""


@dataclass(frozen=True)
class StagedModel(ShippedModel):
    """The zip in a file on a path every executor can read (Spark Connect, big models)."""

    digest: str
    uri: str
    size: int

    def payload(self) -> bytes:
        """Read the file and check its sha256 before anything unpacks it."""
        filesystem, path = _filesystem(self.uri)
        with filesystem.open_input_stream(path) as stream:
            data = bytes(stream.read())
        got = hashlib.sha256(data).hexdigest()
        if got != self.digest:
            raise DataError(
                f"the staged model {self.uri} has sha256 {got} ({len(data)} bytes), not the {self.digest} "
                f"({self.size} bytes) the driver wrote: it was changed or is incomplete. Score again (each job "
                "stages its own copy)"
            )
        return data

    def release(self) -> None:
        """Remove the staged file (already gone is fine: a lazily scored frame releases it at exit as well)."""
        from pyarrow import fs

        filesystem, path = _filesystem(self.uri)
        if filesystem.get_file_info(path).type != fs.FileType.NotFound:
            filesystem.delete_file(path)

    @property
    def holds_files(self) -> bool:
        return True


def _filesystem(uri: str) -> tuple[FileSystem, str]:
    """The pyarrow filesystem of a staging path (a local path, absolute or relative, or a URI) and the path in it."""
    from pyarrow import fs

    if "://" not in uri:
        return fs.LocalFileSystem(), str(Path(uri).resolve())
    try:
        return fs.FileSystem.from_uri(uri)  # type: ignore[no-any-return]
    except (ValueError, OSError) as exc:
        raise DataError(
            f"staging_dir {uri!r} is not a location pyarrow can open ({exc}); use a local folder (local mode), a "
            "Unity Catalog volume (/Volumes/<catalog>/<schema>/<volume>/...) or a cloud URI (s3://, gs://, abfss://)"
        ) from exc


def zip_model(local: str | Path) -> bytes:
    """The files of a model folder as zip bytes (in memory)."""
    buffer = io.BytesIO()
    root = Path(local)
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            archive.write(file, file.relative_to(root).as_posix())
    return buffer.getvalue()


def stage_model(payload: bytes, digest: str, staging_dir: str) -> StagedModel:
    """Write the zip into ``staging_dir`` under a name of its own (two jobs never share, or remove, one file)."""
    filesystem, folder = _filesystem(staging_dir)
    name = f"sparksweep-model-{digest[:16]}-{uuid.uuid4().hex[:12]}.zip"
    uri = f"{staging_dir.rstrip('/')}/{name}" if "://" in staging_dir else f"{folder.rstrip('/')}/{name}"
    try:
        filesystem.create_dir(folder, recursive=True)
        with filesystem.open_output_stream(f"{folder.rstrip('/')}/{name}") as out:
            out.write(payload)
    except OSError as exc:
        raise DataError(
            f"the model cannot be staged in staging_dir {staging_dir!r}: {exc}. Give a folder this process can "
            "write and every executor can read (a Unity Catalog volume /Volumes/<catalog>/<schema>/<volume>/..., "
            "or a cloud path)"
        ) from exc
    return StagedModel(digest=digest, uri=uri, size=len(payload))


def ship_model(spark: SparkSession, local: str | Path, staging_dir: str | None = None) -> ShippedModel:
    """Zip the model folder ``local`` for ``spark``'s executors; the folder may be removed as soon as this returns.

    A classic session gets a broadcast. A Spark Connect session gets the zip inline up to :data:`INLINE_BYTES`,
    staged in ``staging_dir`` above it; without ``staging_dir``, inline up to :data:`MAX_INLINE_BYTES`.

    Raises:
        DataError: on Spark Connect, a model over :data:`MAX_INLINE_BYTES` and no ``staging_dir``, or a
            ``staging_dir`` that cannot be written.
    """
    from sparksweep._spark import is_remote

    payload = zip_model(local)
    digest = hashlib.sha256(payload).hexdigest()
    if not is_remote(spark):
        return BroadcastModel(digest=digest, broadcast=spark.sparkContext.broadcast(payload))
    if len(payload) <= INLINE_BYTES:
        return InlineModel(digest=digest, data=payload)
    if staging_dir is not None:
        return stage_model(payload, digest, staging_dir)
    megabytes = f"{len(payload) / 2**20:.0f} MB"
    if len(payload) > MAX_INLINE_BYTES:
        raise DataError(
            f"the model's files are {megabytes} zipped, too big to send inside the Spark Connect plan (at most "
            f"{MAX_INLINE_BYTES // 2**20} MB); give staging_dir (--staging-dir): a folder every executor can read, "
            "such as a Unity Catalog volume /Volumes/<catalog>/<schema>/<volume>/tmp"
        )
    _log.warning(
        "the model's files are %s zipped, sent inside the Spark Connect plan (to every task); give staging_dir "
        "(--staging-dir) to stage them once on a path the executors read",
        megabytes,
    )
    return InlineModel(digest=digest, data=payload)


def load_zipped_model(payload: bytes) -> Any:
    """Load a zipped pyfunc model and return its python model; the unpacked files are removed once it is loaded."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="sparksweep-model-") as tmp:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            archive.extractall(tmp)
        return mlflow.pyfunc.load_model(tmp).unwrap_python_model()


def worker_model(shipped: ShippedModel) -> Any:
    """The python model of ``shipped``, loaded at most once per process (runs in the Python workers; concurrent
    tasks of one worker process wait for one load)."""
    with _lock:
        model = _models.get(shipped.digest)
        if model is None:
            model = load_zipped_model(shipped.payload())
            _models[shipped.digest] = model
            while len(_models) > _CACHED_MODELS:
                _models.popitem(last=False)
        else:
            _models.move_to_end(shipped.digest)
        return model
