"""The Spark executor's start-up: task slots, a warning for more trials in flight than slots, and the check that the
executors can import sparksweep."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from sparksweep import _spark as session_module
from sparksweep._spark import task_slots
from sparksweep.errors import DependencyError, SparkSweepWarning
from sparksweep.executors import SparkExecutor, check_executors
from sparksweep.executors import _cluster as cluster_module

pytestmark = pytest.mark.spark


def test_parallelism_defaults_to_the_task_slots_without_a_warning(spark: Any) -> None:
    assert task_slots(spark) == 2  # local[2], spark.task.cpus=1
    with warnings.catch_warnings():
        warnings.simplefilter("error", SparkSweepWarning)
        executor = SparkExecutor(spark)
    try:
        assert executor.slots == 2
        assert executor.task_slots == 2
    finally:
        executor.shutdown()


def test_more_trials_in_flight_than_slots_is_a_warning(spark: Any) -> None:
    with pytest.warns(SparkSweepWarning, match="parallelism 3 is more than the 2 task slot"):
        executor = SparkExecutor(spark, parallelism=3)
    try:
        assert executor.slots == 3  # the user's choice stands; they were told
    finally:
        executor.shutdown()


def test_executors_without_sparksweep_fail_the_start_with_a_clear_error(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A package named sparksweep that cannot be imported, first on the executors' PYTHONPATH: what a worker
    # without sparksweep looks like to the check (spark.executorEnv.PYTHONPATH, set on the running context).
    blocker = tmp_path / "sparksweep"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('sparksweep is not installed on this worker')\n")
    sc = spark.sparkContext
    monkeypatch.setitem(sc.environment, "PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(cluster_module, "_CHECKED_APPS", set())
    with pytest.raises(DependencyError, match=r"sparksweep cannot be imported on the Spark executors .*not installed"):
        check_executors(spark)
    with pytest.raises(DependencyError, match=r"spark\.archives"):
        SparkExecutor(spark)
    monkeypatch.undo()
    check_executors(spark)  # the same executors with sparksweep pass


@pytest.mark.parametrize(
    ("master", "loopback"),
    [
        ("local[2]", True),
        ("local[*]", True),
        ("spark://127.0.0.1:7077", True),
        ("spark://localhost:7077", True),
        ("spark://spark-master.internal:7077", False),
        ("spark://10.0.0.5:7077", False),
    ],
)
def test_only_local_masters_pin_the_driver_to_the_loopback_address(master: str, loopback: bool) -> None:
    assert session_module._is_loopback(master) is loopback
