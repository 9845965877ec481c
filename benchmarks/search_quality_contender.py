"""One contender of benchmarks/bench_search_quality.py, run in a process of its own.

``python search_quality_contender.py CONTENDER CELL_DIR OUT_JSON`` reads the cell (``cell.json``: task, metric,
budget, seed, cores; ``train.csv`` and ``test.csv``), searches within the budget, fits its final model on all the
training rows and writes its test predictions, wall time and trial count to ``OUT_JSON``. The clock starts after the
imports (each contender's libraries are loaded before it) and stops when the final model is fitted; predicting the
test rows is not counted. sparksweep's Spark start is inside the clock.

FLAML runs from the benchmark environment (.venv-bench, `make bench-env`): it needs xgboost < 3, which sparksweep's
own environment does not have. Everything else runs from sparksweep's environment. So this file imports nothing
from sparksweep at module level.
"""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TARGET = "target"

# The LightGBM space of the Optuna and Hyperopt loops: LightGBM's "Parameters Tuning" guide, with the number of trees
# searched (these loops have no early stopping).
LGBM_SPACE: dict[str, tuple[str, float, float]] = {
    "n_estimators": ("int_log", 20, 1000),
    "learning_rate": ("float_log", 0.01, 0.3),
    "num_leaves": ("int_log", 4, 256),
    "min_child_samples": ("int_log", 2, 100),
    "subsample": ("float", 0.5, 1.0),
    "colsample_bytree": ("float", 0.5, 1.0),
    "reg_lambda": ("float_log", 1e-3, 10.0),
}
REFIT_RESERVE = 0.05
"""Share of the budget the Optuna and Hyperopt loops keep for the final fit on all training rows."""


def _lgbm(task: str, params: dict[str, Any], cores: int, seed: int) -> Any:
    import lightgbm as lgb

    cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
    return cls(subsample_freq=1, n_jobs=cores, random_state=seed, verbose=-1, **params)


def _predict(model: Any, X: pd.DataFrame, task: str) -> np.ndarray:
    if task == "regression":
        return np.asarray(model.predict(X), dtype=np.float64)
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    return proba[:, 1] if task == "binary" else proba


def _cv_score(
    task: str, metric: str, params: dict[str, Any], X: pd.DataFrame, y: np.ndarray, cores: int, seed: int
) -> float:
    """Mean 3-fold CV loss (lower is better) of LightGBM with ``params`` on the training rows."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    folds = (
        KFold(3, shuffle=True, random_state=seed)
        if task == "regression"
        else StratifiedKFold(3, shuffle=True, random_state=seed)
    )
    scoring = {"auc_roc": "roc_auc", "rmse": "neg_root_mean_squared_error", "log_loss": "neg_log_loss"}[metric]
    scores = cross_val_score(_lgbm(task, params, cores, seed), X, y, cv=folds, scoring=scoring)
    return -float(np.mean(scores))


def run_optuna(cell: dict[str, Any], X: pd.DataFrame, y: np.ndarray) -> tuple[Any, int, str]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    task, cores, seed = cell["task"], cell["cores"], cell["seed"]

    def objective(trial: optuna.Trial) -> float:
        params: dict[str, Any] = {}
        for name, (kind, low, high) in LGBM_SPACE.items():
            if kind.startswith("int"):
                params[name] = trial.suggest_int(name, int(low), int(high), log=kind.endswith("log"))
            else:
                params[name] = trial.suggest_float(name, low, high, log=kind.endswith("log"))
        return _cv_score(task, cell["metric"], params, X, y, cores, seed)

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, timeout=cell["budget"] * (1 - REFIT_RESERVE) - cell["elapsed"]())
    model = _lgbm(task, study.best_params, cores, seed).fit(X, y)
    return model, len(study.trials), "lightgbm"


def run_hyperopt(cell: dict[str, Any], X: pd.DataFrame, y: np.ndarray) -> tuple[Any, int, str]:
    from hyperopt import Trials, fmin, hp, space_eval, tpe

    task, cores, seed = cell["task"], cell["cores"], cell["seed"]
    space: dict[str, Any] = {}
    for name, (kind, low, high) in LGBM_SPACE.items():
        if kind == "int_log":
            space[name] = hp.qloguniform(name, np.log(low), np.log(high), 1)
        elif kind == "float_log":
            space[name] = hp.loguniform(name, np.log(low), np.log(high))
        else:
            space[name] = hp.uniform(name, low, high)

    def as_params(sample: dict[str, Any]) -> dict[str, Any]:
        return {k: int(v) if LGBM_SPACE[k][0].startswith("int") else float(v) for k, v in sample.items()}

    trials = Trials()
    best = fmin(
        lambda sample: _cv_score(task, cell["metric"], as_params(sample), X, y, cores, seed),
        space,
        algo=tpe.suggest,
        max_evals=100_000,
        timeout=cell["budget"] * (1 - REFIT_RESERVE) - cell["elapsed"](),
        trials=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    model = _lgbm(task, as_params(space_eval(space, best)), cores, seed).fit(X, y)
    return model, len(trials.trials), "lightgbm"


def run_untuned(cell: dict[str, Any], X: pd.DataFrame, y: np.ndarray) -> tuple[Any, int, str]:
    return _lgbm(cell["task"], {}, cell["cores"], cell["seed"]).fit(X, y), 1, "lightgbm"


def run_flaml(cell: dict[str, Any], X: pd.DataFrame, y: np.ndarray) -> tuple[Any, int, str]:
    from flaml import AutoML

    automl = AutoML()
    metric = {"auc_roc": "roc_auc", "rmse": "rmse", "log_loss": "log_loss"}[cell["metric"]]
    task = "regression" if cell["task"] == "regression" else "classification"
    with tempfile.TemporaryDirectory() as tmp:
        automl.fit(
            X,
            y,
            task=task,
            metric=metric,
            time_budget=cell["budget"] - cell["elapsed"](),
            n_jobs=cell["cores"],
            seed=cell["seed"],
            verbose=0,
            log_file_name=str(Path(tmp) / "flaml.log"),
        )
        n_trials = len(automl.config_history)
    return automl, n_trials, str(automl.best_estimator)


def original_order(
    train: pd.DataFrame, test: pd.DataFrame, train_rows: np.ndarray, test_rows: np.ndarray
) -> pd.DataFrame:
    """The whole table in its original row order (``train_rows`` and ``test_rows`` are the rows' positions there),
    so that sparksweep's own split (``test_size``, ``split_seed``) holds out the same test rows as the peers'."""
    frame = pd.concat([train, test], ignore_index=True)
    order = np.concatenate([train_rows, test_rows])
    return frame.iloc[np.argsort(order)].reset_index(drop=True)


def run_sparksweep(cell: dict[str, Any], X: pd.DataFrame, y: np.ndarray) -> tuple[Any, int, str]:
    """A user's sweep: every family of the task searched together on local Spark, with the sweep file's settings
    (``cell["sweep"]``) over the defaults; the Spark start and the champion's registration are in the budget."""
    import mlflow

    from sparksweep._spark import get_spark
    from sparksweep.spec import validate_spec
    from sparksweep.sweep import run_sweep

    frame = original_order(X.assign(**{TARGET: y}), cell["test_frame"], cell["train_rows"], cell["test_rows"])
    spark = get_spark(f"local[{cell['cores']}]")
    raw = {
        "experiment": "search-quality",
        "data": {"target": TARGET, "test_size": cell["test_size"], "split_seed": cell["seed"]},
        "task": cell["task"],
        "metric": cell["metric"],
        "models": cell["models"],
        "search": {"n_trials": 100_000, "parallelism": cell["cores"], "seed": cell["seed"]},
        "register": {"name": "search-quality", "force": True},
        "tracking": {"uri": f"sqlite:///{cell['store']}/mlflow.db"},
    }
    for section, values in cell["sweep"].items():
        raw[section] = {**raw.get(section, {}), **values} if isinstance(values, dict) else values
    reserve = cell["stop_reserve"]
    raw["search"]["timeout"] = max(1.0, cell["budget"] - cell["elapsed"]() - reserve)
    spark_started = cell["elapsed"]()
    last_trial = [spark_started]

    def on_trial(trial: Any, progress: Any) -> None:
        last_trial[0] = cell["elapsed"]()

    result = run_sweep(validate_spec(raw), data=frame, spark=spark, on_trial=on_trial)
    done = [t for t in result.trials if t.state.value == "complete"]
    cell["detail"] = (
        f"spark {spark_started:.1f}s, last trial {last_trial[0]:.1f}s, sweep end {cell['elapsed']():.1f}s; "
        f"{len(done)} complete, mean trial {np.mean([t.duration for t in done] or [0]):.2f}s "
        f"(fit {np.mean([t.fit_time for t in done] or [0]):.2f}s); families "
        + ",".join(sorted({t.family for t in done}))
    )
    if result.finalists:  # search.finalists: each finalist's search score -> its score on fresh folds
        scored = [
            f"{f.trial.family.removeprefix('sklearn.')} {f.trial.value:.4g}->"
            + ("n/a" if f.value is None else f"{f.value:.4g}")
            for f in result.finalists
        ]
        cell["detail"] += "; finalists " + ", ".join(scored)
    if result.ensemble is not None and result.ensemble.chosen:
        cell["detail"] += f"; ensemble {result.ensemble.describe()} ({result.ensemble.score:.4g})"
        best_name = "ensemble"
    else:
        best_name = result.best.family if result.best is not None else "?"
    if result.champion is None:
        raise RuntimeError(f"the sweep registered no model (stop reason {result.stop_reason})")
    mlflow.set_tracking_uri(result.tracking_uri)
    mlflow.set_registry_uri(result.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/search-quality/{result.champion.version}")
    cell["reported_test_score"] = result.champion.candidate_score
    return model, len(result.trials), best_name


IMPORTS = {
    "sparksweep": ["mlflow", "pyspark.sql", "sparksweep.sweep._study", "lightgbm", "xgboost", "sklearn.ensemble"],
    "flaml": ["flaml", "lightgbm", "xgboost", "sklearn.ensemble"],
    "optuna-lgbm": ["optuna", "lightgbm", "sklearn.model_selection"],
    "hyperopt-lgbm": ["hyperopt", "lightgbm", "sklearn.model_selection"],
    "untuned-lgbm": ["lightgbm"],
}
RUNNERS = {
    "sparksweep": run_sparksweep,
    "flaml": run_flaml,
    "optuna-lgbm": run_optuna,
    "hyperopt-lgbm": run_hyperopt,
    "untuned-lgbm": run_untuned,
}


def main(argv: list[str]) -> None:
    name, cell_dir, out = argv[0], Path(argv[1]), Path(argv[2])
    cell: dict[str, Any] = json.loads((cell_dir / "cell.json").read_text())
    train = pd.read_csv(cell_dir / "train.csv")
    test = pd.read_csv(cell_dir / "test.csv")
    X, y = train.drop(columns=[TARGET]), train[TARGET].to_numpy()
    store = tempfile.TemporaryDirectory(prefix="sparksweep-quality-")  # sparksweep's MLflow store, removed at exit
    cell.update(
        test_frame=test,
        train_rows=np.asarray(cell["train_rows"]),
        test_rows=np.asarray(cell["test_rows"]),
        store=store.name,
    )
    warnings.filterwarnings("ignore")
    for module in IMPORTS[name]:  # each contender's libraries are loaded before its clock starts
        importlib.import_module(module)
    started = time.perf_counter()
    cell["elapsed"] = lambda: time.perf_counter() - started
    model, n_trials, best = RUNNERS[name](cell, X, y)
    wall = time.perf_counter() - started
    if name == "sparksweep":
        prediction = np.asarray(model.predict(test.drop(columns=[TARGET])), dtype=np.float64)
        if cell["task"] == "multiclass" and prediction.ndim == 1:
            raise RuntimeError(f"the registered multiclass model returned shape {prediction.shape}")
    else:
        prediction = _predict(model, test.drop(columns=[TARGET]), cell["task"])
    payload = {
        "contender": name,
        "wall": wall,
        "n_trials": n_trials,
        "best": best,
        "prediction": prediction.tolist(),
        "reported_test_score": cell.get("reported_test_score"),
        "detail": cell.get("detail", ""),
    }
    out.write_text(json.dumps(payload))
    store.cleanup()


if __name__ == "__main__":
    main(sys.argv[1:])
