"""``sparksweep run``, ``resume`` and ``demo``: run a sweep with the progress on the terminal, then its summary."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sparksweep.cli._common import REGISTRY_HELP, quiet_libraries
from sparksweep.cli._score import score_model

if TYPE_CHECKING:
    from sparksweep.cli._progress import ProgressDisplay
    from sparksweep.spec import SweepSpec
    from sparksweep.sweep import SweepResult

__all__ = ["demo", "print_data_plan", "print_summary", "resume", "run", "run_spec"]


def print_summary(result: SweepResult) -> None:
    """The sweep's outcome: its trials (the top five), finalists, ensemble, champion and where to look in MLflow."""
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
    from sparksweep.figures import run_link  # UI links open the model-training view

    link = run_link(result.experiment_id, result.sweep_run_id, result.tracking_uri if server else None)
    click.echo(f"  the sweep's run: {link}" + ("" if server else " (after the UI's address)"))


def _display(spec: SweepSpec) -> ProgressDisplay:
    from sparksweep.cli._progress import ProgressDisplay
    from sparksweep.metrics import DEFAULT_METRIC

    return ProgressDisplay(spec.metric or (DEFAULT_METRIC[spec.task] if spec.task else "value"))


def run_spec(spec: SweepSpec) -> SweepResult:
    from sparksweep.sweep import run_sweep

    quiet_libraries()
    click.echo(
        f"Sweep {spec.experiment!r}: {spec.search.n_trials} trials of {', '.join(spec.models)} "
        f"with {spec.search.algorithm} on {spec.search.executor}"
        + (f" ({spec.spark.remote or spec.spark.master})" if spec.search.executor != "local" else "")
    )
    display = _display(spec)
    try:
        result = run_sweep(spec, on_trial=display)
    finally:
        display.close()
    print_summary(result)
    return result


@click.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--n-trials", type=click.IntRange(min=1), help="Override search.n_trials.")
@click.option("--parallelism", type=click.IntRange(min=1), help="Override search.parallelism.")
@click.option("--algorithm", help="Override search.algorithm.")
@click.option("--seed", type=int, help="Override search.seed.")
@click.option(
    "--executor",
    type=click.Choice(["spark-pool", "spark", "spark-frames", "local"]),
    help="Override search.executor: spark-pool (the default), spark (a job per trial), spark-frames (a DataFrame "
    "job per trial, as on Spark Connect), local (no Spark).",
)
@click.option("--tracking-uri", help="Override tracking.uri.")
@click.option(
    "--registry-uri",
    help="Override tracking.registry_uri: the model registry when it is not the tracking store (databricks-uc for "
    "Unity Catalog).",
)
@click.option("--spark-master", help="Override spark.master (local[*], local[N], spark://host:port).")
@click.option(
    "--spark-remote",
    help="Override spark.remote: run on this Spark Connect server (sc://host:port; local[N]: one in this process).",
)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Override search.timeout (seconds).")
@click.option("--pruner", type=click.Choice(["none", "median", "successive_halving", "hyperband"]))
@click.option("--warm-start", help="Parent run id of an earlier sweep whose trials seed the search.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Read and check the data, print the kind chosen for each column and the split, and run no trial.",
)
def run(
    sweep_file: str,
    n_trials: int | None,
    parallelism: int | None,
    algorithm: str | None,
    seed: int | None,
    executor: str | None,
    tracking_uri: str | None,
    registry_uri: str | None,
    spark_master: str | None,
    spark_remote: str | None,
    timeout: float | None,
    pruner: str | None,
    warm_start: str | None,
    dry_run: bool,
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
            "tracking.registry_uri": registry_uri,
            "spark.master": spark_master,
            "spark.remote": spark_remote,
        }
    )
    if dry_run:
        print_data_plan(spec)
        return
    run_spec(spec)


def print_data_plan(spec: SweepSpec) -> None:
    """What ``run --dry-run`` prints: the table's source, each column's kind and why, the task and the split."""
    import warnings

    from sparksweep.data import load_table, prepare_dataset

    quiet_libraries()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = prepare_dataset(load_table(spec.data), spec.data, spec.task)
    click.echo(f"Data from {spec.data.source}: {dataset.n_rows:,} rows, task {dataset.task}")
    width = max(len(k.column) for k in dataset.kinds)
    click.echo(f"  {'column':<{width}}  {'kind':<11}  {'dtype':<14}  why")
    for k in dataset.kinds:
        click.echo(f"  {k.column:<{width}}  {k.kind.value:<11}  {k.dtype:<14}  {k.reason}")
    t = dataset.training
    order = ""
    if spec.data.time_column:
        order = f" (by time: test the latest by {spec.data.time_column!r}, valid the latest before them)"
    elif spec.data.group_column:
        order = f" (whole groups of {spec.data.group_column!r} on each side)"
    click.echo(f"Split: {len(t.X_train):,} train, {len(t.X_valid):,} valid, {len(dataset.X_test):,} test rows{order}")
    for warning in caught:
        click.echo(f"Warning: {warning.message}")
    click.echo("Dry run: no trial was run.")


@click.command()
@click.argument("parent_run_id")
@click.option("--tracking-uri", help="The store the sweep recorded into (default: MLFLOW_TRACKING_URI or mlflow.db).")
@click.option("--registry-uri", help="Override the recorded sweep file's tracking.registry_uri. " + REGISTRY_HELP)
def resume(parent_run_id: str, tracking_uri: str | None, registry_uri: str | None) -> None:
    """Continue the sweep PARENT_RUN_ID whose driver stopped (Ctrl-C, kill -9, a lost machine)."""
    from sparksweep.sweep import resume_sweep

    quiet_libraries()
    click.echo(f"Resuming sweep {parent_run_id}")
    from sparksweep.cli._progress import ProgressDisplay

    display = ProgressDisplay(None)
    try:
        result = resume_sweep(parent_run_id, tracking_uri=tracking_uri, registry_uri=registry_uri, on_trial=display)
    finally:
        display.close()
    print_summary(result)


@click.command()
@click.argument("trial_run_id")
@click.option("--tracking-uri", help="The store the sweep recorded into (default: MLFLOW_TRACKING_URI or mlflow.db).")
def refit(trial_run_id: str, tracking_uri: str | None) -> None:
    """Fit the trial TRIAL_RUN_ID again and log its model into its run (a model tracking.log_models did not keep)."""
    from sparksweep.sweep import refit_trial

    quiet_libraries()
    done = refit_trial(trial_run_id, tracking_uri=tracking_uri)
    if not done.fitted:
        click.echo(f"Trial run {trial_run_id} already has its model {done.model_uri}: nothing fitted")
        return
    recorded = "not recorded" if done.recorded is None else f"recorded {done.recorded:.6g}"
    click.echo(f"Trial run {trial_run_id}: refitted, {done.metric} {done.value:.6g} on validation ({recorded})")
    click.echo(f"Model logged into the run: {done.model_uri}")


@click.command()
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
    result = run_spec(spec)
    if result.champion is None:
        raise click.ClickException("the sweep registered no model, so there is nothing to score with")
    model_uri = f"models:/{result.champion.name}@champion"
    output = "data/churn_predictions.parquet"
    report = score_model(
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
