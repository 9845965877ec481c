"""The ``search`` section of a sweep file: the algorithm, the budget, pruning, cross-validation, finalists, and
per-family overrides of the search space (:class:`ParamSpec`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sparksweep._pydantic import StrictModel

__all__ = ["PRUNERS", "ParamSpec", "SearchSpec"]

PRUNERS = ("none", "median", "successive_halving", "hyperband")
"""Pruner names a sweep file may give as ``search.pruner``."""


class ParamSpec(StrictModel):
    """One hyperparameter's distribution in a sweep file, overriding a family's default.

    ``{type: float, low: 0.01, high: 0.3, log: true}``, ``{type: int, low: 2, high: 10}`` or
    ``{type: categorical, choices: [gini, entropy]}`` (one choice fixes the value).
    """

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _complete(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
            if self.low is not None or self.high is not None or self.log:
                raise ValueError("a categorical parameter takes 'choices' only, not low/high/log")
            return self
        if self.choices is not None:
            raise ValueError(f"a {self.type} parameter takes low/high (and log), not 'choices'")
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs both 'low' and 'high'")
        if not self.low < self.high:
            raise ValueError(f"needs low < high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale parameter needs low > 0, got low={self.low}")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError(f"an int parameter needs whole-number bounds, got low={self.low}, high={self.high}")
        return self


class SearchSpec(StrictModel):
    """How the space is searched, with what budget, pruning and validation."""

    algorithm: str = Field(default="optuna.tpe", description="A name from sparksweep.search.ALGORITHMS.")
    n_trials: int = Field(default=20, ge=1, description="How many trials to run (a resumed sweep counts earlier ones).")
    parallelism: int | None = Field(default=None, ge=1, description="Trials in flight; default: the task slots.")
    seed: int | None = Field(default=None, description="Seed of the search algorithm.")
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="Wall-clock budget of the sweep in seconds, counted from its start (Spark's start and the rest of "
        "the set-up included); trials still running then are cancelled and recorded as killed.",
    )
    trial_timeout: float | None = Field(
        default=None, gt=0, description="Seconds one trial may run before it is cancelled and recorded as killed."
    )
    patience: int | None = Field(
        default=None, ge=1, description="Stop after this many finished trials in a row without a better value."
    )
    target: float | None = Field(default=None, description="Stop as soon as a trial reaches this metric value.")
    pruner: Literal["none", "median", "successive_halving", "hyperband"] = Field(
        default="none", description="Stop hopeless trials early from their per-round validation scores."
    )
    cv: int | None = Field(
        default=None, ge=2, le=20, description="k-fold cross-validation instead of the holdout split (stratified)."
    )
    cv_racing: bool = Field(
        default=False,
        description="With cv: stop a trial after a fold once its mean over the folds so far is worse than the best "
        "finished trial's on the same folds by more than two standard errors (that trial's fold-to-fold standard "
        "deviation over the root of the folds scored); it is recorded as pruned with the folds it scored. For tight "
        "budgets: hopeless trials cost a fold or two, not k.",
    )
    finalists: int = Field(
        default=0,
        ge=0,
        le=20,
        description="With cv: score the best N trials again by k-fold CV on a fresh partition of the rows and choose "
        "the champion on those scores (the trials within one standard error of the best, the best of each family "
        "first). The best of many trials scored on the same folds is flattered by its luck on them; fresh folds are "
        "not. Their time is kept back from the timeout; each is a child run tagged sparksweep.kind=rescore. 0: the "
        "champion is the best trial on the search's folds.",
    )
    ensemble: bool = Field(
        default=False,
        description="With finalists: the champion may be a weighted average of finalists, chosen greedily on their "
        "held-out predictions on the fresh folds (ensemble selection), when it beats the best single finalist there. "
        "The finalists are then the best trial of each family first, whatever its score, so the average has "
        "different kinds of model to draw on. Registered models are refitted (register.refit: true).",
    )
    warm_start: str | None = Field(
        default=None, min_length=1, description="Parent run id of an earlier sweep whose trials seed the searcher."
    )
    start_from_defaults: bool = Field(
        default=True,
        description="First run each model family once at its library's default settings (fitted into the space), "
        "before the search algorithm proposes: every family gets a sound first score, which steadies the family "
        "choice on small data under a tight budget. Not for resumed or warm-started sweeps.",
    )
    space: dict[str, dict[str, ParamSpec]] = Field(
        default_factory=dict, description="Per-family overrides of the default space: {family: {param: {...}}}."
    )
    executor: Literal["spark", "spark-pool", "spark-frames", "local"] = Field(
        default="spark-pool",
        description="spark-pool (the default): long-lived Spark tasks that pull trials (the least overhead per "
        "trial); spark: a Spark job per trial; spark-frames: a DataFrame job per trial (what Spark Connect "
        "sessions run, chosen for them automatically); local: a process pool without Spark.",
    )

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, value: str) -> str:
        from sparksweep.search import ALGORITHMS

        if value not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {value!r}; choose one of {sorted(ALGORITHMS)}")
        return value

    @model_validator(mode="after")
    def _compatible(self) -> SearchSpec:
        if self.cv is not None and self.pruner != "none":
            raise ValueError(
                f"pruner {self.pruner!r} cannot be combined with cv={self.cv} (a pruned trial would leave folds "
                "unscored); use the holdout split (remove 'cv') or set pruner: none"
            )
        if self.finalists and self.cv is None:
            raise ValueError(
                f"finalists: {self.finalists} scores the best trials again by k-fold cross-validation on fresh folds, "
                "and 'cv' is not set; set cv (e.g. cv: 5) or remove finalists"
            )
        if self.ensemble and self.finalists < 2:
            raise ValueError(
                f"ensemble: true averages finalists, and finalists is {self.finalists}; set finalists: 2 or more "
                "(e.g. finalists: 4) or remove ensemble"
            )
        if self.cv_racing and self.cv is None:
            raise ValueError(
                "cv_racing: true races the folds of k-fold cross-validation, and 'cv' is not set; set cv (e.g. "
                "cv: 5) or remove cv_racing"
            )
        return self
