"""Two sweeps that finish together register the same name: one consistent champion, both versions present."""

from __future__ import annotations

import multiprocessing as mp
import pickle
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow import MlflowClient

from sparksweep.config import RegisterSpec
from sparksweep.registry import champion_history, lease_name, register_champion
from sparksweep.scoring.metrics import get_metric
from tests.conftest import FluentStore
from tests.registry._fixtures import churn_dataset, log_trial

NAME = "churn-race"


def _register_in_process(payload: bytes, start: Any, out: Any) -> None:
    """Run in a spawned process: wait for the start signal, then register (as a sweep's last step would)."""
    uri, logged, dataset = pickle.loads(payload)
    start.wait(60)
    decision = register_champion(
        client=MlflowClient(uri, uri),
        tracking_uri=uri,
        registration=RegisterSpec(name=NAME),
        best=logged.trial,
        dataset=dataset,
        metric=get_metric("auc_roc"),
        sweep_run_id=logged.sweep_run_id,
    )
    out.put((logged.trial.family, decision.version, decision.promoted, decision.champion_version))


@pytest.mark.slow
def test_two_processes_register_at_once(fluent_store: FluentStore, churn: pd.DataFrame, tmp_path: Path) -> None:
    uri = fluent_store.uri
    dataset = churn_dataset(churn)
    weak = log_trial(uri, fluent_store.experiment_id, dataset, "test.constant")
    strong = log_trial(uri, fluent_store.experiment_id, dataset, "sklearn.logistic_regression")
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_register_in_process, args=(pickle.dumps((uri, logged, dataset)), start, out))
        for logged in (weak, strong)
    ]
    for proc in procs:
        proc.start()
    start.set()
    results = [out.get(timeout=180) for _ in procs]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    client = MlflowClient(uri, uri)
    versions = {str(v.version) for v in client.search_model_versions(f"name = '{NAME}'")}
    assert versions == {"1", "2"}, "both versions are present"
    by_family = {family: (version, promoted, against) for family, version, promoted, against in results}
    strong_version, _, _ = by_family["sklearn.logistic_regression"]
    aliases = {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}
    # Whichever registered first, the strong model ends as the champion, gated against what was really current.
    assert aliases["champion"] == strong_version
    history = champion_history(client, NAME)
    assert history[-1].version == strong_version
    first, second = sorted(results, key=lambda r: int(r[1]))
    assert first[3] is None, "the first registration saw no champion"
    assert second[3] == first[1], "the second was gated against the first, not against a stale read"
    if by_family["test.constant"][1]:  # the weak one came first and was replaced
        assert aliases == {"champion": strong_version, "previous": by_family["test.constant"][0]}
    else:
        assert aliases == {"champion": strong_version, "challenger": by_family["test.constant"][0]}
    assert lease_name(NAME) not in {m.name for m in client.search_registered_models()}
