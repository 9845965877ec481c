"""What runs inside a Spark task (or a pool process): one trial, from creating its child run to recording it.

The worker creates the trial's child run (from the :class:`~sparksweep.tracking.TrialRunSpec` the driver
sends: parent tag, name, params), so the driver's sweep loop never waits on the store to hand out a trial. The run is
created in a background thread while the trial starts (:class:`RunOpening`): creating it and its params are two
writes to the store (~17 ms on SQLite, and the process's first one opens the store, ~0.5 s), which would otherwise
come before every trial. The trial's results are recorded only once the run exists, and a trial whose run cannot be
created is not recorded at all (the driver records it). The worker logs through explicit run ids; only MLflow's own
autologging (``tracking.autolog: mlflow``) needs the fluent active run, so only then is the run opened before the fit.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sparksweep.errors import TrialError
from sparksweep.tracking import (
    TAG_MODEL_URI,
    AutologMode,
    RetryPolicy,
    autolog_mode,
    configure_mlflow_autolog,
    estimator_record,
)
from sparksweep.trial import TrialResult, TrialState

if TYPE_CHECKING:
    import numpy as np

    from sparksweep.data import TrainingData
    from sparksweep.metrics import Metric
    from sparksweep.models._base import BaseModelFamily
    from sparksweep.pruning import PruneContext, StepReporter
    from sparksweep.tracking import TrialRunSpec

__all__ = [
    "ROUNDS_METRIC",
    "ComputedTrial",
    "DataHandle",
    "ObjectiveTask",
    "RunOpening",
    "TrialContext",
    "TrialTask",
    "cv_folds",
    "open_trial_run",
    "race_lost",
    "run_objective",
    "run_trial",
    "start_trial",
    "tracking_client",
]

_ERROR_TAG_LIMIT = 4000
ROUNDS_METRIC = "n_rounds"
"""The boosting rounds early stopping kept in a trial (with CV: the one number every fold was scored at, or the mean
over the folds); the refit fits that many on all the rows instead of stopping early on a share of them."""


class DataHandle(Protocol):
    """How a worker gets the training data: once per process, keyed by its fingerprint."""

    @property
    def fingerprint(self) -> str: ...

    def load(self) -> TrainingData: ...


@dataclass(frozen=True)
class TrialTask:
    """Everything a worker needs to run one trial; picklable.

    ``run_id`` is the trial's child run; empty when the worker is to create it from ``child`` first
    (:func:`open_trial_run`).
    """

    number: int
    run_id: str
    tracking_uri: str
    family: BaseModelFamily
    params: dict[str, Any]
    task: str
    metric: str
    features: list[str]
    classes: list[Any] | None
    n_jobs: int
    seed: int
    data: DataHandle
    autolog: AutologMode | bool = "sparksweep"
    """What the run records about the estimator (see :mod:`sparksweep.tracking`); true/false: sparksweep/off."""
    log_model: bool = True
    pruning: PruneContext | None = None
    """The pruner and the finished trials' scores; None: the trial runs to its end."""
    cv: int | None = None
    """k-fold cross-validation on the training and validation rows; None: score on the validation split."""
    cv_seed: int | None = None
    """Seed of the CV folds: the sweep's, so every trial is scored on the same folds and their fold scores pair up
    (None: the trial's ``seed``)."""
    race: tuple[float, ...] | None = None
    """The fold scores of the best finished trial when this one was handed out (``search.cv_racing``): the trial
    stops after a fold once it is clearly behind them (see :func:`race_lost`). None: every fold runs."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """How writes to the tracking store are retried on transient errors."""
    keep_predictions: bool = False
    """With cv: hand the out-of-fold predictions back in the result (a finalist of an ensemble: see
    :mod:`sparksweep.sweep._ensemble`); they are not written to the store."""
    child: TrialRunSpec | None = None
    """The child run the worker creates when ``run_id`` is empty."""

    @property
    def family_name(self) -> str:
        return self.family.name


@dataclass(frozen=True)
class TrialContext:
    """What a user objective gets besides its parameters: the trial's number, family and child run.

    Log more into the run through :attr:`client` and :attr:`run_id` (explicit ids are safe in parallel trials).
    """

    number: int
    family: str
    tracking_uri: str
    seed: int
    opening: Callable[[], str] = field(repr=False, compare=False)
    """Returns the child run's id, waiting for the worker to have created it (it is created as the trial starts)."""

    @property
    def run_id(self) -> str:
        """The trial's child run (waits until it is created, a few milliseconds after the trial starts)."""
        return self.opening()

    @property
    def client(self) -> Any:
        return tracking_client(self.tracking_uri)


@dataclass(frozen=True)
class ObjectiveTask:
    """One trial of a user objective (see :func:`sparksweep.optimize`); picklable with cloudpickle."""

    number: int
    run_id: str
    tracking_uri: str
    objective: Any
    family: str
    params: dict[str, Any]
    metric: str
    seed: int
    child: TrialRunSpec | None = None
    """The child run the worker creates when ``run_id`` is empty."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def family_name(self) -> str:
        return self.family


_Task = TypeVar("_Task", TrialTask, ObjectiveTask)


def open_trial_run(task: _Task) -> _Task:
    """``task`` with its child run: created here from ``task.child`` unless the driver already made it.

    Raises what creating it raised (after retries): a trial whose run cannot be created is not run.
    """
    return task if task.run_id else dataclasses.replace(task, run_id=_create_run(task))


def _create_run(task: TrialTask | ObjectiveTask) -> str:
    """Create ``task``'s child run (its callers use the driver's run id instead when the task has one)."""
    if task.child is None:
        raise TrialError(f"trial {task.number} has neither a run id nor a child run to create; give it one of them")
    return task.child.create(tracking_client(task.tracking_uri), task.retry)


_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def tracking_client(uri: str) -> Any:
    """This process's ``MlflowClient`` of ``uri``, made once and shared by its threads.

    The first client of a process opens the store (~0.5 s for SQLite: the engine, the schema check); a thread that
    asks meanwhile waits for that one instead of opening the store a second time.
    """
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(uri)
        if client is None:
            from mlflow import MlflowClient

            client = _CLIENTS[uri] = MlflowClient(uri)
        return client


class RunOpening:
    """A trial's child run, being created in a background thread while the trial starts.

    ``on_open(run_id)`` is called in that thread once the run exists (the pool tells the driver the run's id, so a
    trial cancelled from then on is recorded in it). :meth:`run_id` waits for the run and raises what creating it
    raised: the trial's results are never recorded without it.

    Example:
        >>> opening = RunOpening(task)  # doctest: +SKIP
        >>> value = fit_and_score()  # doctest: +SKIP
        >>> client.log_metric(opening.run_id(), "value", value)  # doctest: +SKIP
    """

    def __init__(self, task: TrialTask | ObjectiveTask, on_open: Callable[[str], None] | None = None) -> None:
        self._future: Future[str] = Future()
        if task.run_id:  # the driver created it
            self._opened(task.run_id, on_open)
        else:
            threading.Thread(
                target=self._open, args=(task, on_open), name=f"sparksweep-open-run-{task.number}", daemon=True
            ).start()

    def _open(self, task: TrialTask | ObjectiveTask, on_open: Callable[[str], None] | None) -> None:
        try:
            run_id = _create_run(task)
        except BaseException as exc:  # re-raised by run_id() in the trial's thread
            self._future.set_exception(exc)
            return
        self._opened(run_id, on_open)

    def _opened(self, run_id: str, on_open: Callable[[str], None] | None) -> None:
        try:
            if on_open is not None:
                on_open(run_id)
        except BaseException as exc:  # re-raised by run_id() in the trial's thread
            self._future.set_exception(exc)
            return
        self._future.set_result(run_id)

    def run_id(self) -> str:
        """The run's id, once created; raises what creating it (or ``on_open``) raised."""
        return self._future.result()

    def task(self, task: _Task) -> _Task:
        """``task`` with the run's id (waits for it)."""
        return dataclasses.replace(task, run_id=self.run_id())


_DATA_CACHE: dict[str, TrainingData] = {}


def _training_data(handle: DataHandle) -> TrainingData:
    """The handle's data, loaded once per process: later trials of the sweep in this process reuse it."""
    data = _DATA_CACHE.get(handle.fingerprint)
    if data is None:
        data = handle.load()
        _DATA_CACHE.clear()  # one data set per process at a time: sweeps run one after another
        _DATA_CACHE[handle.fingerprint] = data
    return data


def _quiet_worker() -> None:
    """Keep MLflow's per-model INFO lines and download progress bars out of the executors' logs."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # With a tracking server MLflow prints a "View run" link per ended run (and reads the run again to build it).
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("optuna").setLevel(logging.WARNING)  # the pruner's local study would announce itself


@dataclass
class _CrossValidation:
    """What k-fold CV of one trial produced."""

    scores: list[float] = field(default_factory=list)
    """The metric on each fold scored (fewer than k when the trial lost its race)."""
    rounds: list[int] = field(default_factory=list)
    """The boosting rounds early stopping kept in each fold (families that stop early)."""
    model: Any = None
    """The last fold's fitted model."""
    fit_time: float = 0.0
    """Seconds spent fitting, over all folds."""
    lost_race: bool = False
    predictions: Any = None
    """With ``task.keep_predictions``: each row's prediction by the fold that held it out, in the order of the
    training rows then the validation rows (``[n]``, or ``[n, classes]`` for multiclass)."""


def _cross_validate(task: TrialTask, data: TrainingData, metric: Metric) -> _CrossValidation:
    """Score ``task``'s model by k-fold CV over the training and validation rows (stratified for classification);
    each fold fits on k-1 parts and is scored on the held-out part.

    A family with ``cv_rounds`` (LightGBM, XGBoost) fits each fold on all of its k-1 parts and stops early on the
    part it is scored on; every fold is then scored at the one number of rounds where the folds' mean loss was
    lowest (``lightgbm.cv``'s and ``xgboost.cv``'s rule), which is the number the refit uses. Other early-stopping
    families stop on a share of each fold's training rows (:func:`cv_folds`). With ``task.race`` the folds stop
    once the trial is clearly behind the best trial (:func:`race_lost`).
    """
    import numpy as np
    import pandas as pd

    from sparksweep.metrics import Direction

    X = pd.concat([data.X_train, data.X_valid], ignore_index=True)
    y = _concat(data.y_train, data.y_valid)
    weights = None if data.w_train is None else _concat(data.w_train, np.ones(len(data.y_valid)))
    k = task.cv or 5
    seed = task.seed if task.cv_seed is None else task.cv_seed
    family = task.family
    shared = family.stops_early and family.cv_rounds
    out = _CrossValidation()
    fitted: list[tuple[Any, pd.DataFrame, np.ndarray]] = []  # (model, scored rows, their targets) per fold
    curves: list[list[float]] = []
    held_out: list[tuple[np.ndarray, np.ndarray]] = []  # (scored rows, their predictions) per fold
    for fit_idx, stop_idx, score_idx in cv_folds(
        y, k=k, seed=seed, stratify=task.task != "regression", stops_early=family.stops_early and not shared
    ):
        fold = dataclasses.replace(
            data,
            X_train=X.iloc[fit_idx].reset_index(drop=True),
            y_train=y[fit_idx],
            X_valid=X.iloc[stop_idx].reset_index(drop=True),
            y_valid=y[stop_idx],
            fingerprint=f"{data.fingerprint}-cv",
            # Weights are known for the training rows; the validation rows joining the folds count as 1.
            w_train=None if weights is None else weights[fit_idx],
        )
        estimator = family.build(task.params, task=task.task, n_jobs=task.n_jobs, seed=task.seed)
        t0 = time.perf_counter()
        out.model = family.fit(estimator, fold)
        out.fit_time += time.perf_counter() - t0
        X_score = X.iloc[score_idx].reset_index(drop=True)
        # With shared rounds this is the fold at its own best round: a score the shared round can only match, so a
        # race judged on it stops no trial that the final scores would keep.
        predicted = family.predict(out.model, X_score, task.task)
        out.scores.append(metric(y[score_idx], predicted))
        held_out.append((score_idx, predicted))
        if shared:
            fitted.append((out.model, X_score, y[score_idx]))
            curves.append(family.round_curve(out.model))
        else:
            rounds = family.fitted_rounds(out.model)
            if rounds is not None:
                out.rounds.append(rounds)
        if task.race is not None and race_lost(
            out.scores, list(task.race), k=k, maximize=metric.direction is Direction.MAXIMIZE
        ):
            out.lost_race = True
            return out
    if shared and curves:
        common = min(len(curve) for curve in curves)
        mean = np.mean([curve[:common] for curve in curves], axis=0)
        best = int(np.argmin(mean)) + 1
        out.rounds = [best]
        at_best = [family.predict_rounds(model, X_s, task.task, best) for model, X_s, _ in fitted]
        out.scores = [metric(y_s, p) for (_, _, y_s), p in zip(fitted, at_best, strict=True)]
        held_out = [(rows, p) for (rows, _), p in zip(held_out, at_best, strict=True)]
    if task.keep_predictions:
        first = held_out[0][1]
        out.predictions = np.full((len(y), *first.shape[1:]), np.nan)
        for rows, predicted in held_out:
            out.predictions[rows] = predicted
    return out


RACE_MARGIN = 2.0
"""How many standard errors a raced CV trial must be behind the best trial to stop (see :func:`race_lost`)."""


def race_lost(scores: list[float], best: list[float], *, k: int, maximize: bool) -> bool:
    """Whether a CV trial with ``scores`` on its first n folds is clearly behind the best finished trial (``best``: its
    scores on the same k folds) and can stop: its mean over those folds is worse than the best trial's over the same
    folds by more than :data:`RACE_MARGIN` standard errors, taking the best trial's fold-to-fold standard deviation
    as a fold's noise (so by more than 2 sd after one fold, 1 sd after four). Never once every fold is scored.

    With one standard deviation after any fold, most of ~70 breast-cancer trials (fold AUCs within ~0.005 of each
    other) stopped after their first fold, many of them within noise of the best, and the search learnt little.

    Example:
        >>> race_lost([0.30], [0.10, 0.12, 0.08], k=3, maximize=False)
        True
        >>> race_lost([0.12], [0.10, 0.12, 0.08], k=3, maximize=False)
        False
    """
    n = len(scores)
    if n == 0 or n >= k or len(best) < k:
        return False
    gap = sum(scores) / n - sum(best[:n]) / n
    if maximize:
        gap = -gap
    return gap > RACE_MARGIN * _std(best[:k]) / math.sqrt(n)


STOPPING_SHARE = 0.2
"""Share of each CV fold's training rows an early-stopping family stops on (as ``data.valid_size`` by default)."""


def cv_folds(
    y: np.ndarray, *, k: int, seed: int, stratify: bool, stops_early: bool
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The k folds of CV as (rows to fit on, rows to stop early on, rows to score).

    A family that stops early on the rows it is then scored on would pick its number of rounds on those very rows,
    which flatters it against the families that do not (on scikit-learn's diabetes, LightGBM's 5-fold RMSE came out
    ~0.7 lower that way than with a stopping set of its own); so it stops on a share of the fold's training rows.
    Other families fit on all of the fold's training rows (their stopping rows are the scored fold, which they
    ignore).

    Example:
        >>> import numpy as np
        >>> folds = cv_folds(np.arange(20) % 2, k=4, seed=0, stratify=True, stops_early=True)
        >>> [(len(fit), len(stop), len(score)) for fit, stop, score in folds][0]
        (12, 3, 5)
    """
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    splitter = (
        StratifiedKFold(k, shuffle=True, random_state=seed) if stratify else KFold(k, shuffle=True, random_state=seed)
    )
    folds = []
    for train_idx, score_idx in splitter.split(np.zeros(len(y)), y):
        if not stops_early:
            folds.append((train_idx, score_idx, score_idx))
            continue
        _, counts = np.unique(y[train_idx], return_counts=True)
        by_class = y[train_idx] if stratify and counts.min() >= 2 else None
        fit_idx, stop_idx = train_test_split(train_idx, test_size=STOPPING_SHARE, random_state=seed, stratify=by_class)
        folds.append((np.asarray(fit_idx), np.asarray(stop_idx), score_idx))
    return folds


def _concat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.concatenate([np.asarray(a), np.asarray(b)])


def _step_points(name: str, reporter: StepReporter | None, now: int) -> list[Any]:
    """The pruning reporter's per-round validation scores as the stepped metric ``name``."""
    if reporter is None:
        return []
    from mlflow.entities import Metric as MlflowMetric

    return [MlflowMetric(name, v, now, step) for step, v in sorted(reporter.intermediate.items())]


def _log_steps(client: Any, run_id: str, name: str, reporter: StepReporter | None) -> None:
    points = _step_points(name, reporter, int(time.time() * 1000))
    if points:
        client.log_batch(run_id, metrics=points)


@dataclass(frozen=True)
class ComputedTrial:
    """A trial whose computation is done and whose results are not recorded yet (see :func:`start_trial`)."""

    number: int
    record: Callable[[], TrialResult]
    """Writes the trial's results into its child run and returns them; raises what creating the run raised."""
    value: float | None = None
    """The trial's value as computed (None: it failed or was pruned); final once recorded."""
    same_thread: bool = False
    """Record it in the thread that computed it: MLflow's autologging keeps the run active in that thread."""


def run_objective(task: ObjectiveTask, on_open: Callable[[str], None] | None = None) -> TrialResult:
    """Call a user objective with the trial's parameters and record its value (or its traceback) in the child run.

    The run is created while the objective starts (see :class:`RunOpening`); raises what creating it raised.
    """
    return _start_objective(task, on_open).record()


def _start_objective(task: ObjectiveTask, on_open: Callable[[str], None] | None) -> ComputedTrial:
    started = time.perf_counter()
    _quiet_worker()
    opening = RunOpening(task, on_open)
    context = TrialContext(task.number, task.family, task.tracking_uri, task.seed, opening.run_id)
    try:
        value = float(task.objective(dict(task.params), context))
        if not math.isfinite(value):
            raise ValueError(f"the objective returned {value}")
    except Exception as exc:  # a failing trial is a result, not a crash of the sweep
        failed = functools.partial(_record_objective, task, opening, math.nan, exc, time.perf_counter() - started)
        return ComputedTrial(task.number, failed)
    done = functools.partial(_record_objective, task, opening, value, None, time.perf_counter() - started)
    return ComputedTrial(task.number, done, value)


def _record_objective(
    task: ObjectiveTask, opening: RunOpening, value: float, error: Exception | None, duration: float
) -> TrialResult:
    task = opening.task(task)  # raises when the run could not be created: the driver records the trial
    client = tracking_client(task.tracking_uri)  # opened meanwhile (the store may still have been opening)
    if error is None:
        try:
            points = [_metric_point(task.metric, value), _metric_point("duration", duration)]
            client.log_batch(task.run_id, metrics=points)
            client.set_terminated(task.run_id, status="FINISHED")
        except Exception as exc:  # not recorded: the trial counts as failed
            error = exc
    text = None
    if error is not None:
        text = "".join(traceback.format_exception(error))
        client.set_tag(task.run_id, "sparksweep.error", text[-_ERROR_TAG_LIMIT:])
        client.set_terminated(task.run_id, status="FAILED")
    return TrialResult(
        number=task.number,
        run_id=task.run_id,
        family=task.family,
        params=task.params,
        state=TrialState.COMPLETE if error is None else TrialState.FAILED,
        value=value if error is None else None,
        metrics={task.metric: value} if error is None else {},
        duration=duration,
        error=text,
    )


def _end_run(client: Any, run_id: str, status: str) -> None:
    """End the trial's run: through the fluent API while it is the active run (that also pops it), else directly."""
    import mlflow

    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(status)
    else:
        client.set_terminated(run_id, status=status)


def _record_failure(client: Any, task: TrialTask, error: str) -> tuple[bool, list[str]]:
    """Mark the run FAILED (first: that also leaves no fluent run active in this process), then tag it with the
    traceback, each retried; return whether the FAILED status was written, and what could not be."""
    steps: list[tuple[str, Callable[..., Any], tuple[Any, ...]]] = [
        ("mark the trial's run FAILED", _end_run, (client, task.run_id, "FAILED")),
        ("tag the failed trial", client.set_tag, (task.run_id, "sparksweep.error", error[-_ERROR_TAG_LIMIT:])),
        ("log the failed trial's traceback", client.log_text, (task.run_id, error, "error.txt")),
    ]
    problems: list[str] = []
    for what, fn, args in steps:
        try:
            task.retry.call(what, fn, *args)
        except Exception as exc:  # reported in the result; the driver marks the run failed once more
            problems.append(f"{type(exc).__name__}: {exc}")
            if fn is _end_run:
                return False, problems
    return True, problems


def run_trial(task: TrialTask | ObjectiveTask, on_open: Callable[[str], None] | None = None) -> TrialResult:
    """Fit, evaluate and record one trial.

    A trial whose model raises is recorded as FAILED with its traceback. So is a trial whose results (metric, params,
    model, final status) could not be written to the tracking store even after retries: a trial is COMPLETE only
    when its results are in the store. This function returns a result rather than raising, so Spark never re-runs
    a trial because its recording failed; a result with ``recorded=False`` tells the driver to mark the run failed.

    The child run is created while the trial starts (:class:`RunOpening`; ``on_open`` gets its id); it raises what
    creating the run raised, and the driver records that trial.
    """
    return start_trial(task, on_open).record()


def start_trial(task: TrialTask | ObjectiveTask, on_open: Callable[[str], None] | None = None) -> ComputedTrial:
    """Compute one trial (fit and score its model, or call the objective); ``record()`` on the result records it.

    :func:`run_trial` does both in turn. The pool's slots record a trial in a thread of their own while they compute
    the next one: the writes to the store (~10 ms per trial on SQLite) then cost the slot nothing.
    """
    if isinstance(task, ObjectiveTask):
        return _start_objective(task, on_open)
    return _start_fit(task, on_open)


def _start_fit(task: TrialTask, on_open: Callable[[str], None] | None) -> ComputedTrial:
    import mlflow
    from threadpoolctl import threadpool_limits

    from sparksweep.metrics import get_metric
    from sparksweep.pruning import TrialPruned

    started = time.perf_counter()
    _quiet_worker()
    task.retry.bound_http_retries()
    mlflow.set_tracking_uri(task.tracking_uri)
    autolog = autolog_mode(task.autolog)
    opening = RunOpening(task, on_open)
    same_thread = autolog == "mlflow"
    if same_thread:  # MLflow's autologging writes into the active run: it must exist before the fit
        task = opening.task(task)
    fit = _Fit(task, opening, started, autolog)
    try:
        t_data = time.perf_counter()
        data = _training_data(task.data)
        fit.data_time = time.perf_counter() - t_data
        metric = get_metric(task.metric)
        fit.metric_name = metric.name
        estimator = task.family.build(task.params, task=task.task, n_jobs=task.n_jobs, seed=task.seed)
        if task.pruning is not None:
            fit.reporter = task.pruning.reporter(metric, data.y_valid)
        if same_thread:
            task.retry.call("open the trial's run", mlflow.start_run, run_id=task.run_id)
        with threadpool_limits(limits=task.n_jobs), warnings.catch_warnings():
            # scikit-learn 1.9 renamed log_loss's y_pred; MLflow's autologging still passes it by the old name.
            warnings.filterwarnings("ignore", message="`y_pred` was renamed", category=FutureWarning)
            # Autologged extras are best effort: MLflow's autologging drops its own logging errors.
            configure_mlflow_autolog(task.family.library, autolog == "mlflow")
            fold_scores: list[float] = []
            rounds: float | None = None
            cv: _CrossValidation | None = None
            if task.cv is not None:
                cv = _cross_validate(task, data, metric)
                fold_scores = cv.scores
                fit.fold_scores = tuple(fold_scores)
                fit.metrics.update({f"{metric.name}_fold_{i}": v for i, v in enumerate(fold_scores)})
                fit.metrics[f"{metric.name}_cv_std"] = float(_std(fold_scores))
                rounds = sum(cv.rounds) / len(cv.rounds) if cv.rounds else None
                fit.predictions = cv.predictions
                if cv.lost_race:
                    lost = TrialPruned(len(fold_scores), sum(fold_scores) / len(fold_scores))
                    fit.fit_time = cv.fit_time
                    record_lost = functools.partial(fit.record_pruned, lost, extra=dict(fit.metrics))
                    return ComputedTrial(task.number, record_lost, None, same_thread)
            t0 = time.perf_counter()
            try:
                if cv is not None and fold_scores and not task.log_model:
                    # The folds scored the trial and no model is logged: a fit on the training split would be
                    # thrown away (the refit fits the champion on every row, with the folds' rounds).
                    estimator = cv.model
                elif fit.reporter is not None:
                    estimator = task.family.fit_reporting(estimator, data, fit.reporter)
                else:
                    estimator = task.family.fit(estimator, data)  # the fitted model: the estimator or its pipeline
            except TrialPruned as pruned:
                fit.fit_time = time.perf_counter() - t0
                return ComputedTrial(task.number, functools.partial(fit.record_pruned, pruned), None, same_thread)
            fit.fit_time = time.perf_counter() - t0
            if fold_scores:
                value = sum(fold_scores) / len(fold_scores)
                if cv is not None and not task.log_model:
                    fit.fit_time = cv.fit_time / len(fold_scores)
            else:
                value = metric(data.y_valid, task.family.predict(estimator, data.X_valid, task.task))
                fitted = task.family.fitted_rounds(estimator)
                rounds = None if fitted is None else float(fitted)
            if rounds is not None:
                fit.metrics[ROUNDS_METRIC] = rounds
            if not math.isfinite(value):
                raise ValueError(f"metric {metric.name!r} is {value} on the validation split")
    except Exception as exc:  # a failing trial is a result, not a crash of the sweep
        return ComputedTrial(task.number, functools.partial(fit.record_failure, exc, "fit"), None, same_thread)
    fit.estimator, fit.data, fit.value = estimator, data, value
    return ComputedTrial(task.number, fit.record, value, same_thread)


@dataclass
class _Fit:
    """A family trial's outcome between its computation and its recording."""

    task: TrialTask
    opening: RunOpening
    started: float
    autolog: AutologMode
    metric_name: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    reporter: StepReporter | None = None
    data_time: float = 0.0
    fit_time: float = 0.0
    estimator: Any = None
    data: TrainingData | None = None
    value: float = math.nan
    predictions: Any = None
    fold_scores: tuple[float, ...] = ()

    def _open(self) -> tuple[TrialTask, Any]:
        task = self.opening.task(self.task)  # raises when the run could not be created: the driver records it
        return task, tracking_client(task.tracking_uri)

    def record(self) -> TrialResult:
        """Write the trial's model, metrics, settings and end into its run (the model and one batch)."""
        from mlflow.entities import Metric as MlflowMetric
        from mlflow.entities import RunTag

        task, client = self._open()
        if self.data is None:
            raise TrialError(f"trial {task.number} has no fitted model to record")
        reporter, name, data = self.reporter, self.metric_name, self.data
        try:
            metrics = {**self.metrics, name: self.value, "fit_time": self.fit_time, "data_load_time": self.data_time}
            model_uri = None
            if task.log_model:
                from sparksweep.models._mlflow import log_fitted_model

                model_uri = task.retry.call(
                    "log the trial's model",
                    log_fitted_model,
                    task.family,
                    self.estimator,
                    task=task.task,
                    features=task.features,
                    example=data.X_valid,
                    classes=task.classes,
                    categories=data.categories,
                    run=task.retry.call("read the trial's run", client.get_run, task.run_id),
                )
            # One write for the metrics (linked to the model), the validation curve, the estimator's record and the
            # model's URI: each write to the store is a round trip (a SQLite transaction, or an HTTP request).
            record = estimator_record(self.estimator, mode=self.autolog, searched=task.params)
            now = int(time.time() * 1000)
            model_id = None if model_uri is None else model_uri.removeprefix("models:/")
            points = [MlflowMetric(k, v, now, 0, model_id=model_id) for k, v in metrics.items()]
            points += _step_points(f"valid_{name}", reporter, now)
            extra_metrics, params, tags = record.entities(now)
            if model_uri is not None:
                tags.append(RunTag(TAG_MODEL_URI, model_uri))
            task.retry.call(
                "log the trial's results",
                client.log_batch,
                task.run_id,
                metrics=points + extra_metrics,
                params=params,
                tags=tags,
            )
            task.retry.call("mark the trial's run FINISHED", _end_run, client, task.run_id, "FINISHED")
        except Exception as exc:  # not recorded: the trial counts as failed
            return self._failed(task, client, exc, "record")
        return TrialResult(
            number=task.number,
            run_id=task.run_id,
            family=task.family.name,
            params=task.params,
            state=TrialState.COMPLETE,
            value=self.value,
            metrics=metrics,
            duration=time.perf_counter() - self.started,
            fit_time=self.fit_time,
            model_uri=model_uri,
            step=None if reporter is None else reporter.last_step,
            intermediate={} if reporter is None else dict(reporter.intermediate),
            pruner_attrs={} if reporter is None else reporter.system_attrs,
            fold_scores=self.fold_scores,
            predictions=self.predictions,
        )

    def record_pruned(self, pruned: Any, extra: dict[str, float] | None = None) -> TrialResult:
        task, client = self._open()
        try:
            return _pruned(
                task, client, self.metric_name, self.reporter, pruned, self.started, self.fit_time, extra=extra
            )
        except Exception as exc:  # not recorded: the trial counts as failed
            return self._failed(task, client, exc, "record")

    def record_failure(self, exc: Exception, stage: str) -> TrialResult:
        task, client = self._open()
        return self._failed(task, client, exc, stage)

    def _failed(self, task: TrialTask, client: Any, exc: Exception, stage: str) -> TrialResult:
        error = "".join(traceback.format_exception(exc))
        if stage == "record":
            error += f"the trial's results could not be recorded in {task.tracking_uri}, so it counts as failed"
        terminated, problems = _record_failure(client, task, error)
        if problems:
            error += "\nrecording the failure also failed: " + "; ".join(problems)
        return TrialResult(
            number=task.number,
            run_id=task.run_id,
            family=task.family.name,
            params=task.params,
            state=TrialState.FAILED,
            duration=time.perf_counter() - self.started,
            fit_time=self.fit_time,
            error=error,
            recorded=terminated,
        )


def _std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _pruned(
    task: TrialTask,
    client: Any,
    metric_name: str,
    reporter: StepReporter | None,
    pruned: Any,
    started: float,
    fit_time: float,
    extra: dict[str, float] | None = None,
) -> TrialResult:
    """Record a pruned trial: run status KILLED, tagged pruned, with the step it reached and its scores so far
    (``extra``: more of them, e.g. the folds a CV trial scored before it lost its race).

    Written with the same retries as a finished trial; if they fail, the caller records the trial as failed.
    """
    from mlflow.entities import RunTag

    retry = task.retry.call
    retry("log the pruned trial's curve", _log_steps, client, task.run_id, f"valid_{metric_name}", reporter)
    retry(
        "record the pruned trial",
        client.log_batch,
        task.run_id,
        metrics=[
            _metric_point("pruned_step", float(pruned.step)),
            _metric_point("fit_time", fit_time),
            *(_metric_point(k, v) for k, v in (extra or {}).items()),
        ],
        tags=[RunTag("sparksweep.state", "pruned"), RunTag("sparksweep.pruned_step", str(pruned.step))],
    )
    retry("mark the pruned trial's run KILLED", _end_run, client, task.run_id, "KILLED")
    return TrialResult(
        number=task.number,
        run_id=task.run_id,
        family=task.family.name,
        params=task.params,
        state=TrialState.PRUNED,
        metrics=dict(extra or {}),
        duration=time.perf_counter() - started,
        fit_time=fit_time,
        step=pruned.step,
        intermediate={} if reporter is None else dict(reporter.intermediate),
        pruner_attrs={} if reporter is None else reporter.system_attrs,
    )


def _metric_point(name: str, value: float) -> Any:
    from mlflow.entities import Metric as MlflowMetric

    return MlflowMetric(name, value, int(time.time() * 1000), 0)
