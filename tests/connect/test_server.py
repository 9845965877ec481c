"""The local Spark Connect server the Connect tests share: a real server, a client without sparkContext."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.connect


def test_a_connect_session_runs_arrow_jobs_beside_the_classic_one(
    connect_session: Any, local_connect: ModuleType, spark: Any
) -> None:
    from pyspark.sql import functions as sf
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    assert isinstance(connect_session, RemoteSparkSession)

    with local_connect.connect_mode():
        total = connect_session.range(100).select(sf.sum("id").alias("s")).collect()[0]["s"]
    assert total == 4950
    assert spark.range(10).select(sf.sum("id")).collect()[0][0] == 45  # the classic session still works after it
