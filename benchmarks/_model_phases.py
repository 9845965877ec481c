"""Where a model trial's time goes, phase by phase (used by ``bench_timeline.py --models N``).

A real ``run_sweep`` of small LightGBM fits on generated churn data, with its trials run one at a time in this
process (an in-process executor defined here), so every phase of the worker can be timed: the run's creation, its
params, the data, the build, the fit, the score, the model's save and log, the results' batch, the final status, and
the driver's share (the loop's dispatch and result handling). The functions are wrapped with timers here; nothing in
sparksweep is changed. Phases nested inside another timed phase are counted in the outer one only.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PHASES = [
    ("run created", "create_run"),
    ("params logged", "params"),
    ("data (cached per process)", "data"),
    ("build the estimator", "build"),
    ("fit", "fit"),
    ("score (predict + metric)", "score"),
    ("read the run (for the model)", "get_run"),
    ("model saved and logged", "log_model"),
    ("metrics + tags (one batch)", "results"),
    ("final status", "end_run"),
    ("driver: dispatch", "dispatch"),
    ("driver: result", "result"),
    ("driver: parent-run writes (background)", "driver_writes"),
]


class _Timers:
    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = {}
        self._local = threading.local()

    def wrap(self, name: str | Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._local, "depth", 0)
            self._local.depth = depth + 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._local.depth = depth
                if depth == 0:
                    key = name(*args, **kwargs) if callable(name) else name
                    self.calls.setdefault(key, []).append(time.perf_counter() - t0)

        return wrapped


def _install(timers: _Timers) -> None:
    from mlflow import MlflowClient

    import sparksweep.models as models
    import sparksweep.sweep._loop as engine
    import sparksweep.worker._fit as fit
    import sparksweep.worker._record as record

    def batch_kind(*args: Any, **kwargs: Any) -> str:
        thread = threading.current_thread().name
        if not thread.startswith(("in-process-trial", "sparksweep-open-run")):
            return "driver_writes"  # the sweep's progress on its parent run, from the driver's background writer
        return "results" if kwargs.get("metrics") else "params"

    MlflowClient.create_run = timers.wrap("create_run", MlflowClient.create_run)  # type: ignore[method-assign]
    MlflowClient.log_batch = timers.wrap(batch_kind, MlflowClient.log_batch)  # type: ignore[method-assign]
    MlflowClient.get_run = timers.wrap("get_run", MlflowClient.get_run)  # type: ignore[method-assign]
    fit._training_data = timers.wrap("data", fit._training_data)  # type: ignore[attr-defined]
    fit._fit = timers.wrap("fit", fit._fit)  # type: ignore[attr-defined]
    fit._score = timers.wrap("score", fit._score)  # type: ignore[attr-defined]
    models.log_fitted_model = timers.wrap("log_model", models.log_fitted_model)
    record.end_run = timers.wrap("end_run", record.end_run)
    engine.Loop._dispatch = timers.wrap("dispatch", engine.Loop._dispatch)  # type: ignore[method-assign]
    engine.Loop._finish = timers.wrap("result", engine.Loop._finish)  # type: ignore[method-assign]
    lightgbm = models.get_family("lightgbm")
    type(lightgbm).build = timers.wrap("build", type(lightgbm).build)  # type: ignore[method-assign]


@dataclass(frozen=True)
class _Handle:
    fingerprint: str
    data: Any

    def load(self) -> Any:
        return self.data


def _in_process_executor() -> Any:
    from sparksweep.executors import BaseExecutor
    from sparksweep.worker import run_trial

    class InProcess(BaseExecutor):
        """Runs each trial in one thread of this process (one slot): the profile sees every phase, and the driver's
        share apart from the trial's."""

        name = "in-process"

        def __init__(self) -> None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="in-process-trial")

        @property
        def slots(self) -> int:
            return 1

        def share(self, data: Any) -> Any:
            return _Handle(f"in-process-{id(data)}", data)

        def submit(self, task: Any) -> Future[Any]:
            return self._thread.submit(run_trial, task)

        def cancel_all(self) -> None:
            return None

        def shutdown(self) -> None:
            self._thread.shutdown()

    return InProcess()


def profile(tmp: Path, n: int, rows: int) -> list[tuple[str, dict[str, list[float]], float]]:
    """Per mode of ``tracking.log_models`` (all, improving): the phases' times and the sweep's wall seconds."""
    from sparksweep.datasets import generate_churn
    from sparksweep.spec import validate_spec
    from sparksweep.sweep import run_sweep
    from sparksweep.tracking import prepare_store

    timers = _Timers()
    _install(timers)
    data = generate_churn(rows, seed=1)
    out = []
    for mode in ["warm-up", "all", "improving"]:
        uri = f"sqlite:///{tmp / f'models-{mode}.db'}"
        prepare_store(uri)
        spec = validate_spec(
            {
                "experiment": f"phases-{mode}",
                "data": {"path": "unused.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
                "models": ["lightgbm"],
                "search": {"n_trials": 3 if mode == "warm-up" else n, "seed": 0, "algorithm": "optuna.random"},
                "tracking": {"uri": uri, "figures": False, "log_models": "all" if mode == "warm-up" else mode},
            }
        )
        timers.calls.clear()
        t0 = time.perf_counter()
        executor = _in_process_executor()
        try:
            run_sweep(spec, data=data, executor=executor)
        finally:
            executor.shutdown()
        wall = time.perf_counter() - t0
        if mode != "warm-up":
            out.append((mode, {k: list(v) for k, v in timers.calls.items()}, wall))
    return out


def print_profile(results: list[tuple[str, dict[str, list[float]], float]], n: int, rows: int) -> None:
    print(f"\nA model trial, phase by phase (LightGBM, {rows} churn rows, {n} trials in-process, SQLite)")
    print("ms per trial (mean over the trials; a phase a trial skips counts 0) and its share of the trial's time")
    print(f"{'phase':<34}" + "".join(f"{mode:>22}" for mode, _, _ in results))
    for label, key in PHASES:
        cells = []
        for _, calls, wall in results:
            total = sum(calls.get(key, []))
            cells.append(f"{1000 * total / n:10.1f} ({100 * total / wall:4.1f}%)")
        print(f"{label:<34}" + "".join(f"{c:>22}" for c in cells))
    print(f"{'trial, all phases':<34}" + "".join(f"{1000 * wall / n:>22.1f}" for _, _, wall in results))
    kept = [len(calls.get("log_model", [])) for _, calls, _ in results]
    print(f"{'models logged':<34}" + "".join(f"{k:>22}" for k in kept))
    (_, _, all_wall), (_, calls, imp_wall) = results[0], results[1]
    fit = statistics.fmean(calls.get("fit", [0.0]))
    print(
        f"ratio: improving / all wall {imp_wall / all_wall:.2f}x; under improving a trial costs "
        f"{imp_wall / n / max(fit, 1e-9):.1f}x its fit"
    )
