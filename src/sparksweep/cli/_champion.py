"""``sparksweep champion show|promote|rollback|history``: the champion of a registered model."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from sparksweep.cli._common import REGISTRY_OPTION, TRACKING_OPTION, registry_client

if TYPE_CHECKING:
    from sparksweep.registry import ChampionDecision

__all__ = ["champion"]


def _score_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.5f}"


def _echo_decision(decision: ChampionDecision) -> None:
    verdict = "now @champion" if decision.promoted else "not promoted; the champion stays"
    click.echo(f"{decision.name} version {decision.version}: {verdict}" + (" (forced)" if decision.forced else ""))
    click.echo(f"  reason: {decision.reason}")


@click.group()
def champion() -> None:
    """Show, promote or roll back the champion of a registered model, and list its promotion history."""


@champion.command("show")
@click.argument("name")
@TRACKING_OPTION
@REGISTRY_OPTION
def champion_show(name: str, tracking_uri: str | None, registry_uri: str | None) -> None:
    """Show NAME's aliases and versions with their gate decisions and test scores."""
    from sparksweep.registry import show_champion

    client, _, _ = registry_client(tracking_uri, registry_uri)
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
@TRACKING_OPTION
@REGISTRY_OPTION
def champion_promote(
    name: str, version: str, sweep_file: str | None, force: bool, tracking_uri: str | None, registry_uri: str | None
) -> None:
    """Make VERSION of NAME the champion, through the same gate as a sweep unless --force."""
    from sparksweep.sweep import promote_champion

    client, uri, registry = registry_client(tracking_uri, registry_uri)
    decision = promote_champion(
        client, name, version, tracking_uri=uri, registry_uri=registry, sweep_file=sweep_file, force=force
    )
    _echo_decision(decision)
    if not decision.promoted:
        sys.exit(1)


@champion.command("rollback")
@click.argument("name")
@TRACKING_OPTION
@REGISTRY_OPTION
def champion_rollback(name: str, tracking_uri: str | None, registry_uri: str | None) -> None:
    """Give @champion back to NAME's @previous version."""
    from sparksweep.registry import rollback_champion

    client, _, registry = registry_client(tracking_uri, registry_uri)
    event = rollback_champion(client, name, registry_uri=registry)
    stage = client.get_model_version(name, event.version).current_stage
    moved = f", stage {stage}" if stage in ("Staging", "Production") else ""
    click.echo(f"{name}: @champion is v{event.version} again (was v{event.replaced}){moved}")


@champion.command("history")
@click.argument("name")
@TRACKING_OPTION
@REGISTRY_OPTION
def champion_history_command(name: str, tracking_uri: str | None, registry_uri: str | None) -> None:
    """List NAME's champion changes: who replaced whom, when, how, by whom and with what scores."""
    from sparksweep.registry import champion_history

    client, _, _ = registry_client(tracking_uri, registry_uri)
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
