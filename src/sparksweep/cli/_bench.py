"""``sparksweep bench``: compare algorithms and model-family sets, every cell of a bench file a real sweep."""

from __future__ import annotations

import click

from sparksweep.cli._common import quiet_libraries

__all__ = ["bench"]


@click.command()
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

    quiet_libraries()
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
