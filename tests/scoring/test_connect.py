"""Scoring on a Spark Connect session (the real local server of tests/conftest.py): the same outputs as on the classic
session, row for row, through ``score_spark`` (sparksweep's Arrow UDF and ``mlflow.pyfunc.spark_udf``) and
``score_table`` (parquet to parquet in the tasks, and a table through the UDF); a staged model and its sha256 check;
``sparksweep score --spark-remote``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sparksweep.errors import DataError
from sparksweep.scoring import _ship, score_spark, score_table
from sparksweep.scoring._ship import StagedModel
from tests.conftest import FluentStore
from tests.scoring.test_batch import _fitted

pytestmark = [pytest.mark.spark, pytest.mark.connect]


@pytest.fixture
def store(fluent_store: FluentStore) -> str:
    return fluent_store.uri


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Scored rows in key order, list columns as tuples (so frames compare exactly)."""
    out = frame.sort_values("user_id").reset_index(drop=True)
    if "probabilities" in out:
        out["probabilities"] = out["probabilities"].map(tuple)
    return out


def _parquet(df: pd.DataFrame, path: Path) -> str:
    pq.write_table(pa.Table.from_pandas(df.drop(columns=["y"]), preserve_index=False), path, row_group_size=64)
    return str(path)


def _scored(session: Any, df: pd.DataFrame, uri: str, store: str, out: Path, **kwargs: Any) -> dict[str, Any]:
    """One session's outputs: score_spark, score_table parquet to parquet (pyarrow in the tasks), and score_table from
    a table (a temporary view: the Connect server's warehouse is not the test's) through the Arrow UDF."""
    out.mkdir()
    data = _parquet(df, out / "users.parquet")
    lazy = score_spark(
        session.createDataFrame(df.drop(columns=["y"])), uri, tracking_uri=store, keep=["user_id"], **kwargs
    )
    files = score_table(
        uri, input_path=data, output_path=str(out / "files"), tracking_uri=store, spark=session, **kwargs
    )
    session.read.parquet(data).createOrReplaceTempView("users_to_score")
    udf = score_table(
        uri, input_table="users_to_score", output_path=str(out / "udf"), tracking_uri=store, spark=session,
        udf="arrow", **kwargs,
    )  # fmt: skip
    return {
        "score_spark": _rows(lazy.toPandas()),
        "files": _rows(pd.read_parquet(out / "files")),
        "udf": _rows(pd.read_parquet(out / "udf")),
        "reports": [(r.method, r.rows, r.columns) for r in (files, udf)],
    }


def _same(remote: dict[str, Any], classic: dict[str, Any], rows: int) -> None:
    assert remote["reports"] == classic["reports"]
    assert [(method, n) for method, n, _ in classic["reports"]] == [("files", rows), ("arrow", rows)]
    for way in ("score_spark", "files", "udf"):
        assert len(remote[way]) == rows, way
        pd.testing.assert_frame_equal(remote[way], classic[way], check_exact=True, obj=way)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_connect_scores_every_row_as_the_classic_session_does(
    spark: Any, connect_session: Any, local_connect: ModuleType, store: str, tmp_path: Path, task: str
) -> None:
    uri, df, _ = _fitted(task, "lightgbm", store)
    classic = _scored(spark, df, uri, store, tmp_path / "classic")
    with local_connect.connect_mode():
        remote = _scored(connect_session, df, uri, store, tmp_path / "connect")
    _same(remote, classic, len(df))
    column = classic["files"]["probabilities" if task == "multiclass" else "prediction"]
    assert column.nunique() > 10, "real predictions, not a constant"


def test_spark_udf_on_connect_gives_the_classic_rows(
    spark: Any, connect_session: Any, local_connect: ModuleType, store: str, tmp_path: Path
) -> None:
    uri, df, _ = _fitted("multiclass", "lightgbm", store)
    data = _parquet(df, tmp_path / "users.parquet")
    features = df.drop(columns=["y"])

    def both(session: Any, name: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
        lazy = score_spark(
            session.createDataFrame(features), uri, tracking_uri=store, keep=["user_id"], udf="spark_udf"
        )
        report = score_table(
            uri, input_path=data, output_path=str(tmp_path / name), tracking_uri=store, spark=session, udf="spark_udf"
        )
        return _rows(lazy.toPandas()), _rows(pd.read_parquet(tmp_path / name)), report.method

    classic = both(spark, "classic")
    with local_connect.connect_mode():
        remote = both(connect_session, "connect")
    assert remote[2] == classic[2] == "spark_udf"
    for ours, theirs in zip(remote[:2], classic[:2], strict=True):
        assert len(ours) == len(df)
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert list(classic[0].columns) == ["user_id", "probabilities", "prediction"]


def test_a_staged_model_is_checked_by_sha256_and_removed(
    spark: Any,
    connect_session: Any,
    local_connect: ModuleType,
    store: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pyspark.errors import PythonException

    uri, df, _ = _fitted("binary", "lightgbm", store)
    classic = _scored(spark, df, uri, store, tmp_path / "classic")
    monkeypatch.setattr(_ship, "INLINE_BYTES", 0)  # every model is "big": staged, not sent inside the job
    stage = tmp_path / "stage"
    with local_connect.connect_mode():
        frame = connect_session.createDataFrame(df.drop(columns=["y"]))
        lazy = score_spark(frame, uri, tracking_uri=store, keep=["user_id"], staging_dir=str(stage))
        (staged,) = stage.iterdir()
        data = staged.read_bytes()
        staged.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit changed after the driver wrote it
        with pytest.raises(PythonException, match=r"the staged model .* has sha256 \w+ .*not the \w+"):
            lazy.toPandas()  # no worker has loaded this model yet: each reads the file and checks it
        staged.unlink()
        remote = _scored(connect_session, df, uri, store, tmp_path / "connect", staging_dir=str(stage))
        _same(remote, classic, len(df))
        left = sorted(p.name for p in stage.iterdir())
        assert len(left) == 1, "score_table removed its staged files; score_spark's goes when the process exits"
        assert left[0].startswith("sparksweep-model-")
        monkeypatch.setattr(_ship, "MAX_INLINE_BYTES", 0)
        with pytest.raises(DataError, match=r"too big to send inside the Spark Connect plan .* give staging_dir"):
            score_spark(frame, uri, tracking_uri=store, keep=["user_id"])


def test_a_staged_file_whose_bytes_changed_is_refused(tmp_path: Path) -> None:
    payload = b"model zip bytes"
    staged = _ship.stage_model(payload, hashlib.sha256(payload).hexdigest(), str(tmp_path / "stage"))
    assert staged.payload() == payload
    Path(staged.uri).write_bytes(b"model zip bytez")
    with pytest.raises(DataError, match=r"has sha256 .* not the .* the driver wrote"):
        StagedModel(staged.digest, staged.uri, staged.size).payload()
    staged.release()
    staged.release()  # already gone is fine
    assert list((tmp_path / "stage").iterdir()) == []


def test_score_command_on_a_spark_remote(spark: Any, connect_server: Any, store: str, tmp_path: Path) -> None:
    """``sparksweep score --spark-remote``, in this process, outside connect_mode(): scoring puts pyspark in the
    mode of the session it is given, and leaves the environment as it found it."""
    from click.testing import CliRunner

    from sparksweep.cli import main

    uri, df, _ = _fitted("binary", "lightgbm", store)
    data = _parquet(df, tmp_path / "users.parquet")
    score_table(uri, input_path=data, output_path=str(tmp_path / "classic"), tracking_uri=store, spark=spark)
    args = ["score", "--model", uri, "--input", data, "--tracking-uri", store, "--spark-remote", connect_server.url]
    for udf in ("files", "arrow"):
        extra = ["--udf", udf] if udf != "files" else []
        result = CliRunner().invoke(main, [*args, "--output", str(tmp_path / udf), *extra], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert f"Scored {len(df)} rows with {uri}" in result.output
        assert f", {udf}) -> " in result.output
        pd.testing.assert_frame_equal(
            _rows(pd.read_parquet(tmp_path / udf)), _rows(pd.read_parquet(tmp_path / "classic")), check_exact=True
        )
    assert "SPARK_CONNECT_MODE_ENABLED" not in os.environ, "the classic session's mode is back"
    assert spark.range(3).count() == 3
