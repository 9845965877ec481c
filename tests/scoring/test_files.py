"""File-to-file scoring: parquet read and written by pyarrow in Spark tasks, against the UDF path and pandas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sparksweep.errors import DataError
from sparksweep.scoring import download_model, score_pandas, score_table
from sparksweep.scoring._driver import scoring_model
from sparksweep.scoring._files import ParquetSource, parquet_source, plan_pieces, task_count
from tests.conftest import FluentStore
from tests.scoring.test_batch import _fitted

FEATURES = ["a", "b", "c", "d"]


@pytest.fixture
def store(fluent_store: FluentStore) -> str:
    return fluent_store.uri


def _source(*files: list[int]) -> ParquetSource:
    return ParquetSource("/in", [(f"/in/{i}.parquet", groups) for i, groups in enumerate(files)], pa.schema([]))


def test_pieces_split_the_rows_evenly_in_order_and_cover_each_row_once() -> None:
    source = _source([100, 100, 50], [30], [])
    shares = plan_pieces(source, 3)
    assert [sum(p.stop - p.start for p in share) for share in shares] == [93, 93, 94]
    covered = [(p.path, p.row_group, row) for share in shares for p in share for row in range(p.start, p.stop)]
    expected = [(path, g, row) for path, groups in source.files for g, n in enumerate(groups) for row in range(n)]
    assert covered == expected, "every row once, in file and row-group order"
    assert (shares[1][0].row_group, shares[1][0].start) == (0, 93), "a row group split between two tasks"
    one_group = plan_pieces(_source([10]), 4)
    assert [[(p.start, p.stop) for p in share] for share in one_group] == [[(0, 2)], [(2, 5)], [(5, 7)], [(7, 10)]]
    assert [task_count(1_000_000, 2), task_count(1, 2), task_count(0, 2)] == [2, 1, 1]
    assert task_count(9_000_000, 2) == 4, "whole waves of tasks under TASK_ROWS rows each"


def _write_parquet(df: pd.DataFrame, path: Path, row_group_size: int = 64) -> str:
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=row_group_size)
    return str(path)


@pytest.mark.parametrize(
    ("task", "family"), [("binary", "lightgbm"), ("multiclass", "lightgbm"), ("regression", "xgboost")]
)
def test_files_path_gives_the_udf_paths_columns_and_the_pandas_values(
    spark: Any, store: str, tmp_path: Path, task: str, family: str
) -> None:
    uri, df, _ = _fitted(task, family, store)
    users = df.drop(columns=["y"]).assign(when=pd.Timestamp("2026-11-01"))
    data = _write_parquet(users, tmp_path / "users.parquet")  # 300 rows in 5 row groups, over 2 tasks
    spark.sparkContext.setJobGroup(f"files-{task}", "the file path runs one Spark job")
    try:
        files = score_table(uri, input_path=data, output_path=str(tmp_path / "files"), tracking_uri=store, spark=spark)
        assert len(spark.sparkContext.statusTracker().getJobIdsForGroup(f"files-{task}")) == 1
    finally:
        spark.sparkContext.setJobGroup("", "")
    arrow = score_table(
        uri, input_path=data, output_path=str(tmp_path / "arrow"), tracking_uri=store, spark=spark, udf="arrow"
    )
    assert (files.method, arrow.method) == ("files", "arrow")
    assert files.rows == arrow.rows == len(users)
    assert files.columns == arrow.columns, "same output columns as the UDF path"
    assert files.columns[:2] == ["user_id", "when"], "keys carried through, features left out"
    parts = sorted(p.name for p in (tmp_path / "files").iterdir())
    assert parts == ["_SUCCESS", "part-00000-0.snappy.parquet", "part-00001-0.snappy.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("_")) == [], "staging folder removed"
    ours = pd.read_parquet(tmp_path / "files")
    assert ours["user_id"].tolist() == users["user_id"].tolist(), "the input's row order, each row once"
    theirs = pd.read_parquet(tmp_path / "arrow").sort_values("user_id", ignore_index=True)
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-9)
    assert spark.read.parquet(str(tmp_path / "files")).schema == spark.read.parquet(str(tmp_path / "arrow")).schema
    expected = score_pandas(users, uri, tracking_uri=store, keep=["user_id"])
    if task == "multiclass":
        np.testing.assert_allclose(np.stack(ours["probabilities"]), np.stack(expected["probabilities"]), rtol=1e-9)
        assert ours["prediction"].tolist() == expected["prediction"].tolist()
    else:
        np.testing.assert_allclose(ours["prediction"].to_numpy(), expected["prediction"].to_numpy(), rtol=1e-9)


def test_a_column_mismatch_or_a_bad_output_fails_before_any_job(spark: Any, store: str, tmp_path: Path) -> None:
    uri, df, _ = _fitted("binary", "lightgbm", store)
    out = tmp_path / "out"
    missing = _write_parquet(df.drop(columns=["c", "y"]), tmp_path / "missing.parquet")
    text = _write_parquet(df.assign(b=df["b"].astype(str)), tmp_path / "text.parquet")
    good = _write_parquet(df, tmp_path / "good.parquet")
    clash = _write_parquet(df.assign(prediction=1.0), tmp_path / "clash.parquet")
    spark.sparkContext.setJobGroup("files-checks", "no job may start")
    try:
        with pytest.raises(DataError, match=r"lacks columns \['c'\]"):
            score_table(uri, input_path=missing, output_path=str(out), tracking_uri=store, spark=spark)
        with pytest.raises(DataError, match="'b' is string, the model takes double"):
            score_table(uri, input_path=text, output_path=str(out), tracking_uri=store, spark=spark)
        with pytest.raises(DataError, match=r"the columns to keep \['nope'\] are not in the input"):
            score_table(uri, input_path=good, output_path=str(out), keep=["nope"], tracking_uri=store, spark=spark)
        with pytest.raises(DataError, match="clash with the output's prediction columns"):
            score_table(uri, input_path=clash, output_path=str(out), tracking_uri=store, spark=spark)
        with pytest.raises(DataError, match="overlaps the input"):
            score_table(uri, input_path=good, output_path=good, tracking_uri=store, spark=spark)
        assert spark.sparkContext.statusTracker().getJobIdsForGroup("files-checks") == []
    finally:
        spark.sparkContext.setJobGroup("", "")
    assert not out.exists()
    # An int column is widened to the model's double, as on the UDF path.
    ints = df.drop(columns=["y"]).assign(a=df["a"].round().astype("int32"))
    report = score_table(
        uri, input_path=_write_parquet(ints, tmp_path / "ints.parquet"), output_path=str(out), tracking_uri=store,
        spark=spark,
    )  # fmt: skip
    expected = score_pandas(ints.assign(a=ints["a"].astype("float64")), uri, tracking_uri=store, keep=["user_id"])
    assert report.method == "files"
    np.testing.assert_allclose(pd.read_parquet(out)["prediction"], expected["prediction"], rtol=1e-9)


def test_spark_written_folders_are_read_and_outputs_replaced(spark: Any, store: str, tmp_path: Path) -> None:
    uri, df, _ = _fitted("binary", "sklearn.logistic_regression", store)
    users = df.drop(columns=["y"])
    folder = tmp_path / "users"
    spark.createDataFrame(users).repartition(3).write.parquet(str(folder))  # part files, .crc files, _SUCCESS
    source = parquet_source(str(folder))
    assert source is not None
    assert (len(source.files), source.rows) == (3, len(users))
    out = tmp_path / "scores.parquet"
    _write_parquet(users.head(5), out)  # an older output, a single file: replaced
    report = score_table(
        uri, input_path=str(folder), output_path=str(out), keep=["user_id"], tracking_uri=store, spark=spark
    )
    assert (report.method, report.rows) == ("files", len(users))
    got = pd.read_parquet(out).sort_values("user_id")
    expected = score_pandas(users, uri, tracking_uri=store, keep=["user_id"]).sort_values("user_id")
    np.testing.assert_allclose(got["prediction"].to_numpy(), expected["prediction"].to_numpy(), rtol=1e-9)
    # Inputs the file path does not read go through Spark's reader and the UDF.
    partitioned = tmp_path / "by_day"
    spark.createDataFrame(users.assign(day=users["user_id"] % 2)).write.partitionBy("day").parquet(str(partitioned))
    assert parquet_source(str(partitioned)) is None
    csv = tmp_path / "users.csv"
    users.to_csv(csv, index=False)
    for path in (partitioned, csv):
        report = score_table(
            uri, input_path=str(path), output_path=str(tmp_path / "other"), keep=["user_id"], tracking_uri=store,
            spark=spark,
        )  # fmt: skip
        assert (report.method, report.rows) == ("arrow", len(users))


def test_the_driver_keeps_a_registered_model_shipped_across_calls(spark: Any, store: str, tmp_path: Path) -> None:
    uri, _, _ = _fitted("binary", "lightgbm", store)
    first = scoring_model(spark, uri, store)
    again = scoring_model(spark, uri, store)
    assert first.cached
    assert again is first, "loaded and broadcast once"
    again.done()
    assert first.shipped.payload(), "a cached model's broadcast outlives the job"
    local = download_model(uri, store, dst=tmp_path / "model")
    models = [scoring_model(spark, local, store) for _ in range(2)]
    assert not models[0].cached
    assert models[1] is not models[0], "a local folder may change: loaded every time"
    for model in models:
        model.done()


def test_score_command_chooses_the_file_path_and_can_be_told_to_use_a_udf(
    spark: Any, store: str, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from sparksweep.cli import main

    uri, df, _ = _fitted("binary", "lightgbm", store)
    data = _write_parquet(df.drop(columns=["y"]), tmp_path / "users.parquet")
    for udf, method in ((None, "files"), ("arrow", "arrow")):
        args = ["score", "--model", uri, "--input", data, "--output", str(tmp_path / f"out-{method}")]
        args += ["--tracking-uri", store, "--spark-master", spark.sparkContext.master]
        result = CliRunner().invoke(main, args + (["--udf", udf] if udf else []), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert f"Scored 300 rows with {uri}" in result.output
        assert f", {method}) -> " in result.output


def test_parquet_sources_skip_hidden_files_and_name_a_stray_file(tmp_path: Path) -> None:
    folder = tmp_path / "users"
    folder.mkdir()
    for name in ("part-1.parquet", "part-0.parquet"):
        _write_parquet(pd.DataFrame({"a": np.arange(100.0)}), folder / name, row_group_size=40)
    (folder / "_SUCCESS").touch()
    (folder / ".part-0.parquet.crc").write_text("crc")
    (folder / "_temporary").mkdir()
    (folder / "_temporary" / "x").write_text("partial")
    source = parquet_source(str(folder))
    assert source is not None
    assert [(Path(p).name, groups) for p, groups in source.files] == [
        ("part-0.parquet", [40, 40, 20]),
        ("part-1.parquet", [40, 40, 20]),
    ]
    assert parquet_source(str(tmp_path / "users.csv")) is None
    assert parquet_source("s3a://bucket/users") is None, "Hadoop's scheme: Spark's reader"
    (folder / "day=1").mkdir()
    _write_parquet(pd.DataFrame({"a": [1.0]}), folder / "day=1" / "p.parquet")
    assert parquet_source(str(folder)) is None, "partition folders: Spark's reader"
    (folder / "day=1" / "p.parquet").unlink()
    (folder / "day=1").rmdir()
    (folder / "notes.txt").write_text("not parquet")
    with pytest.raises(DataError, match=r"notes.txt' in the input .* is not a parquet file"):
        parquet_source(str(folder))
