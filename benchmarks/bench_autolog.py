"""Per-trial cost of tracking: the bare fit, autologging, and model logging, per family, measured side by side.

Each trial runs through sparksweep's own worker (``run_trial``) in this process against a fresh SQLite store, so the
figures are the worker's real costs without Spark in the way. Three configurations per family, interleaved and
repeated, median reported:

* ``bare``:    child run with the metric only (autolog off, no model);
* ``autolog``: plus per-flavor autologging (no models, datasets, examples or plots);
* ``+model``:  plus the pyfunc model logged with explicit pip requirements.

The model's own serialization (``pickle.dumps`` of the same fitted model, outside MLflow) is timed too, so the
tracking overhead can be checked against the target of issue 7: under 100 ms per trial on top of the bare fit,
plus the model's own serialization. Overheads per trial:

* ``run``:     the child run's writes (create, metrics, end) and the validation score: ``bare`` total - fit;
* ``autolog``: ``autolog`` total - ``bare`` total;
* ``model``:   ``+model`` total - ``autolog`` total, of which ``pickle`` is the model's own serialization.

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

from mlflow import MlflowClient

from sparksweep.config import DataSpec
from sparksweep.data import TrainingData, prepare_dataset
from sparksweep.datasets import generate_churn
from sparksweep.models import FAMILIES
from sparksweep.search.trial import TrialState
from sparksweep.search.worker import TrialTask, run_trial

PARAMS = {
    "sklearn.hist_gradient_boosting": {"learning_rate": 0.1, "max_leaf_nodes": 31},
    "sklearn.random_forest": {"n_estimators": 100, "max_depth": 10},
    "sklearn.logistic_regression": {"C": 1.0},
    "xgboost": {"max_depth": 6, "learning_rate": 0.1},
    "lightgbm": {"num_leaves": 31, "learning_rate": 0.1},
}
CONFIGS = {"bare": (False, False), "autolog": (True, False), "+model": (True, True)}


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
        client = MlflowClient(uri)
        exp = client.create_experiment("bench", artifact_location=(Path(tmp) / "artifacts").as_uri())
        totals: dict[tuple[str, str], list[float]] = {}
        fits: dict[tuple[str, str], list[float]] = {}
        number = 0
        # Warm up every family and configuration once (imports, autolog patching), then measure interleaved.
        for rep in range(args.repeats + 1):
            for family, params in PARAMS.items():
                for config, (autolog, log_model) in CONFIGS.items():
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

    pickled = {family: _pickle_time(family, params, ds.training, args.repeats) for family, params in PARAMS.items()}
    print(f"Per-trial cost on {args.rows} rows (median of {args.repeats}), seconds")
    print(
        f"{'family':<32}{'bare fit':>9}{'bare':>8}{'autolog':>9}{'+model':>8}{'run ovh':>9}{'autolog ovh':>12}"
        f"{'model ovh':>10}{'pickle':>8}{'tracking ms':>12}{'< 100 ms':>9}"
    )
    ratios, met = [], 0
    for family in PARAMS:
        med = {c: statistics.median(totals[(family, c)]) for c in CONFIGS}
        fit = statistics.median(fits[(family, "bare")])
        run_ovh = med["bare"] - fit
        autolog_ovh = med["autolog"] - med["bare"]
        model_ovh = med["+model"] - med["autolog"]
        # What the target counts: everything tracking adds beyond the fit and the model's own serialization.
        tracking = run_ovh + autolog_ovh + max(0.0, model_ovh - pickled[family])
        met += tracking < 0.1
        ratios.append(med["+model"] / med["bare"])
        print(
            f"{family:<32}{fit:>9.3f}{med['bare']:>8.3f}{med['autolog']:>9.3f}{med['+model']:>8.3f}{run_ovh:>9.3f}"
            f"{autolog_ovh:>12.3f}{model_ovh:>10.3f}{pickled[family]:>8.3f}{1000 * tracking:>12.0f}"
            f"{'yes' if tracking < 0.1 else 'no':>9}"
        )
    print(
        f"target (tracking < 100 ms per trial beyond the fit and the model's own serialization): met for {met} of "
        f"{len(PARAMS)} families"
    )
    print("ratio (autolog + model) / bare, per family: " + ", ".join(f"{r:.2f}x" for r in ratios))


def _pickle_time(family: str, params: dict[str, float], data: TrainingData, repeats: int) -> float:
    """The median time to serialize the family's fitted model with pickle: the model's own serialization cost."""
    model = FAMILIES[family].build(params, task="binary", n_jobs=1, seed=0)
    model = FAMILIES[family].fit(model, data)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


if __name__ == "__main__":
    main()
