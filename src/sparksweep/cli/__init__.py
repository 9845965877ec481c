"""The ``sparksweep`` command line: ``run``, ``score``, ``champion show|promote|rollback|history`` and ``demo``.

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
    from sparksweep.cli._progress import ProgressDisplay
    from sparksweep.registry import ChampionDecision
    from sparksweep.scoring.batch import ScoreReport, Udf
    from sparksweep.spec import SweepSpec
    from sparksweep.sweep import SweepResult

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


def _print_summary(result: SweepResult) -> None:
    click.echo("")
    click.echo(
        f"Sweep finished in {result.duration:.1f}s ({result.stop_reason}): {len(result.trials)} trials, "
        f"parent run {result.sweep_run_id}"
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
    if result.finalists:
        click.echo(f"\nFinalists scored again on fresh folds ({result.metric}):")
        for f in result.finalists:
            fresh = "not scored" if f.value is None else f"{f.value:.5f}"
            mark = "  <- chosen" if result.best is f.trial else ""
            click.echo(f"  {f.trial.number:>5}  {f.trial.family:<30} {f.trial.value:>10.5f} -> {fresh}{mark}")
    e = result.ensemble
    if e is not None:
        verdict = "the champion" if e.chosen else "not better than the best finalist alone"
        click.echo(
            f"  ensemble {e.describe()}: {result.metric} {e.score:.5f} on those folds "
            f"(best finalist alone {e.single_score:.5f}): {verdict}"
        )
    c = result.champion
    if c is not None:
        verdict = "promoted to @champion" if c.promoted else "kept as @challenger; the champion stays"
        verdict += " (forced)" if c.forced else ""
        click.echo(f"\nRegistered {c.name} version {c.version}: {verdict}")
        click.echo(
            f"  test {c.metric}: {c.candidate_score:.5f}"
            + (
                f" vs champion {c.champion_score:.5f} (version {c.champion_version})"
                if c.champion_score is not None
                else ""
            )
        )
        if c.interval is not None:
            click.echo(f"  bootstrap interval of the gain: [{c.interval[0]:+.5f}, {c.interval[1]:+.5f}]")
        click.echo(f"  reason: {c.reason}")
        click.echo(f"  load it with: mlflow.pyfunc.load_model('models:/{c.name}@champion')")
    server = result.tracking_uri.startswith(("http://", "https://"))
    ui = result.tracking_uri if server else f"mlflow ui --backend-store-uri {result.tracking_uri}"
    click.echo(f"\nMLflow UI: {ui}  (experiment {result.experiment_id}, parent run {result.sweep_run_id})")


def _display(spec: SweepSpec) -> ProgressDisplay:
    from sparksweep.cli._progress import ProgressDisplay
    from sparksweep.metrics import DEFAULT_METRIC

    return ProgressDisplay(spec.metric or (DEFAULT_METRIC[spec.task] if spec.task else "value"))


def _run(spec: SweepSpec) -> SweepResult:
    from sparksweep.sweep import run_sweep

    _quiet_libraries()
    click.echo(
        f"Sweep {spec.experiment!r}: {spec.search.n_trials} trials of {', '.join(spec.models)} "
        f"with {spec.search.algorithm} on {spec.search.executor}"
        + (f" ({spec.spark.master})" if spec.search.executor != "local" else "")
    )
    display = _display(spec)
    try:
        result = run_sweep(spec, on_trial=display)
    finally:
        display.close()
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
@click.option(
    "--executor",
    type=click.Choice(["spark-pool", "spark", "local"]),
    help="Override search.executor: spark-pool (the default), spark (a job per trial), local (no Spark).",
)
@click.option("--tracking-uri", help="Override tracking.uri.")
@click.option("--spark-master", help="Override spark.master (local[*], local[N], spark://host:port).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Override search.timeout (seconds).")
@click.option("--pruner", type=click.Choice(["none", "median", "successive_halving", "hyperband"]))
@click.option("--warm-start", help="Parent run id of an earlier sweep whose trials seed the search.")
def run(
    sweep_file: str,
    n_trials: int | None,
    parallelism: int | None,
    algorithm: str | None,
    seed: int | None,
    executor: str | None,
    tracking_uri: str | None,
    spark_master: str | None,
    timeout: float | None,
    pruner: str | None,
    warm_start: str | None,
) -> None:
    """Run the sweep described by SWEEP_FILE and register its champion."""
    from sparksweep.spec import load_spec

    spec = load_spec(sweep_file).with_overrides(
        **{
            "search.n_trials": n_trials,
            "search.parallelism": parallelism,
            "search.algorithm": algorithm,
            "search.seed": seed,
            "search.executor": executor,
            "search.timeout": timeout,
            "search.pruner": pruner,
            "search.warm_start": warm_start,
            "tracking.uri": tracking_uri,
            "spark.master": spark_master,
        }
    )
    _run(spec)


@main.command()
@click.argument("parent_run_id")
@click.option("--tracking-uri", help="The store the sweep recorded into (default: MLFLOW_TRACKING_URI or mlflow.db).")
def resume(parent_run_id: str, tracking_uri: str | None) -> None:
    """Continue the sweep PARENT_RUN_ID whose driver stopped (Ctrl-C, kill -9, a lost machine)."""
    from sparksweep.sweep import resume_sweep

    _quiet_libraries()
    click.echo(f"Resuming sweep {parent_run_id}")
    from sparksweep.cli._progress import ProgressDisplay

    display = ProgressDisplay(None)
    try:
        result = resume_sweep(parent_run_id, tracking_uri=tracking_uri, on_trial=display)
    finally:
        display.close()
    _print_summary(result)


def _score(
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
) -> ScoreReport:
    from sparksweep._spark import get_spark
    from sparksweep.scoring.batch import score_table
    from sparksweep.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri) if tracking_uri else None
    return score_table(
        model,
        input_path=input_path,
        input_table=input_table,
        output_path=output_path,
        output_table=output_table,
        keep=keep,
        tracking_uri=uri,
        spark=get_spark(master),
        udf=udf,
    )


@main.command()
@click.option("--model", "model_uri", required=True, help="models:/<name>@champion, models:/m-<id> or a path.")
@click.option("--input", "input_path", type=click.Path(exists=True), help="Parquet or csv to score.")
@click.option("--input-table", help="A Spark table to score instead of a file.")
@click.option("--output", "output_path", help="Parquet output (a folder, as Spark writes it).")
@click.option("--output-table", help="A Spark table to write instead of parquet.")
@click.option("--keep", help="Comma-separated columns to carry through (default: every non-feature column).")
@click.option("--tracking-uri", help="Tracking/registry URI for models:/ URIs (default: MLFLOW_TRACKING_URI).")
@click.option("--spark-master", default="local[*]", show_default=True)
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
    spark_master: str,
    udf: Udf | None,
) -> None:
    """Score a table on Spark: binary -> P(positive), multiclass -> probabilities + label, regression -> value."""
    _quiet_libraries()
    keep_cols = [c.strip() for c in keep.split(",")] if keep else None
    report = _score(
        model_uri,
        input_path=input_path,
        input_table=input_table,
        output_path=output_path,
        output_table=output_table,
        tracking_uri=tracking_uri,
        keep=keep_cols,
        master=spark_master,
        udf=udf,
    )
    rate = report.rows / report.seconds if report.seconds else 0.0
    click.echo(
        f"Scored {report.rows} rows with {model_uri} in {report.seconds:.1f}s ({rate:,.0f} rows/s, {report.method}) "
        f"-> {report.output} (columns {', '.join(report.columns)})"
    )


def _registry_client(tracking_uri: str | None) -> tuple[Any, str]:
    from mlflow import MlflowClient

    from sparksweep.spec import DEFAULT_TRACKING_URI
    from sparksweep.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return MlflowClient(tracking_uri=uri, registry_uri=uri), uri


_TRACKING_OPTION = click.option(
    "--tracking-uri", help="Tracking/registry URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)."
)


def _score_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.5f}"


def _echo_decision(decision: ChampionDecision) -> None:
    verdict = "now @champion" if decision.promoted else "not promoted; the champion stays"
    click.echo(f"{decision.name} version {decision.version}: {verdict}" + (" (forced)" if decision.forced else ""))
    click.echo(f"  reason: {decision.reason}")


@main.group()
def champion() -> None:
    """Show, promote or roll back the champion of a registered model, and list its promotion history."""


@champion.command("show")
@click.argument("name")
@_TRACKING_OPTION
def champion_show(name: str, tracking_uri: str | None) -> None:
    """Show NAME's aliases and versions with their gate decisions and test scores."""
    from sparksweep.registry import show_champion

    client, _ = _registry_client(tracking_uri)
    view = show_champion(client, name)
    by_version: dict[str, list[str]] = {}
    for alias, version in view.aliases.items():
        by_version.setdefault(version, []).append(f"@{alias}")
    click.echo(f"{name}: " + ", ".join(f"@{a} = v{v}" for a, v in sorted(view.aliases.items())))
    click.echo(f"  {'version':>7}  {'aliases':<24} {'gate':<9} {'test score':>11}  {'family':<30} registered")
    for v in view.versions:
        tags = v.tags
        metric = tags.get("sparksweep.gate_metric", "")
        test = tags.get(f"sparksweep.test.{metric}", "")
        test_text = f"{float(test):.5f}" if test else "-"
        aliases = " ".join(by_version.get(str(v.version), []))
        gate, family = tags.get("sparksweep.gate", "-"), tags.get("sparksweep.model_family", "-")
        click.echo(
            f"  {v.version:>7}  {aliases:<24} {gate:<9} {test_text:>11}  {family:<30} "
            f"{tags.get('sparksweep.registered_at', '')}"
        )
    best = view.version("champion")
    if best is not None:
        click.echo(f"  champion reason: {best.tags.get('sparksweep.gate_reason', '-')}")


@champion.command("promote")
@click.argument("name")
@click.argument("version")
@click.option("--sweep-file", type=click.Path(dir_okay=False, exists=True), help="Gate on this sweep's test rows.")
@click.option("--force", is_flag=True, help="Promote without the gate (or against it).")
@_TRACKING_OPTION
def champion_promote(name: str, version: str, sweep_file: str | None, force: bool, tracking_uri: str | None) -> None:
    """Make VERSION of NAME the champion, through the same gate as a sweep unless --force."""
    from sparksweep.registry import promote_version

    client, uri = _registry_client(tracking_uri)
    dataset = metric = registration = None
    if sweep_file is not None:
        from sparksweep.data import load_table, prepare_dataset
        from sparksweep.metrics import DEFAULT_METRIC, get_metric
        from sparksweep.spec import load_spec

        spec = load_spec(sweep_file)
        dataset = prepare_dataset(load_table(spec.data), spec.data, spec.task)
        metric = get_metric(spec.metric or DEFAULT_METRIC[dataset.task])
        registration = spec.registration
    decision = promote_version(
        client,
        name,
        version,
        tracking_uri=uri,
        dataset=dataset,
        metric=metric,
        registration=registration,
        force=force,
    )
    _echo_decision(decision)
    if not decision.promoted:
        sys.exit(1)


@champion.command("rollback")
@click.argument("name")
@_TRACKING_OPTION
def champion_rollback(name: str, tracking_uri: str | None) -> None:
    """Give @champion back to NAME's @previous version."""
    from sparksweep.registry import rollback_champion

    client, _ = _registry_client(tracking_uri)
    event = rollback_champion(client, name)
    stage = client.get_model_version(name, event.version).current_stage
    moved = f", stage {stage}" if stage in ("Staging", "Production") else ""
    click.echo(f"{name}: @champion is v{event.version} again (was v{event.replaced}){moved}")


@champion.command("history")
@click.argument("name")
@_TRACKING_OPTION
def champion_history_command(name: str, tracking_uri: str | None) -> None:
    """List NAME's champion changes: who replaced whom, when, how, by whom and with what scores."""
    from sparksweep.registry import champion_history

    client, _ = _registry_client(tracking_uri)
    events = champion_history(client, name)
    if not events:
        click.echo(f"{name} has no recorded champion changes")
        return
    click.echo(f"  {'when':<21} {'action':<9} {'version':>7} {'replaced':>8}  {'score':>9} {'was':>9}  by")
    for e in events:
        click.echo(
            f"  {e.when:<21} {e.action:<9} {e.version:>7} {e.replaced or '-':>8}  {_score_text(e.score):>9}"
            f" {_score_text(e.replaced_score):>9}  {e.by}"
        )


@main.command()
@click.argument("bench_file", type=click.Path(dir_okay=False))
@click.option("--output", help="Report folder (default: the bench file's `output`).")
@click.option("--resume", "resume_run", help="Bench run id to resume (default: the latest unfinished same bench).")
@click.option("--tracking-uri", help="Override the bench file's tracking_uri.")
@click.option("--spark-master", help="Spark master for every cell (default local[*]).")
def bench(
    bench_file: str, output: str | None, resume_run: str | None, tracking_uri: str | None, spark_master: str | None
) -> None:
    """Compare algorithms and model-family sets: every cell of BENCH_FILE is a real sweep; writes a report."""
    from sparksweep._spark import get_spark
    from sparksweep.bench import CellResult, load_bench, run_bench

    _quiet_libraries()
    spec = load_bench(bench_file)
    if tracking_uri:
        spec = spec.model_copy(update={"tracking_uri": tracking_uri})
    click.echo(
        f"Bench {spec.experiment!r}: {len(spec.cells())} sweeps "
        f"({len(spec.datasets)} data sets x {len(spec.model_sets)} model sets x {len(spec.algorithms)} algorithms "
        f"x {spec.repeats} seeds)"
    )

    def on_cell(result: CellResult, done: int, total: int) -> None:
        test = "n/a" if result.test_score is None else f"{result.test_score:.5f}"
        click.echo(f"[{done:>3}/{total}] {result.cell.key:<60} test {result.metric}={test}  {result.duration:6.1f}s")

    spark = get_spark(spark_master) if spark_master else None
    result = run_bench(spec, spark=spark, resume=resume_run, output=output, on_cell=on_cell)
    if result.skipped:
        click.echo(f"{result.skipped} cell(s) had finished in an earlier run of this bench and were not re-run.")
    click.echo(f"\nBench run {result.bench_run_id}; report: {result.report} (also logged as artifacts)\n")
    click.echo(result.report.read_text())


@main.command()
@click.option("--rows", default=100_000, show_default=True, help="Rows of the generated churn table.")
@click.option("--n-trials", type=click.IntRange(min=1), help="Override the demo sweep's n_trials.")
@click.option("--regenerate", is_flag=True, help="Regenerate the data even if it exists.")
def demo(rows: int, n_trials: int | None, regenerate: bool) -> None:
    """Generate the churn table, run examples/churn.yaml, register the champion and score every user."""
    import pandas as pd

    from sparksweep.datasets import generate_churn
    from sparksweep.spec import load_spec

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
    report = _score(
        model_uri,
        input_path=str(data_path),
        input_table=None,
        output_path=output,
        output_table=None,
        tracking_uri=spec.tracking.uri,
        keep=["user_id", "feature_date"],
        master="local[*]",
    )
    n = report.rows
    preds = pd.read_parquet(output)
    click.echo(f"\nScored {n} users with {model_uri} -> {output}")
    click.echo(f"  mean churn probability {preds['prediction'].mean():.3f}; the five users most at risk:")
    for row in preds.nlargest(5, "prediction").itertuples():
        click.echo(f"    user {row.user_id}: {row.prediction:.3f}")
    click.echo(f"\nDemo done in {time.perf_counter() - t0:.1f}s.")


if __name__ == "__main__":
    main()
