"""The ``sparksweep`` command line: ``run``, ``score`` and ``demo``.

Example:
    $ sparksweep run examples/churn.yaml --n-trials 8
    $ sparksweep score --model models:/churn-prediction-model@champion --input users.parquet --output preds.parquet
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sparksweep.errors import SparkSweepError

if TYPE_CHECKING:
    from sparksweep.config import SweepSpec
    from sparksweep.search.engine import SweepProgress, SweepResult
    from sparksweep.search.trial import TrialResult

__all__ = ["main"]


class _DropMessages(logging.Filter):
    def __init__(self, *fragments: str) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(f in message for f in self.fragments)


def _quiet_libraries() -> None:
    """The CLI owns the terminal: keep the libraries' per-trial INFO lines and known, understood warnings out."""
    import optuna

    # pyspark 4.3 warns on every pandas UDF that it does not fully support pandas 3; the paths we use are tested.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    # sparksweep scores with env_manager="local" on purpose (the executors share the driver's environment).
    logging.getLogger("mlflow.pyfunc").addFilter(_DropMessages('env_manager="local"'))
    logging.getLogger("mlflow.models.flavor_backend_registry").setLevel(logging.WARNING)

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # the summary names the server's UI
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in ("hyperopt", "py4j", "mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _progress_line(result: TrialResult, progress: SweepProgress, metric: str) -> str:
    head = f"[{progress.finished:>3}/{progress.n_trials}] trial {result.number:<3} {result.family:<30}"
    best = "-" if progress.best is None else f"{progress.best.value:.5f}"
    tail = f"best={best}  {result.duration:5.1f}s  elapsed {progress.elapsed:6.1f}s  running {progress.running}"
    if result.value is not None:
        return f"{head} {metric}={result.value:.5f}  {tail}"
    reason = (result.error or "").strip().splitlines()[-1:] or [""]
    return f"{head} {result.state.value.upper()}: {reason[0][:120]}  {tail}"


def _print_summary(result: SweepResult) -> None:
    click.echo("")
    click.echo(
        f"Sweep finished in {result.duration:.1f}s: {len(result.trials)} trials, parent run {result.sweep_run_id}"
    )
    failed = [t for t in result.trials if t.value is None]
    if failed:
        click.echo(
            f"  {len(failed)} trial(s) did not complete: " + ", ".join(f"#{t.number} {t.state.value}" for t in failed)
        )
    click.echo(f"\nTop trials by {result.metric} ({result.direction.value}):")
    click.echo(f"  {'trial':>5}  {'family':<30} {result.metric:>10}  {'fit s':>6}  run id")
    for t in result.top(5):
        click.echo(f"  {t.number:>5}  {t.family:<30} {t.value:>10.5f}  {t.fit_time:>6.2f}  {t.run_id}")
    c = result.champion
    if c is not None:
        verdict = "promoted to @champion" if c.promoted else "kept as @challenger; the champion stays"
        click.echo(f"\nRegistered {c.name} version {c.version}: {verdict}")
        click.echo(
            f"  test {c.metric}: {c.candidate_score:.5f}"
            + (
                f" vs champion {c.champion_score:.5f} (version {c.champion_version})"
                if c.champion_score is not None
                else ""
            )
        )
        click.echo(f"  reason: {c.reason}")
        click.echo(f"  load it with: mlflow.pyfunc.load_model('models:/{c.name}@champion')")
    server = result.tracking_uri.startswith(("http://", "https://"))
    ui = result.tracking_uri if server else f"mlflow ui --backend-store-uri {result.tracking_uri}"
    click.echo(f"\nMLflow UI: {ui}  (experiment {result.experiment_id}, parent run {result.sweep_run_id})")


def _run(spec: SweepSpec) -> SweepResult:
    from sparksweep.search.engine import run_sweep

    _quiet_libraries()
    click.echo(
        f"Sweep {spec.experiment!r}: {spec.search.n_trials} trials of {', '.join(spec.models)} "
        f"with {spec.search.algorithm} on {spec.search.executor}"
        + (f" ({spec.spark.master})" if spec.search.executor == "spark" else "")
    )
    result_metric: dict[str, str] = {}

    def on_trial(result: TrialResult, progress: SweepProgress) -> None:
        metric = result_metric.setdefault("name", next(iter(result.metrics), "value"))
        click.echo(_progress_line(result, progress, metric))

    result = run_sweep(spec, on_trial=on_trial)
    _print_summary(result)
    return result


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SparkSweepError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="sparksweep")
def main() -> None:
    """sparksweep: hyperparameter sweeps across model families on Spark, tracked in MLflow."""


@main.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--n-trials", type=click.IntRange(min=1), help="Override search.n_trials.")
@click.option("--parallelism", type=click.IntRange(min=1), help="Override search.parallelism.")
@click.option("--algorithm", help="Override search.algorithm.")
@click.option("--seed", type=int, help="Override search.seed.")
@click.option("--executor", type=click.Choice(["spark", "local"]), help="Override search.executor.")
@click.option("--tracking-uri", help="Override tracking.uri.")
@click.option("--spark-master", help="Override spark.master (local[*], local[N], spark://host:port).")
def run(
    sweep_file: str,
    n_trials: int | None,
    parallelism: int | None,
    algorithm: str | None,
    seed: int | None,
    executor: str | None,
    tracking_uri: str | None,
    spark_master: str | None,
) -> None:
    """Run the sweep described by SWEEP_FILE and register its champion."""
    from sparksweep.config import load_spec

    spec = load_spec(sweep_file).with_overrides(
        **{
            "search.n_trials": n_trials,
            "search.parallelism": parallelism,
            "search.algorithm": algorithm,
            "search.seed": seed,
            "search.executor": executor,
            "tracking.uri": tracking_uri,
            "spark.master": spark_master,
        }
    )
    _run(spec)


def _score_files(
    model: str, input_path: str, output: str, tracking_uri: str | None, keep: list[str] | None, master: str
) -> tuple[int, str]:
    from sparksweep.scoring.batch import load_model, model_features, score_spark
    from sparksweep.search.executors import get_spark
    from sparksweep.search.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri) if tracking_uri else None
    features = model_features(load_model(model, uri))
    spark = get_spark(master)
    reader = spark.read
    if input_path.lower().endswith(".csv"):
        df = reader.option("header", "true").option("inferSchema", "true").csv(input_path)
    else:
        df = reader.parquet(input_path)
    kept = keep if keep else [c for c in df.columns if c not in features]
    scored = score_spark(df, model, tracking_uri=uri, keep=kept)
    scored.write.mode("overwrite").parquet(output)
    return spark.read.parquet(output).count(), output


@main.command()
@click.option("--model", "model_uri", required=True, help="models:/<name>@champion, models:/m-<id> or a path.")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True), help="Parquet or csv to score.")
@click.option("--output", required=True, help="Parquet output (a folder, as Spark writes it).")
@click.option("--keep", help="Comma-separated columns to carry through (default: every non-feature column).")
@click.option("--tracking-uri", help="Tracking/registry URI for models:/ URIs (default: MLFLOW_TRACKING_URI).")
@click.option("--spark-master", default="local[*]", show_default=True)
def score(
    model_uri: str, input_path: str, output: str, keep: str | None, tracking_uri: str | None, spark_master: str
) -> None:
    """Score a table with a model through mlflow.pyfunc.spark_udf."""
    _quiet_libraries()
    t0 = time.perf_counter()
    keep_cols = [c.strip() for c in keep.split(",")] if keep else None
    n, path = _score_files(model_uri, input_path, output, tracking_uri, keep_cols, spark_master)
    click.echo(f"Scored {n} rows with {model_uri} in {time.perf_counter() - t0:.1f}s -> {path}")


@main.command()
@click.option("--rows", default=100_000, show_default=True, help="Rows of the generated churn table.")
@click.option("--n-trials", type=click.IntRange(min=1), help="Override the demo sweep's n_trials.")
@click.option("--regenerate", is_flag=True, help="Regenerate the data even if it exists.")
def demo(rows: int, n_trials: int | None, regenerate: bool) -> None:
    """Generate the churn table, run examples/churn.yaml, register the champion and score every user."""
    import pandas as pd

    from sparksweep.config import load_spec
    from sparksweep.datasets import generate_churn

    t0 = time.perf_counter()
    data_path = Path("data/user_features.parquet")
    if regenerate or not data_path.exists():
        data_path.parent.mkdir(parents=True, exist_ok=True)
        generate_churn(rows).to_parquet(data_path, index=False)
        click.echo(f"Generated {rows} users -> {data_path}")
    else:
        click.echo(f"Using existing {data_path} (--regenerate to rebuild it)")
    spec_file = Path("examples/churn.yaml")
    if not spec_file.exists():
        spec_file = Path(str(resources.files("sparksweep") / "examples" / "churn.yaml"))
    spec = load_spec(spec_file).with_overrides(**{"search.n_trials": n_trials})
    result = _run(spec)
    if result.champion is None:
        raise click.ClickException("the sweep registered no model, so there is nothing to score with")
    model_uri = f"models:/{result.champion.name}@champion"
    output = "data/churn_predictions.parquet"
    n, _ = _score_files(model_uri, str(data_path), output, spec.tracking.uri, ["user_id", "feature_date"], "local[*]")
    preds = pd.read_parquet(output)
    click.echo(f"\nScored {n} users with {model_uri} -> {output}")
    click.echo(f"  mean churn probability {preds['prediction'].mean():.3f}; the five users most at risk:")
    for row in preds.nlargest(5, "prediction").itertuples():
        click.echo(f"    user {row.user_id}: {row.prediction:.3f}")
    click.echo(f"\nDemo done in {time.perf_counter() - t0:.1f}s.")


if __name__ == "__main__":
    main()
