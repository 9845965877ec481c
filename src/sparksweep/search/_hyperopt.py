"""Hyperopt algorithms behind the :class:`BaseSearcher` interface.

Hyperopt has no ask/tell API; this drives its ``suggest`` functions over a ``Trials`` object the way its own
``fmin`` does, one new trial document per ``ask`` and its result written back by ``tell``. Parameters come back
through ``space_eval``, so families and categorical values carry their real values, never Hyperopt's choice index.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sparksweep._imports import require
from sparksweep.errors import DependencyError, SpecError
from sparksweep.metrics import Direction
from sparksweep.search._base import BaseSearcher
from sparksweep.space import FAMILY_PARAM, SearchSpace
from sparksweep.trial import Proposal, TrialResult, TrialState

__all__ = ["ALGOS", "HyperoptSearcher"]

ALGOS = ("tpe", "rand", "anneal", "atpe")
"""The Hyperopt algorithms sparksweep offers, as ``hyperopt.<name>``."""


def _suggest_fn(kind: str, startup: int | None = None) -> Callable[..., Any]:
    hyperopt = require("hyperopt", "Hyperopt search algorithms")
    if kind == "tpe":
        # Hyperopt's default of 20 random start-up trials is most of a small sweep; 10 lets TPE adapt sooner.
        return functools.partial(hyperopt.tpe.suggest, n_startup_jobs=10 if startup is None else startup)
    if kind == "rand":
        return hyperopt.rand.suggest  # type: ignore[no-any-return]
    if kind == "anneal":
        return hyperopt.anneal.suggest  # type: ignore[no-any-return]
    if kind == "atpe":
        try:
            atpe = importlib.import_module("hyperopt.atpe")
        except ImportError as exc:
            raise DependencyError(
                f"hyperopt.atpe (adaptive TPE) could not be imported ({exc}); it needs lightgbm and scikit-learn "
                "besides hyperopt. Install them with: pip install lightgbm scikit-learn, or use hyperopt.tpe"
            ) from exc
        return atpe.suggest  # type: ignore[no-any-return]
    raise SpecError(f"unknown Hyperopt algorithm {kind!r}; choose one of {list(ALGOS)}")


def _seeded_globally(seed: int, suggest: Callable[..., Any], *args: Any) -> Any:
    """Call ``suggest`` with Python's and NumPy's global generators seeded, then put them back as they were:
    ATPE draws from both instead of the seed it is given."""
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        return suggest(*args, seed)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


class HyperoptSearcher(BaseSearcher):
    """Search with a Hyperopt algorithm (``tpe``, ``rand``, ``anneal`` or ``atpe``).

    Example:
        >>> from sparksweep.space import Float, SearchSpace
        >>> s = HyperoptSearcher(SearchSpace({"f": {"x": Float(0, 1)}}), Direction.MINIMIZE, seed=1, algo="rand")
        >>> p = s.ask(); s.tell(p, 0.5, TrialState.COMPLETE); sorted(p.params)
        ['x']
    """

    def __init__(
        self,
        space: SearchSpace,
        direction: Direction,
        seed: int | None = None,
        *,
        algo: str = "tpe",
        startup: int | None = None,
    ) -> None:
        """``startup``: finished trials TPE waits for before it models them (default 10)."""
        super().__init__(space, direction, seed)
        hyperopt = require("hyperopt", "Hyperopt search algorithms")
        self.name = f"hyperopt.{algo}"
        self._suggest = _suggest_fn(algo, startup)
        self._expr = space.to_hyperopt()
        self._domain = hyperopt.Domain(lambda _: 0.0, self._expr)
        self._trials = hyperopt.Trials()
        self._rng = np.random.default_rng(seed)
        self._docs: dict[int, dict[str, Any]] = {}
        self._queue: list[tuple[str, dict[str, Any]]] = []

    def enqueue(self, family: str, params: dict[str, Any]) -> None:
        self._queue.append((family, self.space.check(family, params)))

    def _ask_enqueued(self) -> Proposal:
        """The next enqueued point as a running trial document (as Hyperopt's ``points_to_evaluate`` builds)."""
        hyperopt = require("hyperopt", "Hyperopt search algorithms")
        family, params = self._queue.pop(0)
        tid = self._trials.new_trial_ids(1)
        vals = self.space.hyperopt_vals(family, params)
        idxs = {label: list(tid) if v else [] for label, v in vals.items()}
        misc = {"tid": tid[0], "cmd": self._domain.cmd, "workdir": None, "idxs": idxs, "vals": vals}
        doc = self._trials.new_trial_docs(tid, [None], [{"status": hyperopt.STATUS_NEW, "loss": None}], [misc])[0]
        doc["state"] = hyperopt.JOB_STATE_RUNNING
        doc["book_time"] = doc["refresh_time"] = dt.datetime.now()
        self._trials.insert_trial_docs([doc])
        self._trials.refresh()
        tid_value = int(tid[0])
        self._docs[tid_value] = doc
        return Proposal(family=family, params=dict(params), token=tid_value)

    def ask(self) -> Proposal:
        hyperopt = require("hyperopt", "Hyperopt search algorithms")
        if self._queue:
            return self._ask_enqueued()
        tid = self._trials.new_trial_ids(1)
        self._trials.refresh()
        seed = int(self._rng.integers(2**31 - 1))
        suggest = self._suggest
        if self.name == "hyperopt.atpe" and not any(r.get("loss") is not None for r in self._trials.results):
            # ATPE cannot start from trials that are all still in flight (parallel dispatch): random until one ends.
            suggest = hyperopt.rand.suggest
        if suggest is self._suggest and self.name == "hyperopt.atpe":
            docs = _seeded_globally(seed, suggest, tid, self._domain, self._trials)
        else:
            docs = suggest(tid, self._domain, self._trials, seed)
        doc = docs[0]
        doc["state"] = hyperopt.JOB_STATE_RUNNING
        doc["result"] = {**doc["result"], "loss": None}  # in flight: no loss yet (ATPE reads the key)
        doc["book_time"] = doc["refresh_time"] = dt.datetime.now()
        self._trials.insert_trial_docs([doc])
        self._trials.refresh()
        vals = {k: v[0] for k, v in doc["misc"]["vals"].items() if len(v) > 0}
        point = hyperopt.space_eval(self._expr, vals)
        family = str(point[FAMILY_PARAM])
        params = self.space.clip(family, dict(point["params"]))
        tid_value = int(tid[0])
        self._docs[tid_value] = doc
        return Proposal(family=family, params=params, token=tid_value)

    def _result(self, value: float | None, state: TrialState) -> dict[str, Any]:
        hyperopt = require("hyperopt", "Hyperopt search algorithms")
        if state is TrialState.COMPLETE and value is not None:
            loss = value if self.direction is Direction.MINIMIZE else -value
            return {"loss": float(loss), "status": hyperopt.STATUS_OK}
        return {"status": hyperopt.STATUS_FAIL, "loss": None}  # ATPE reads "loss" of every trial

    def tell(self, proposal: Proposal, value: float | None, state: TrialState) -> None:
        hyperopt = require("hyperopt", "Hyperopt search algorithms")
        tid = int(proposal.token)
        doc = next(d for d in self._trials._dynamic_trials if d["tid"] == tid)
        doc["result"] = self._result(value, state)
        doc["state"] = hyperopt.JOB_STATE_DONE
        doc["refresh_time"] = dt.datetime.now()
        self._trials.refresh()
        self._docs.pop(tid, None)

    def add_past(self, trials: Sequence[TrialResult]) -> None:
        hyperopt = require("hyperopt", "Hyperopt search algorithms")
        told = [t for t in sorted(trials, key=lambda t: t.number) if t.state is not TrialState.KILLED]
        if not told:
            return
        tids = self._trials.new_trial_ids(len(told))
        now = dt.datetime.now()
        specs: list[Any] = []
        results: list[dict[str, Any]] = []
        miscs: list[dict[str, Any]] = []
        for tid, past in zip(tids, told, strict=True):
            params = self.space.check(past.family, past.params)
            vals = self.space.hyperopt_vals(past.family, params)
            idxs = {label: [tid] if v else [] for label, v in vals.items()}
            specs.append(None)
            results.append(self._result(past.value, past.state))
            miscs.append({"tid": tid, "cmd": self._domain.cmd, "workdir": None, "idxs": idxs, "vals": vals})
        docs = self._trials.new_trial_docs(tids, specs, results, miscs)
        for doc in docs:
            doc["state"] = hyperopt.JOB_STATE_DONE
            doc["book_time"] = now
            doc["refresh_time"] = now
        self._trials.insert_trial_docs(docs)
        self._trials.refresh()
