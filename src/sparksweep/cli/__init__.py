"""The ``sparksweep`` command line: ``run``, ``resume``, ``demo``, ``score``, ``champion show|promote|rollback|history``
``report`` and ``bench``, one module per command group (the terminal's progress display in ``_progress``).

Example:
    $ sparksweep run examples/churn.yaml --n-trials 8
    $ sparksweep score --model models:/churn-prediction-model@champion --input users.parquet --output preds.parquet
"""

from __future__ import annotations

import click

from sparksweep.cli._bench import bench
from sparksweep.cli._champion import champion
from sparksweep.cli._common import SparkSweepGroup
from sparksweep.cli._report import report
from sparksweep.cli._run import demo, refit, resume, run
from sparksweep.cli._run import print_summary as _print_summary  # noqa: F401 (tests/search/test_finalists.py)
from sparksweep.cli._score import score

__all__ = ["main"]


@click.group(cls=SparkSweepGroup)
@click.version_option(package_name="sparksweep")
def main() -> None:
    """sparksweep: hyperparameter sweeps across model families on Spark, tracked in MLflow."""


for _command in (run, resume, refit, score, champion, report, bench, demo):
    main.add_command(_command)
