"""Training data for workers that cannot receive a broadcast (Spark Connect): inside the task, or staged on storage.

Small data rides inside each trial's task (:class:`InlineData`: the pickled bytes). Larger data is written once, by
the driver, to a file under a path every executor can read (:class:`StagedData`: a local folder in local mode, a
Unity Catalog volume ``/Volumes/...`` or a cloud path ``s3://``/``gs://``/``abfss://`` on a cluster, through
``pyarrow.fs``); a worker checks the file's sha256 before it unpickles it. Either way the worker keeps the loaded data
per process by its fingerprint (see :mod:`sparksweep.worker`), so each Python worker loads it once per sweep.
:class:`Stage` removes what it wrote when the sweep ends.

The switch between the two (:data:`INLINE_LIMIT`) is measured in ``benchmarks/bench_connect.py``; the README's
"On Databricks Standard access mode and serverless" says why it lies there.
"""

from __future__ import annotations

import hashlib
import pickle
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sparksweep.errors import DataError

if TYPE_CHECKING:
    from sparksweep.data import TrainingData

__all__ = ["INLINE_LIMIT", "InlineData", "Stage", "StagedData", "pickled"]

INLINE_LIMIT = 4 * 1024 * 1024
"""Pickled training data up to this many bytes rides inside each trial's task; larger data is staged once."""

_FIX = (
    "Set spark.staging_dir to a folder this driver can write and every executor can read (a Unity Catalog volume "
    "/Volumes/<catalog>/<schema>/<volume>/sparksweep, or a cloud path such as s3://bucket/sparksweep)"
)


def pickled(data: TrainingData) -> bytes:
    return pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)


@dataclass(frozen=True)
class InlineData:
    """A data handle that carries the pickled data itself."""

    fingerprint: str
    blob: bytes = field(repr=False)

    def load(self) -> TrainingData:
        return pickle.loads(self.blob)  # type: ignore[no-any-return]  # bytes this sweep's driver pickled


@dataclass(frozen=True)
class StagedData:
    """A data handle backed by a file the driver staged: its URI (or local path), size and sha256."""

    fingerprint: str
    uri: str
    sha256: str
    size: int

    def verify(self) -> bytes:
        """The file's bytes, checked against the sha256 the driver wrote.

        Raises:
            DataError: the file is not what the driver wrote (changed, or incomplete).
        """
        blob = read_bytes(self.uri)
        digest = hashlib.sha256(blob).hexdigest()
        if digest != self.sha256:
            raise DataError(
                f"the staged training data {self.uri} has sha256 {digest} ({len(blob)} bytes), not the {self.sha256} "
                f"({self.size} bytes) the driver wrote: it was changed or is incomplete. Run the sweep again (each "
                "sweep stages its own copy)"
            )
        return blob

    def load(self) -> TrainingData:
        """Read the file, check its sha256, then unpickle it (the worker caches the result per process)."""
        return pickle.loads(self.verify())  # type: ignore[no-any-return]  # checked: the bytes the driver wrote


def _filesystem(uri: str) -> tuple[Any, str]:
    from pyarrow import fs

    try:
        filesystem, path = fs.FileSystem.from_uri(uri)
    except Exception as exc:  # pyarrow's error for a scheme it has no filesystem for, or a relative path
        raise DataError(
            f"spark.staging_dir {uri!r} is not a location pyarrow can open ({exc}); use an absolute local path, a "
            "Unity Catalog volume (/Volumes/<catalog>/<schema>/<volume>/...) or a cloud URI (s3://, gs://, abfss://)"
        ) from exc
    return filesystem, str(path)


def read_bytes(uri: str) -> bytes:
    filesystem, path = _filesystem(uri)
    with filesystem.open_input_stream(path) as stream:
        return bytes(stream.read())


class Stage:
    """Files one sweep stages in a folder of its own under ``root`` (a temporary local folder when None), removed
    by :meth:`remove`.

    Raises:
        DataError: ``root`` is not a location pyarrow can open.
    """

    def __init__(self, root: str | None) -> None:
        self._local = root is None
        base = tempfile.mkdtemp(prefix="sparksweep-staging-") if root is None else root.rstrip("/")
        self.folder = base if root is None else f"{base}/sparksweep-{uuid.uuid4().hex[:12]}"
        self._filesystem, self._path = _filesystem(self.folder)
        self._written = False

    def write(self, data: TrainingData, blob: bytes | None = None) -> StagedData:
        """Write ``data`` (its pickle ``blob``, if already made) once, and return the handle trials carry.

        Raises:
            DataError: the folder cannot be written, with the path and the fix.
        """
        blob = pickled(data) if blob is None else blob
        name = f"{data.fingerprint}.pkl"
        try:
            self._filesystem.create_dir(self._path, recursive=True)
            self._written = True
            with self._filesystem.open_output_stream(f"{self._path}/{name}") as out:
                out.write(blob)
        except OSError as exc:
            raise DataError(
                f"the training data cannot be staged under spark.staging_dir {self.folder!r}: {exc}. {_FIX}"
            ) from exc
        return StagedData(
            fingerprint=data.fingerprint,
            uri=f"{self.folder}/{name}",
            sha256=hashlib.sha256(blob).hexdigest(),
            size=len(blob),
        )

    def remove(self) -> None:
        """Delete the sweep's folder and what it holds (nothing happens when nothing was written)."""
        if self._written or self._local:
            self._filesystem.delete_dir(self._path)
            self._written = self._local = False


def unreadable(uri: str, cause: str) -> DataError:
    """The error when the executors cannot read the data staged at ``uri``."""
    return DataError(f"the Spark executors cannot read the training data staged at {uri}: {cause}. {_FIX}")
