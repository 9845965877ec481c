"""Per-trial cost of tracking: the bare fit, autologging, and model logging, per family, measured side by side.

Each trial runs through sparksweep's own worker (``run_trial``) in this process against a fresh SQLite store, so the
figures are the worker's real costs without Spark in the way. Three configurations per family, interleaved and
repeated, median reported:

* ``bare``:    child run with the metric only (autolog off, no model);
* ``autolog``: plus per-flavor autologging (no models, datasets, examples or plots);
* ``+model``:  plus the pyfunc model logged with explicit pip requirements.

Run: ``python benchmarks/bench_autolog.py [--rows 20000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
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

    print(f"Per-trial cost on {args.rows} rows (median of {args.repeats}), seconds; overhead = total - bare total")
    print(
        f"{'family':<32}{'bare fit':>9}{'bare':>8}{'autolog fit':>12}{'autolog':>9}{'+model':>8}"
        f"{'autolog ovh':>12}{'model ovh':>10}"
    )
    ratios = []
    for family in PARAMS:
        med = {c: statistics.median(totals[(family, c)]) for c in CONFIGS}
        fit = {c: statistics.median(fits[(family, c)]) for c in CONFIGS}
        ratios.append(med["+model"] / med["bare"])
        print(
            f"{family:<32}{fit['bare']:>9.3f}{med['bare']:>8.3f}{fit['autolog']:>12.3f}{med['autolog']:>9.3f}"
            f"{med['+model']:>8.3f}{med['autolog'] - med['bare']:>12.3f}{med['+model'] - med['autolog']:>10.3f}"
        )
    print("ratio (autolog + model) / bare, per family: " + ", ".join(f"{r:.2f}x" for r in ratios))


if __name__ == "__main__":
    main()
