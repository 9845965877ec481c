"""``sparksweep score``: score a table on Spark with a logged or registered model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from sparksweep.cli._common import REGISTRY_HELP, quiet_libraries

if TYPE_CHECKING:
    from sparksweep.scoring import ScoreReport, Udf

__all__ = ["score", "score_model"]


def score_model(
    model: str,
    *,
    input_path: str | None,
    input_table: str | None,
    output_path: str | None,
    output_table: str | None,
    tracking_uri: str | None,
    keep: list[str] | None,
    master: str,
    udf: Udf | None = None,
    registry_uri: str | None = None,
    remote: str | None = None,
    staging_dir: str | None = None,
) -> ScoreReport:
    """Score a table with ``model`` on a Spark session of ``master``, or with ``remote`` a Spark Connect session
    (also what ``sparksweep demo`` scores with)."""
    from sparksweep._spark import get_spark
    from sparksweep.scoring import resolve_model_uri, score_table
    from sparksweep.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri) if tracking_uri else None
    if registry_uri is not None and model.startswith("models:/"):  # a registered name, looked up in that registry
        model = resolve_model_uri(model, uri, registry_uri)
    return score_table(
        model,
        input_path=input_path,
        input_table=input_table,
        output_path=output_path,
        output_table=output_table,
        keep=keep,
        tracking_uri=uri,
        spark=connect_session(remote) if remote else get_spark(master),
        udf=udf,
        staging_dir=staging_dir,
    )


def connect_session(url: str) -> Any:
    """A Spark Connect client session to ``url``: ``sc://host:port`` (Databricks, a Connect server), or ``local[N]``
    for a Connect server that pyspark starts in this process.

    An ``sc://`` URL goes through pyspark's Connect builder itself, which also works in a process that holds a
    classic session (scoring sets pyspark's mode for the session it is given); a ``local`` one through the generic
    builder, the one that starts the server.
    """
    import os
    import sys

    from sparksweep._imports import require

    require("pyspark", "scoring on Spark Connect")
    if url.startswith("sc://"):  # checked to answer first, with the sweep's own rule
        from sparksweep._spark import get_spark

        return get_spark(remote=url)
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the server's Python workers: this interpreter
    return SparkSession.builder.remote(url).getOrCreate()


@click.command()
@click.option("--model", "model_uri", required=True, help="models:/<name>@champion, models:/m-<id> or a path.")
@click.option("--input", "input_path", type=click.Path(exists=True), help="Parquet or csv to score.")
@click.option("--input-table", help="A Spark table to score instead of a file.")
@click.option("--output", "output_path", help="Parquet output (a folder, as Spark writes it).")
@click.option("--output-table", help="A Spark table to write instead of parquet.")
@click.option("--keep", help="Comma-separated columns to carry through (default: every non-feature column).")
@click.option("--tracking-uri", help="Tracking/registry URI for models:/ URIs (default: MLFLOW_TRACKING_URI).")
@click.option("--registry-uri", help=REGISTRY_HELP)
@click.option("--spark-master", default="local[*]", show_default=True)
@click.option(
    "--spark-remote",
    help="Score on a Spark Connect session instead: sc://host:port (Databricks, a Connect server), or local[2] for "
    "a Connect server started here. Overrides --spark-master.",
)
@click.option(
    "--staging-dir",
    help="On Spark Connect, a folder every executor can read (a Unity Catalog volume, a cloud path) for a model too "
    "big to send inside the job; checked by sha256 where it is read, removed when the job ends.",
)
@click.option(
    "--udf",
    type=click.Choice(["arrow", "spark_udf"]),
    default=None,
    help="Score through a Spark UDF even from parquet to parquet: arrow (sparksweep's Arrow UDF) or spark_udf "
    "(mlflow.pyfunc.spark_udf). Default: parquet in and out are read, scored and written by pyarrow in the Spark "
    "tasks; other inputs and outputs (csv, Spark tables) go through the arrow UDF.",
)
def score(
    model_uri: str,
    input_path: str | None,
    input_table: str | None,
    output_path: str | None,
    output_table: str | None,
    keep: str | None,
    tracking_uri: str | None,
    registry_uri: str | None,
    spark_master: str,
    spark_remote: str | None,
    staging_dir: str | None,
    udf: Udf | None,
) -> None:
    """Score a table on Spark: binary -> P(positive), multiclass -> probabilities + label, regression -> value."""
    quiet_libraries()
    keep_cols = [c.strip() for c in keep.split(",")] if keep else None
    report = score_model(
        model_uri,
        input_path=input_path,
        input_table=input_table,
        output_path=output_path,
        output_table=output_table,
        tracking_uri=tracking_uri,
        keep=keep_cols,
        master=spark_master,
        udf=udf,
        registry_uri=registry_uri,
        remote=spark_remote,
        staging_dir=staging_dir,
    )
    rate = report.rows / report.seconds if report.seconds else 0.0
    click.echo(
        f"Scored {report.rows} rows with {model_uri} in {report.seconds:.1f}s ({rate:,.0f} rows/s, {report.method}) "
        f"-> {report.output} (columns {', '.join(report.columns)})"
    )
