"""Two sweeps that finish together register the same name: one consistent champion, both versions present."""

from __future__ import annotations

import itertools
import multiprocessing as mp
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pytest
from mlflow import MlflowClient

from sparksweep.metrics import get_metric
from sparksweep.registry import Candidate, champion_history, lease_name, register_champion
from sparksweep.spec import RegisterSpec
from tests.conftest import FluentStore
from tests.registry._fixtures import Logged, churn_dataset, log_trial

NAME = "churn-race"


def _register(uri: str, logged: Logged, dataset: Any) -> Any:
    return register_champion(
        client=MlflowClient(uri, uri),
        tracking_uri=uri,
        registration=RegisterSpec(name=NAME),
        candidate=Candidate.from_trial(logged.trial),
        dataset=dataset,
        metric=get_metric("auc_roc"),
        sweep_run_id=logged.sweep_run_id,
    )


def _register_in_process(payload: bytes, ready: Any, start: Any, out: Any) -> None:
    """Run in a spawned process: say it is ready, wait for the start signal, then register (as a sweep's last
    step would)."""
    uri, logged, dataset = pickle.loads(payload)
    ready.put(True)
    start.wait(120)
    decision = _register(uri, logged, dataset)
    out.put((decision.version, decision.promoted, decision.champion_version, decision.candidate_score))


@pytest.mark.slow
def test_two_processes_register_at_once(fluent_store: FluentStore, churn: pd.DataFrame) -> None:
    uri = fluent_store.uri
    dataset = churn_dataset(churn)
    weak = log_trial(uri, fluent_store.experiment_id, dataset, "test.constant")
    assert _register(uri, weak, dataset).version == "1"  # a champion both racers must load and beat
    # Two models of one family (so both take the same time to load), one much better than the other.
    racers = [
        log_trial(uri, fluent_store.experiment_id, dataset, "sklearn.logistic_regression", {"C": c})
        for c in (1.0, 1e-4)
    ]
    ctx = mp.get_context("spawn")
    ready, start, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_register_in_process, args=(pickle.dumps((uri, logged, dataset)), ready, start, out))
        for logged in racers
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)  # both have imported everything: the race starts together
    start.set()
    results = sorted((out.get(timeout=180) for _ in procs), key=lambda r: int(r[0]))
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    client = MlflowClient(uri, uri)
    assert {str(v.version) for v in client.search_model_versions(f"name = '{NAME}'")} == {"1", "2", "3"}
    (first, first_promoted, first_saw, _), (_, _, second_saw, _) = results
    # Serialized: the first gated against v1; the second against whatever the first left as champion.
    assert first_saw == "1"
    assert second_saw == (first if first_promoted else "1"), "the second racer read a stale champion"
    best_version = max(results, key=lambda r: r[3])[0]
    aliases = {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}
    assert aliases["champion"] == best_version, "the better racer ends as champion, whichever came first"
    history = champion_history(client, NAME)
    assert all(e.replaced == before.version for before, e in itertools.pairwise(history)), (
        "each champion change replaced the champion of the change before it"
    )
    assert aliases["previous"] == history[-1].replaced
    assert lease_name(NAME) not in {m.name for m in client.search_registered_models()}


def test_two_threads_register_at_once(fluent_store: FluentStore, churn: pd.DataFrame) -> None:
    """The same race from two threads of one warm process, where the registrations overlap most tightly (with the
    lease switched off this test fails: the second reads a stale champion, or the two alias upserts collide)."""
    uri = fluent_store.uri
    dataset = churn_dataset(churn)
    weak = log_trial(uri, fluent_store.experiment_id, dataset, "test.constant")
    assert _register(uri, weak, dataset).version == "1"
    # Two models of one family (so both take the same time to load), one much better than the other.
    racers = [
        log_trial(uri, fluent_store.experiment_id, dataset, "sklearn.logistic_regression", {"C": c})
        for c in (1.0, 1e-4)
    ]
    barrier = threading.Barrier(len(racers))

    def race(logged: Logged) -> Any:
        barrier.wait(60)
        return _register(uri, logged, dataset)

    with ThreadPoolExecutor(len(racers)) as pool:
        decisions = sorted(pool.map(race, racers), key=lambda d: int(d.version))
    first, second = decisions
    assert first.champion_version == "1"
    assert second.champion_version == (first.version if first.promoted else "1"), "a stale champion was read"
    client = MlflowClient(uri, uri)
    best = max(decisions, key=lambda d: d.candidate_score)
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == best.version
    history = champion_history(client, NAME)
    assert all(e.replaced == before.version for before, e in itertools.pairwise(history))
