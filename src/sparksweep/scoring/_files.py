"""File-to-file scoring: Spark schedules the tasks, and each task reads its slice of the parquet input with pyarrow,
scores it and writes its own part file, so no row passes through the JVM.

On a Spark UDF, every row goes JVM parquet reader -> Arrow -> socket -> Python -> Arrow -> socket -> JVM parquet
writer. With a fast model (LightGBM scores ~0.5M rows/s per core) that transfer and the JVM's parquet IO cost about
as much as the model, and on a small machine they compete with it for the same cores. Here the driver lists the
input's parquet files and row groups (footers only), splits the rows evenly into one task per task slot (more for
big inputs), and runs one DataFrame job (``spark.range`` with one row per task, through ``mapInArrow``: no RDD, so
it runs on Spark Connect too) whose tasks each

* read the row groups of their rows, only the key and feature columns, with pyarrow;
* score them with the model shipped as the UDF's is (a broadcast, or on Spark Connect inside the job or staged;
  see :mod:`sparksweep.scoring._ship`) and loaded once per Python worker (as the UDF does, same predictions and
  output columns);
* write one part file into a staging folder next to the output, and return its name and row count.

The driver then replaces the output with the staged parts (plus ``_SUCCESS``): a failed job leaves the old output
as it was, and a retried task's partial file is never committed (each attempt writes its own file; only the files
the job returned are moved). Paths may be local or any URI pyarrow opens (``s3://``, ``gs://``, ``hdfs://``); on a
cluster they must be reachable from every executor, as for any Spark read.

Example:
    >>> source = parquet_source("users.parquet")  # doctest: +SKIP
    >>> rows = score_files(spark, source, "scores.parquet", job)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sparksweep.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyarrow.fs import FileSystem
    from pyspark.sql import SparkSession

    from sparksweep.scoring._ship import ShippedModel

__all__ = [
    "TASK_ROWS",
    "FileJob",
    "ParquetSource",
    "Piece",
    "check_paths",
    "output_schema",
    "parquet_source",
    "plan_pieces",
    "score_files",
    "staging_folder",
    "task_count",
]

TASK_ROWS = 4_000_000
"""At most this many rows per task (about a minute of scoring for a big model): big inputs get more tasks than slots,
in whole waves, so a failed task redoes little."""
_ARROW_TYPES = {"long": "int64", "integer": "int32", "double": "float64", "float": "float32", "boolean": "bool"}


def _filesystem(path: str) -> tuple[FileSystem, str]:
    """The pyarrow filesystem of ``path`` (a local path, absolute or relative, or a URI) and the path in it."""
    from pyarrow import fs

    if "://" not in path:
        return fs.LocalFileSystem(), str(Path(path).resolve())
    return fs.FileSystem.from_uri(path)  # type: ignore[no-any-return]


def _absolute(path: str) -> str:
    """``path`` as the executors must see it: local paths made absolute (Spark's executors need not share the
    driver's working directory), URIs unchanged."""
    return path if "://" in path else str(Path(path).resolve())


@dataclass(frozen=True)
class ParquetSource:
    """A parquet file or flat folder of parquet files, as pyarrow sees it: its files, each with its row groups' row
    counts, and the schema of the first file (the one Spark would use too, without ``mergeSchema``)."""

    uri: str
    """the input as given (local paths made absolute): the executors open its filesystem from it"""
    files: list[tuple[str, list[int]]]
    """(path in that filesystem, the rows of each row group)"""
    schema: pa.Schema

    @property
    def rows(self) -> int:
        return sum(sum(groups) for _, groups in self.files)


def parquet_source(path: str) -> ParquetSource | None:
    """The parquet file or flat folder at ``path``, or None where the file path does not apply and Spark's own reader
    must read it: a csv, a filesystem pyarrow does not know (Hadoop's ``s3a://``), a folder partitioned into
    ``key=value`` sub-folders (Spark adds those columns), or no parquet files at all."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import fs

    if path.lower().endswith(".csv"):
        return None
    try:
        filesystem, root = _filesystem(path)
    except (ValueError, OSError):  # an unknown scheme (s3a://) or a filesystem pyarrow cannot reach from here
        return None
    kind = filesystem.get_file_info(root).type
    if kind == fs.FileType.File:
        names = [root]
    elif kind == fs.FileType.Directory:
        base = root.rstrip("/") + "/"
        entries = filesystem.get_file_info(fs.FileSelector(root, recursive=True))
        # Spark and pyarrow skip names starting with "_" or "." (_SUCCESS, .crc files, staging folders)
        relative = [e.path.removeprefix(base) for e in entries if e.type == fs.FileType.File]
        visible = [r for r in relative if not any(part.startswith(("_", ".")) for part in r.split("/"))]
        if any("/" in r for r in visible):  # key=value partition folders: Spark's reader adds those columns
            return None
        names = sorted(base + r for r in visible)
    else:
        return None
    if not names:
        return None
    files: list[tuple[str, list[int]]] = []
    schema = None
    for name in names:
        with filesystem.open_input_file(name) as handle:
            try:
                reader = pq.ParquetFile(handle, coerce_int96_timestamp_unit="us")
            except pa.ArrowInvalid as exc:
                raise DataError(
                    f"{name!r} in the input {path!r} is not a parquet file ({exc}); remove it from the folder, or "
                    "give a csv as a file of its own"
                ) from exc
            meta = reader.metadata
            files.append((name, [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]))
            schema = schema if schema is not None else reader.schema_arrow
    return ParquetSource(uri=_absolute(path), files=files, schema=schema)


def task_count(rows: int, slots: int) -> int:
    """Tasks for ``rows``: one per task slot, in as many whole waves as keep each under :data:`TASK_ROWS` rows
    (never more tasks than rows)."""
    waves = max(1, -(-rows // (slots * TASK_ROWS)))
    return max(1, min(slots * waves, rows))


@dataclass(frozen=True)
class Piece:
    """Rows ``start:stop`` of one row group of one parquet file: part of one task's share."""

    path: str
    row_group: int
    start: int
    stop: int


def plan_pieces(source: ParquetSource, tasks: int) -> list[list[Piece]]:
    """Split the input's rows into ``tasks`` contiguous, even shares (in file and row-group order, so the part files
    keep the input's row order). A row group that two shares split is read by both tasks, each keeping its rows."""
    total = source.rows
    bounds = [total * i // tasks for i in range(tasks + 1)]
    shares: list[list[Piece]] = [[] for _ in range(tasks)]
    offset = 0
    task = 0
    for path, groups in source.files:
        for index, rows in enumerate(groups):
            begin, end = offset, offset + rows
            while task < tasks and bounds[task] < end:
                lo, hi = max(begin, bounds[task]), min(end, bounds[task + 1])
                if hi > lo:
                    shares[task].append(Piece(path, index, lo - begin, hi - begin))
                if bounds[task + 1] <= end:
                    task += 1
                else:
                    break
            offset = end
    return shares


def output_schema(source: ParquetSource, keep: list[str], task: str, prediction_col: str) -> pa.Schema:
    """The output's columns: the kept input columns (timestamps in microseconds, as Spark keeps them) and the
    prediction column(s), as the UDF path writes them."""
    import pyarrow as pa

    fields = []
    for name in keep:
        field = source.schema.field(name)
        if pa.types.is_timestamp(field.type):
            field = field.with_type(pa.timestamp("us", tz=field.type.tz))
        fields.append(pa.field(name, field.type))
    if task == "multiclass":
        fields += [pa.field("probabilities", pa.list_(pa.float64())), pa.field(prediction_col, pa.string())]
    else:
        fields.append(pa.field(prediction_col, pa.float64()))
    return pa.schema(fields)


@dataclass(frozen=True)
class FileJob:
    """What every task needs: the shipped model, the columns, and where its part file goes."""

    shipped: ShippedModel
    task: str
    classes: list[str]
    features: list[str]
    keep: list[str]
    casts: dict[str, str]
    """feature -> the model's MLflow type, for the safe widenings (int -> double) the UDF path casts too"""
    threads: int
    matrix: bool
    source: str
    """the input's URI (its filesystem)"""
    output: str
    """the output's URI (its filesystem)"""
    staging: str
    """the staging folder, a path in the output's filesystem"""
    schema: pa.Schema


def _score_share(job: FileJob, shares: Iterable[tuple[int, list[Piece]]]) -> Iterator[tuple[str, int]]:
    """Runs in a Spark task: score this task's pieces into one part file; yields (its path, its rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from pyspark import TaskContext
    from threadpoolctl import threadpool_limits

    from sparksweep.scoring._ship import worker_model
    from sparksweep.scoring._udf import predict_columns, prediction_arrays

    model = worker_model(job.shipped)
    labels = np.asarray(job.classes, dtype=object)
    context = TaskContext.get()
    attempt = context.attemptNumber() if context is not None else 0
    columns = list(dict.fromkeys(job.keep + job.features))
    source_fs, _ = _filesystem(job.source)
    output_fs, _ = _filesystem(job.output)
    for index, pieces in shares:
        part = f"{job.staging}/part-{index:05d}-{attempt}.snappy.parquet"  # each attempt its own file
        rows = 0
        readers: dict[str, pq.ParquetFile] = {}
        with (
            contextlib.ExitStack() as files,
            contextlib.nullcontext() if job.matrix else threadpool_limits(limits=job.threads),
        ):
            writer = files.enter_context(
                pq.ParquetWriter(
                    part, job.schema, filesystem=output_fs, coerce_timestamps="us", allow_truncated_timestamps=True
                )
            )
            for piece in pieces:
                reader = readers.get(piece.path)
                if reader is None:
                    handle = files.enter_context(source_fs.open_input_file(piece.path))
                    reader = readers[piece.path] = pq.ParquetFile(handle, coerce_int96_timestamp_unit="us")
                table = reader.read_row_group(piece.row_group, columns=columns, use_threads=False)
                table = table.slice(piece.start, piece.stop - piece.start)
                inputs = [
                    (pc.cast(table.column(c), _ARROW_TYPES[job.casts[c]]) if c in job.casts else table.column(c))
                    for c in job.features
                ]
                arrays = [c.combine_chunks() for c in inputs]
                values = predict_columns(model, arrays, job.features, job.threads, job.matrix)
                predicted = prediction_arrays(values, labels)
                kept = [table.column(c).cast(job.schema.field(c).type, safe=False) for c in job.keep]
                writer.write_table(pa.Table.from_arrays([*kept, *predicted], schema=job.schema))
                rows += table.num_rows
        yield part, rows


def staging_folder(output: str) -> str:
    """A fresh folder next to ``output`` (a path in its filesystem) for the part files; its leading ``_`` hides it
    from parquet readers listing the parent."""
    _, target = _filesystem(output)
    parent, _, name = target.rstrip("/").rpartition("/")
    return f"{parent}/_{name}.sparksweep-{uuid.uuid4().hex[:12]}"


def check_paths(source: ParquetSource, output: str) -> None:
    """The output must not be the input, nor hold it, nor lie inside it: it is replaced when the job ends."""
    out = _absolute(output).rstrip("/")
    root = source.uri.rstrip("/")
    if out == root or root.startswith(out + "/") or out.startswith(root + "/"):
        raise DataError(
            f"the output {output!r} overlaps the input {source.uri!r}, which the job reads while it writes; "
            "write the scores to another path"
        )


def _commit(filesystem: FileSystem, parts: list[str], target: str) -> None:
    """Replace ``target`` by the staged part files and a ``_SUCCESS`` marker (as Spark's committer leaves)."""
    from pyarrow import fs

    kind = filesystem.get_file_info(target).type
    if kind == fs.FileType.Directory:
        filesystem.delete_dir(target)
    elif kind == fs.FileType.File:
        filesystem.delete_file(target)
    filesystem.create_dir(target)
    for part in parts:
        filesystem.move(part, f"{target}/{part.rpartition('/')[2]}")
    with filesystem.open_output_stream(f"{target}/_SUCCESS"):
        pass


def _run_shares(spark: SparkSession, job: FileJob, shares: list[list[Piece]]) -> list[tuple[str, int]]:
    """One DataFrame job of one task per share (``spark.range`` puts one id in each of its partitions); returns each
    part file written and its rows."""
    import pyarrow as pa

    schema = pa.schema([pa.field("part", pa.string()), pa.field("rows", pa.int64())])

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            mine = [(index, shares[index]) for index in batch.column("id").to_pylist()]
            written = list(_score_share(job, mine))
            yield pa.RecordBatch.from_arrays(
                [pa.array([p for p, _ in written], pa.string()), pa.array([r for _, r in written], pa.int64())],
                schema=schema,
            )

    frame = spark.range(0, len(shares), 1, len(shares)).mapInArrow(run, "part string, rows long")
    return [(str(row["part"]), int(row["rows"])) for row in frame.collect()]


def score_files(spark: SparkSession, source: ParquetSource, job: FileJob, tasks: int) -> int:
    """Score ``source`` into the parquet folder ``job.output`` in ``tasks`` Spark tasks; returns the rows written.

    The staging folder is created here and removed whether the job succeeds or fails; the output is replaced only
    once every task has written its part.
    """
    from pyarrow import fs

    filesystem, target = _filesystem(job.output)
    filesystem.create_dir(job.staging)
    try:
        results = _run_shares(spark, job, plan_pieces(source, tasks))
        _commit(filesystem, [part for part, _ in results], target)
        return sum(rows for _, rows in results)
    finally:
        if filesystem.get_file_info(job.staging).type != fs.FileType.NotFound:
            filesystem.delete_dir(job.staging)
