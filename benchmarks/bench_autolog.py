"""Per-trial cost of tracking: the bare fit, autologging, and model logging, per family, measured side by side.

Each trial runs through sparksweep's own worker (``run_trial``) in this process against a fresh SQLite store, so the
figures are the worker's real costs without Spark in the way. Five configurations per family, interleaved and
repeated, medians of the paired per-repeat differences reported:

* ``bare``:    child run with the metric and the estimator's settings (``tracking.autolog: off``, no model);
* ``mlflow``:  MLflow's per-flavor autologging (``tracking.autolog: mlflow``; no models, datasets or examples), the
  baseline;
* ``ours``:    sparksweep's own record (``tracking.autolog: sparksweep``, the default): settings, estimator class,
  the boosters' curves, in the trial's one batch;
* ``+model``:  ``ours`` plus the pyfunc model, logged as the worker does (``log_fitted_model``);
* ``+log_model``: ``ours`` plus the same model logged through ``mlflow.pyfunc.log_model`` (the previous way, the
  baseline for model logging).

The model's own serialization is timed outside MLflow too: the family's native format (``save``: skops for
scikit-learn, XGBoost's UBJSON, LightGBM's text model; what a trial stores) and, for reference, ``pickle.dumps``.
Overheads per trial:

* ``run``:     the child run's writes (open, one batch, end) and the validation score: ``bare`` total - fit;
* ``autolog``: ``ours`` (or ``mlflow``) total - ``bare`` total;
* ``model``:   ``+model`` (or ``+log_model``) total - ``ours`` total, of which ``save`` is the model's own
  serialization.

The target of issue 7: tracking (run + autolog + model - save) under 100 ms per trial.

Run: ``python benchmarks/bench_autolog.py [--rows 20000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from sparksweep.data import TrainingData, prepare_dataset
from sparksweep.datasets import generate_churn
from sparksweep.models import FAMILIES, _mlflow
from sparksweep.spec import DataSpec
from sparksweep.tracking import prepare_store
from sparksweep.trial import TrialState
from sparksweep.worker import TrialTask, run_trial

PARAMS = {
    "sklearn.hist_gradient_boosting": {"learning_rate": 0.1, "max_leaf_nodes": 31},
    "sklearn.random_forest": {"n_estimators": 100, "max_depth": 10},
    "sklearn.logistic_regression": {"C": 1.0},
    "xgboost": {"max_depth": 6, "learning_rate": 0.1},
    "lightgbm": {"num_leaves": 31, "learning_rate": 0.1},
}
# config: (tracking.autolog, log the model, through mlflow.pyfunc.log_model)
CONFIGS = {
    "bare": ("off", False, False),
    "mlflow": ("mlflow", False, False),
    "ours": ("sparksweep", False, False),
    "+model": ("sparksweep", True, False),
    "+log_model": ("sparksweep", True, True),
}


@dataclass(frozen=True)
class InProcessData:
    fingerprint: str
    data: TrainingData

    def load(self) -> TrainingData:
        return self.data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    ds = prepare_dataset(
        generate_churn(args.rows, seed=0), DataSpec(path="-", target="label", drop=["user_id", "feature_date"])
    )
    handle = InProcessData(ds.fingerprint, ds.training)
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        client = prepare_store(uri)  # as a sweep prepares its store (SQLite in write-ahead-log mode)
        exp = client.create_experiment("bench", artifact_location=(Path(tmp) / "artifacts").as_uri())
        totals: dict[tuple[str, str], list[float]] = {}
        fits: dict[tuple[str, str], list[float]] = {}
        number = 0
        # Warm up every family and configuration once (imports, autolog patching), then measure interleaved.
        for rep in range(args.repeats + 1):
            for family, params in PARAMS.items():
                for config, (autolog, log_model, through_log_model) in CONFIGS.items():
                    _mlflow._log_pyfunc = _through_log_model if through_log_model else _LEAN
                    run_id = client.create_run(exp).info.run_id
                    task = TrialTask(
                        number=number,
                        run_id=run_id,
                        tracking_uri=uri,
                        family=FAMILIES[family],
                        params=params,
                        task="binary",
                        metric="auc_roc",
                        features=ds.features,
                        classes=ds.classes,
                        n_jobs=1,
                        seed=0,
                        data=handle,
                        autolog=autolog,
                        log_model=log_model,
                    )
                    number += 1
                    t0 = time.perf_counter()
                    result = run_trial(task)
                    elapsed = time.perf_counter() - t0
                    if result.state is not TrialState.COMPLETE:
                        raise SystemExit(f"{family}/{config} failed:\n{result.error}")
                    if rep > 0:
                        totals.setdefault((family, config), []).append(elapsed)
                        fits.setdefault((family, config), []).append(result.fit_time)

    _mlflow._log_pyfunc = _LEAN
    own = {family: _serialization(family, params, ds.training, args.repeats) for family, params in PARAMS.items()}
    print(f"Per-trial cost on {args.rows} rows (median of {args.repeats}), milliseconds")
    print(
        f"{'family':<32}{'fit':>6}{'run':>6}{'autolog':>9}{'(mlflow)':>9}{'model':>7}{'(log_model)':>12}"
        f"{'save':>6}{'pickle':>7}{'tracking':>9}{'(before)':>9}{'< 100':>6}"
    )
    ratios, met = [], 0
    for family in PARAMS:
        t = {c: totals[(family, c)] for c in CONFIGS}
        fit = 1000 * statistics.median(fits[(family, "bare")])
        save, pickled = (1000 * seconds for seconds in own[family])
        run_ovh = diff(t["bare"], fits[(family, "bare")])
        autolog_ovh, autolog_before = diff(t["ours"], t["bare"]), diff(t["mlflow"], t["bare"])
        model_ovh, model_before = diff(t["+model"], t["ours"]), diff(t["+log_model"], t["ours"])
        # What the target counts: everything tracking adds beyond the fit and the model's own serialization.
        tracking = run_ovh + autolog_ovh + max(0.0, model_ovh - save)
        before = run_ovh + autolog_before + max(0.0, model_before - save)
        met += tracking < 100
        ratios.append(before / tracking)
        print(
            f"{family:<32}{fit:>6.0f}{run_ovh:>6.0f}{autolog_ovh:>9.0f}{autolog_before:>9.0f}{model_ovh:>7.0f}"
            f"{model_before:>12.0f}{save:>6.0f}{pickled:>7.0f}{tracking:>9.0f}{before:>9.0f}"
            f"{'yes' if tracking < 100 else 'no':>6}"
        )
    print(
        "tracking = run + autolog + model - save (the model's own serialization, in its stored format); (before): "
        "with MLflow's autologging and mlflow.pyfunc.log_model"
    )
    print(f"target (tracking < 100 ms per trial): met for {met} of {len(PARAMS)} families")
    rollback, wal = _run_writes()
    print(
        f"SQLite store, one run's writes (create, a batch of 20 params and 5 metrics, end): {rollback:.1f} ms with a "
        f"rollback journal (MLflow's default), {wal:.1f} ms in write-ahead-log mode (prepare_store): "
        f"{rollback / wal:.1f}x"
    )
    print("ratio tracking before / after, per family: " + ", ".join(f"{r:.1f}x" for r in ratios))


_LEAN = _mlflow._log_pyfunc


def diff(a: list[float], b: list[float]) -> float:
    """Milliseconds ``a`` costs more than ``b``: the median of the per-repeat differences (each repeat runs the
    configurations back to back, so this is steadier than a difference of medians on a busy machine)."""
    return 1000 * statistics.median(x - y for x, y in zip(a, b, strict=True))


def _through_log_model(run: Any, local: Path, **save_kwargs: Any) -> str:
    """The previous way of logging a trial's model: ``mlflow.pyfunc.log_model`` into the active run (it re-reads
    the run and links its metrics to the model, and loads the model back to validate its input example)."""
    return str(mlflow.pyfunc.log_model(name="model", **save_kwargs).model_uri)


def _run_writes(runs: int = 40) -> tuple[float, float]:
    """Median milliseconds to create a run, log a batch into it and end it, in a new SQLite store with MLflow's
    default rollback journal and in one prepared as a sweep prepares it (write-ahead log), alternating between the
    two so that both see the same disk."""
    with tempfile.TemporaryDirectory() as tmp:
        stores = []
        for name, prepare in (("rollback", MlflowClient), ("wal", prepare_store)):
            client = prepare(f"sqlite:///{Path(tmp) / name}.db")
            stores.append((client, client.create_experiment("writes"), []))
        for _ in range(runs):
            for client, exp, times in stores:
                t0 = time.perf_counter()
                run_id = client.create_run(exp).info.run_id
                client.log_batch(
                    run_id,
                    metrics=[Metric(f"m{i}", 1.0, 0, 0) for i in range(5)],
                    params=[Param(f"p{i}", "1") for i in range(20)],
                )
                client.set_terminated(run_id)
                times.append(1000 * (time.perf_counter() - t0))
        rollback, wal = (statistics.median(times) for _, _, times in stores)
        return rollback, wal


def _serialization(family: str, params: dict[str, float], data: TrainingData, repeats: int) -> tuple[float, float]:
    """Median times to serialize the family's fitted model in its stored format (``save``) and with pickle."""
    model = FAMILIES[family].build(params, task="binary", n_jobs=1, seed=0)
    model = FAMILIES[family].fit(model, data)
    saves, pickles = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            FAMILIES[family].save(model, Path(tmp))
            saves.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        pickles.append(time.perf_counter() - t0)
    return statistics.median(saves), statistics.median(pickles)


if __name__ == "__main__":
    main()
