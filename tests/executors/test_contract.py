"""Every executor passes the contract of :mod:`tests.executors.contract`."""

from __future__ import annotations

from typing import Any

import pytest

from sparksweep.executors import FramesExecutor, LocalExecutor, SparkExecutor, SparkPoolExecutor
from tests.executors.contract import ExecutorContract, MakeExecutor


class TestLocalExecutor(ExecutorContract):
    @pytest.fixture
    def make_executor(self) -> MakeExecutor:
        return lambda: LocalExecutor(parallelism=2)


@pytest.mark.spark
class TestSparkExecutor(ExecutorContract):
    @pytest.fixture
    def make_executor(self, spark: Any) -> MakeExecutor:
        return lambda: SparkExecutor(spark, parallelism=2)


@pytest.mark.spark
class TestSparkPoolExecutor(ExecutorContract):
    @pytest.fixture
    def make_executor(self, spark: Any) -> MakeExecutor:
        return lambda: SparkPoolExecutor(spark, parallelism=2)


@pytest.mark.spark
class TestFramesExecutor(ExecutorContract):
    @pytest.fixture
    def make_executor(self, spark: Any) -> MakeExecutor:
        return lambda: FramesExecutor(spark, parallelism=2)


@pytest.mark.connect
class TestFramesExecutorOnConnect(ExecutorContract):
    @pytest.fixture
    def make_executor(self, connect_session: Any) -> MakeExecutor:
        return lambda: FramesExecutor(connect_session, parallelism=2)
