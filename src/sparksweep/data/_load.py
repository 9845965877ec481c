"""Reading the sweep's table into pandas: from a parquet or csv file, a Spark table, or a DataFrame given in Python."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sparksweep.data._spec import DataSpec
from sparksweep.errors import DataError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

__all__ = ["load_table", "read_table", "spark_to_pandas"]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a parquet file (or folder of parquet files) or a csv file into pandas."""
    file = Path(path)
    if not file.exists():
        raise DataError(
            f"data file {str(file)!r} does not exist (resolved against {Path.cwd()}); check data.path in the sweep file"
        )
    if file.suffix.lower() == ".csv":
        return pd.read_csv(file)
    return pd.read_parquet(file)


def _is_spark_frame(data: Any) -> bool:
    return type(data).__module__.startswith("pyspark.") and hasattr(data, "toPandas")


def spark_to_pandas(df: SparkDataFrame) -> pd.DataFrame:
    """Collect a Spark DataFrame to pandas through Arrow; decimals become doubles (pandas would hold objects)."""
    from pyspark.sql import functions as sf
    from pyspark.sql.types import DecimalType

    columns = [
        sf.col(f"`{f.name}`").cast("double").alias(f.name)
        if isinstance(f.dataType, DecimalType)
        else sf.col(f"`{f.name}`")
        for f in df.schema.fields
    ]
    return df.select(*columns).toPandas()


def load_table(spec: DataSpec, data: pd.DataFrame | SparkDataFrame | None = None, spark: Any = None) -> pd.DataFrame:
    """The sweep's table as pandas, from ``data`` when given, else from ``spec.table`` or ``spec.path``.

    Args:
        spec: The sweep's data settings.
        data: A pandas or Spark DataFrame given in Python (it wins over the spec's path and table).
        spark: The session that reads ``spec.table`` (default: the active one, or a new local one).

    Example:
        >>> load_table(DataSpec(target="y"), data=pd.DataFrame({"y": [0, 1]})).shape
        (2, 1)
    """
    if data is not None:
        if isinstance(data, pd.DataFrame):
            return data
        if _is_spark_frame(data):
            return spark_to_pandas(data)
        raise DataError(
            f"data= must be a pandas or Spark DataFrame, got {type(data).__name__}; "
            "or leave it out and set data.path or data.table in the sweep file"
        )
    if spec.table is not None:
        from sparksweep._spark import get_spark

        session = spark if spark is not None else get_spark()
        if not session.catalog.tableExists(spec.table):
            raise DataError(
                f"Spark table {spec.table!r} does not exist in the session's catalog; check data.table "
                "(qualify it as database.table when it is not in the current database)"
            )
        return spark_to_pandas(session.table(spec.table))
    if spec.path is not None:
        return read_table(spec.path)
    raise DataError(
        "no data given: set data.path (a parquet or csv file) or data.table (a Spark table name), "
        "or pass data= to run_sweep"
    )
