"""``sparksweep report``: draw an earlier sweep's figures and report.html (on its runs, and into a folder)."""

from __future__ import annotations

import click

from sparksweep.cli._common import TRACKING_OPTION, quiet_libraries

__all__ = ["report"]


@click.command()
@click.argument("parent_run_id")
@click.option("--out", type=click.Path(file_okay=False), help="Also write the figures and report.html to this folder.")
@TRACKING_OPTION
def report(parent_run_id: str, out: str | None, tracking_uri: str | None) -> None:
    """Draw the figures and report.html of the earlier sweep PARENT_RUN_ID."""
    from sparksweep.figures import report_sweep

    quiet_libraries()
    drawn = report_sweep(parent_run_id, tracking_uri=tracking_uri, out=out)
    click.echo(f"Drew {len(drawn.parent_artifacts)} artifacts on the sweep's run {parent_run_id}")
    if drawn.champion_run_id is not None:
        click.echo(f"  and {len(drawn.champion_artifacts)} on the champion's run {drawn.champion_run_id}")
    if drawn.failed:
        click.echo(f"  not drawn: {', '.join(drawn.failed)}")
    if out is not None:
        click.echo(f"  written to {out}/ (open {out}/report.html)")
