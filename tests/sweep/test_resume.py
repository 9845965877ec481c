"""Resume from MLflow alone: a real sweep process is killed with SIGKILL midway, then resumed to completion."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

import tests.helpers as helpers
from sparksweep.cli import main
from sparksweep.datasets import generate_churn
from sparksweep.errors import SpecError
from sparksweep.models import register_family
from sparksweep.sweep import resume_sweep
from sparksweep.tracking import prepare_store
from sparksweep.trial import TrialState

REPO = Path(__file__).resolve().parents[2]
N_TRIALS = 8

register_family(helpers.SleepyFamily(), replace=True)

SCRIPT = textwrap.dedent(
    """
    import sys
    import tests.helpers as helpers
    from sparksweep.spec import validate_spec
    from sparksweep.models import register_family
    from sparksweep.sweep import run_sweep

    register_family(helpers.SleepyFamily(), replace=True)
    spec = validate_spec({
        "experiment": "resume",
        "data": {"path": sys.argv[1], "target": "label", "drop": ["user_id", "feature_date"]},
        "models": ["test.sleepy"],
        "search": {"n_trials": N_TRIALS, "parallelism": 2, "seed": 5, "executor": "local", "algorithm": "hyperopt.tpe"},
        "tracking": {"uri": sys.argv[2], "log_models": False, "autolog": False},
    })
    run_sweep(spec)
    """
).replace("N_TRIALS", str(N_TRIALS))


def _children(client: MlflowClient) -> list[Any]:
    experiment = client.get_experiment_by_name("resume")
    if experiment is None:
        return []
    return [r for r in client.search_runs([experiment.experiment_id]) if "sparksweep.trial_number" in r.data.tags]


@pytest.mark.slow
def test_a_sweep_killed_midway_resumes_with_no_trial_lost_or_repeated(workdir: Path, tracking_uri: str) -> None:
    data = workdir / "users.parquet"
    generate_churn(500, seed=1).to_parquet(data, index=False)
    client = prepare_store(tracking_uri)  # created here first: two processes migrating a new store race
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    # Its own process group: SIGKILL takes the driver and its pool workers at once, like a lost machine.
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(data), tracking_uri],
        cwd=workdir,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            runs = _children(client)
            finished = [r for r in runs if r.info.status == "FINISHED"]
            running = [r for r in runs if r.info.status == "RUNNING"]
            if len(finished) >= 3 and running:
                break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.1)
        else:
            pytest.fail("the sweep did not get midway in 120 s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()

    before = {r.info.run_id: r for r in _children(client)}
    left_running = {rid for rid, r in before.items() if r.info.status == "RUNNING"}
    done_before = {rid for rid, r in before.items() if r.info.status == "FINISHED"}
    assert left_running, "the driver died with trials in flight"
    assert len(done_before) < N_TRIALS
    parent_id = next(iter(before.values())).data.tags["mlflow.parentRunId"]
    assert client.get_run(parent_id).info.status == "RUNNING"  # nobody ended it

    started = time.monotonic()
    result = resume_sweep(parent_id, tracking_uri=tracking_uri)
    resume_seconds = time.monotonic() - started

    after = _children(client)
    numbers = [int(r.data.tags["sparksweep.trial_number"]) for r in after]
    assert len(numbers) == len(set(numbers)), "no trial number is used twice"
    assert sorted(numbers) == list(range(len(numbers)))
    by_id = {r.info.run_id: r for r in after}
    for rid in done_before:  # finished trials were not re-run: same run, same value
        assert by_id[rid].info.status == "FINISHED"
        assert by_id[rid].data.metrics == before[rid].data.metrics
    for rid in left_running:
        assert by_id[rid].info.status == "KILLED"
        assert "driver stopped" in by_id[rid].data.tags["sparksweep.error"]
    outcomes = [r for r in after if r.info.status in {"FINISHED", "FAILED"}]
    assert len(outcomes) == N_TRIALS, "the budget counts what was done before the kill"
    assert {t.run_id for t in result.trials} == set(by_id)
    assert sum(t.state is TrialState.KILLED for t in result.trials) == len(left_running)
    assert result.best is not None
    assert result.best.value == max(r.data.metrics["auc_roc"] for r in after if r.info.status == "FINISHED")
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED"
    history = client.get_metric_history(parent_id, "best_auc_roc")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == sorted(m.value for m in history)
    print(
        f"\nresume: killed with {len(done_before)} finished and {len(left_running)} running of {N_TRIALS}; "
        f"resumed {N_TRIALS - len(done_before)} more in {resume_seconds:.1f}s; {len(after)} runs, none repeated"
    )

    # Nothing left to do: resuming again runs no trial; the CLI says so in its summary.
    again = CliRunner().invoke(main, ["resume", parent_id, "--tracking-uri", tracking_uri], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert len(_children(client)) == len(after)


def test_resume_names_what_is_wrong_with_the_run_id(tracking_uri: str) -> None:
    with pytest.raises(SpecError, match="no MLflow run 'nope'"):
        resume_sweep("nope", tracking_uri=tracking_uri)
