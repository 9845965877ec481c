"""Each model family's best validation value on three data sets, from small sweeps of that family alone.

* ``churn``:    the demo table (``generate_churn``, 100,000 rows by default, as ``sparksweep demo``), binary, auc_roc;
* ``digits``:   scikit-learn's bundled digits (1,797 rows, 64 features, 10 classes), multiclass, log_loss;
* ``diabetes``: scikit-learn's bundled diabetes (442 rows, 10 features), regression, rmse.

Every family gets the same budget per data set (``--trials`` Optuna TPE trials, 2 in flight on ``local[2]``, seed 0,
default spaces, no models logged). The ratio column compares each value with the best family's on that data set
(for a minimized metric, best / value), all measured in this run. Run under the shared lock:
``flock /tmp/sparksweep-heavy.lock .venv/bin/python benchmarks/bench_families.py [--rows 100000] [--trials 6]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sparksweep._spark import get_spark
from sparksweep.datasets import generate_churn
from sparksweep.errors import DataError, DataWarning
from sparksweep.executors import SparkExecutor
from sparksweep.metrics import Direction
from sparksweep.models import FAMILIES
from sparksweep.spec import validate_spec
from sparksweep.sweep import run_sweep
from sparksweep.tracking import prepare_store


@dataclass(frozen=True)
class Case:
    name: str
    frame: pd.DataFrame
    task: str
    metric: str
    drop: list[str]


@dataclass(frozen=True)
class Outcome:
    value: float | None
    seconds: float
    note: str = ""


def _cases(rows: int) -> list[Case]:
    from sklearn.datasets import load_diabetes, load_digits

    digits = load_digits(as_frame=True).frame
    diabetes = load_diabetes(as_frame=True).frame
    return [
        Case("churn", generate_churn(rows, seed=0), "binary", "auc_roc", ["user_id", "feature_date"]),
        Case("digits", digits, "multiclass", "log_loss", []),
        Case("diabetes", diabetes, "regression", "rmse", []),
    ]


def _sweep(case: Case, family: str, trials: int, uri: str, executor: SparkExecutor) -> Outcome:
    spec = validate_spec(
        {
            "experiment": f"bench-{case.name}",
            "data": {"target": "label" if case.name == "churn" else "target", "drop": case.drop},
            "task": case.task,
            "metric": case.metric,
            "models": [family],
            "search": {"n_trials": trials, "parallelism": 2, "seed": 0, "algorithm": "optuna.tpe"},
            "tracking": {"uri": uri, "autolog": False, "log_models": False},
        }
    )
    t0 = time.perf_counter()
    try:
        result = run_sweep(spec, data=case.frame, executor=executor)
    except DataError as exc:
        limit = FAMILIES[family].max_train_rows
        reason = f"refused: > {limit:,} rows" if limit is not None and "small data" in str(exc) else "refused"
        return Outcome(None, time.perf_counter() - t0, reason)
    failed = [t for t in result.trials if t.value is None]
    note = f"{len(failed)} failed" if failed else ""
    value = None if result.best is None else result.best.value
    return Outcome(value, time.perf_counter() - t0, note)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=6)
    args = parser.parse_args()
    warnings.simplefilter("ignore", DataWarning)
    cases = _cases(args.rows)
    outcomes: dict[tuple[str, str], Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="sparksweep-bench-") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        prepare_store(uri)  # the store exists before Spark starts
        spark = get_spark("local[2]", {"spark.ui.enabled": "false"})
        executor = SparkExecutor(spark, parallelism=2)
        try:
            for case in cases:
                for family, fam in FAMILIES.items():
                    if case.task in fam.tasks and not family.startswith(("test.", "bench.")):
                        outcomes[(case.name, family)] = _sweep(case, family, args.trials, uri, executor)
                        o = outcomes[(case.name, family)]
                        print(f"  {case.name:<9}{family:<32}{o.value!s:<22}{o.seconds:6.1f}s {o.note}", flush=True)
        finally:
            executor.shutdown()
            spark.stop()

    print(f"\nBest validation value per family ({args.trials} trials each; churn {args.rows:,} rows)")
    header = "".join(f"{c.name + ' ' + c.metric:>24}{'ratio':>7}{'s':>6}" for c in cases)
    print(f"{'family':<32}{header}")
    best: dict[str, float] = {}
    for case in cases:
        values = [o.value for (name, _), o in outcomes.items() if name == case.name and o.value is not None]
        direction = Direction.MINIMIZE if case.metric in {"log_loss", "rmse"} else Direction.MAXIMIZE
        best[case.name] = min(values) if direction is Direction.MINIMIZE else max(values)
    for family in FAMILIES:
        if family.startswith(("test.", "bench.")):
            continue
        cells = []
        for case in cases:
            o = outcomes.get((case.name, family))
            if o is None:
                cells.append(f"{'n/a (task)':>24}{'':>7}{'':>6}")
            elif o.value is None:
                cells.append(f"{o.note[:23]:>24}{'':>7}{o.seconds:>6.0f}")
            else:
                minimize = case.metric in {"log_loss", "rmse"}
                ratio = best[case.name] / o.value if minimize else o.value / best[case.name]
                cells.append(f"{o.value:>24.4f}{ratio:>7.3f}{o.seconds:>6.0f}")
        print(f"{family:<32}{''.join(cells)}")
    print("ratio: value relative to the best family on that data set (1.000 = best; lower is worse)")


if __name__ == "__main__":
    main()
