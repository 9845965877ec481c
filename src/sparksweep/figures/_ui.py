"""How the sweep looks in MLflow's UI: the experiment marked as model training, links that open the model-training
view, and the parent run's description.

MLflow 3.17's UI picks its view (GenAI or model training) from the URL's ``?workflowType=machine_learning`` or the
browser's saved choice, and reads the experiment's ``mlflow.experimentKind`` tag only when that switch is off; so the
tag is set and every link sparksweep writes carries the parameter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sparksweep.figures._records import SweepRecord

__all__ = [
    "DESCRIPTION_TAG",
    "EXPERIMENT_KIND",
    "EXPERIMENT_KIND_TAG",
    "WORKFLOW_QUERY",
    "describe_sweep",
    "mark_model_training",
    "model_link",
    "run_link",
]

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
WORKFLOW_QUERY = "workflowType=machine_learning"
DESCRIPTION_TAG = "mlflow.note.content"
"""The tag MLflow's UI shows (and edits) as a run's description."""


def _base(tracking_uri: str | None) -> str:
    """The UI's address: the tracking server itself; '' (a link relative to the UI page) for a local store."""
    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/") + "/"
    return ""


def run_link(experiment_id: str, run_id: str | None = None, tracking_uri: str | None = None) -> str:
    """The UI's page of an experiment (or of one of its runs), in the model-training view.

    Example:
        >>> run_link("1", "abc", "http://127.0.0.1:5000")
        'http://127.0.0.1:5000/#/experiments/1/runs/abc?workflowType=machine_learning'
    """
    path = f"#/experiments/{experiment_id}" + (f"/runs/{run_id}" if run_id else "")
    return f"{_base(tracking_uri)}{path}?{WORKFLOW_QUERY}"


def model_link(name: str, version: str, tracking_uri: str | None = None) -> str:
    """The UI's page of a registered model version.

    Example:
        >>> model_link("churn", "3")
        '#/models/churn/versions/3?workflowType=machine_learning'
    """
    return f"{_base(tracking_uri)}#/models/{name}/versions/{version}?{WORKFLOW_QUERY}"


def mark_model_training(client: MlflowClient, experiment_id: str) -> None:
    """Tag the experiment as model training, so the UI opens it in that view rather than the GenAI one."""
    client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)


def describe_sweep(record: SweepRecord, champion_run_id: str | None) -> str:
    """The parent run's description (markdown): what the sweep was, its best trial and the champion, linked."""
    s = record.settings
    done = len(record.completed)
    lines = [
        f"**sparksweep sweep** of {len(record.trials)} trials ({done} completed) over "
        f"{s.get('models', '?').replace(',', ', ')}, searched by {s.get('algorithm', '?')} on the "
        f"{s.get('executor', '?')} executor with {s.get('parallelism', '?')} slots; {record.metric} "
        f"({record.direction.value}) on {s.get('n_rows', '?')} rows, {s.get('n_features', '?')} features; "
        f"stopped by {record.stop_reason or '?'}.",
    ]
    best = record.best()
    if best is not None:
        link = run_link(record.experiment_id, best.run_id)
        lines.append(f"Best trial: [#{best.number} {best.family}]({link}), {record.metric} {best.value:.5g}.")
    gate = record.gate
    if gate is not None:
        verdict = "promoted to @champion" if gate.promoted else "kept as @challenger"
        score = "" if gate.candidate_score is None else f", test {record.metric} {gate.candidate_score:.5g}"
        link = model_link(gate.name, gate.version)
        lines.append(f"Registered [{gate.name} v{gate.version}]({link}): {verdict}{score}.")
        if champion_run_id:
            lines.append(
                f"Its run, with the champion's figures: [{champion_run_id}]"
                f"({run_link(record.experiment_id, champion_run_id)})."
            )
        lines.append(f"Gate: {gate.reason}")
    lines.append("Figures: `figures/` and `report.html` in this run's artifacts.")
    return "\n\n".join(lines)
