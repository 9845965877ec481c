"""The sweep specification: what a user writes in a sweep file, validated with errors that name the field.

Example:
    >>> spec = SweepSpec.model_validate({
    ...     "experiment": "churn",
    ...     "data": {"path": "data/users.parquet", "target": "label"},
    ...     "models": ["lightgbm"],
    ... })
    >>> spec.search.algorithm
    'optuna.tpe'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sparksweep.errors import SpecError
from sparksweep.tracking import AutologMode, autolog_mode

__all__ = [
    "PRUNERS",
    "DataSpec",
    "ParamSpec",
    "RegisterSpec",
    "SearchSpec",
    "SparkSpec",
    "SweepSpec",
    "Threshold",
    "TrackingSpec",
    "load_spec",
    "validate_spec",
]

Task = Literal["binary", "multiclass", "regression"]
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True)


class DataSpec(_Strict):
    """Where the data is, which columns mean what, and how it is split.

    The table comes from ``path`` (a parquet or csv file, relative to the current directory), from ``table`` (a
    Spark table name), or from the ``data=`` argument of :func:`sparksweep.run_sweep` (a pandas or Spark DataFrame).
    """

    path: str | None = Field(default=None, description="A parquet or csv file (or a folder of parquet files).")
    table: str | None = Field(default=None, description="A Spark table name (read through the sweep's session).")
    target: str = Field(min_length=1, description="The column to predict.")
    drop: list[str] = Field(default_factory=list, description="Columns that are not features (ids, dates).")
    categorical: list[str] = Field(
        default_factory=list,
        description="Text columns to use as categorical features (columns of pandas 'category' dtype always are).",
    )
    weight_column: str | None = Field(default=None, description="A column of non-negative sample weights.")
    class_weight: Literal["balanced"] | None = Field(
        default=None, description="'balanced': weight each class inversely to its frequency (classification only)."
    )
    test_size: float = Field(default=0.2, gt=0, lt=1, description="Share held out for the champion gate.")
    valid_size: float = Field(default=0.2, gt=0, lt=1, description="Share of the rest used to score trials.")
    split_seed: int = Field(default=42, description="Seed of the train/valid/test split (fixed across sweeps).")

    @field_validator("path")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        if value is None:
            return value
        suffix = Path(value).suffix.lower()
        if suffix not in {".parquet", ".csv", ".pq", ""}:
            raise ValueError(f"unsupported file type {suffix!r}; give a .parquet or .csv file")
        return value

    @model_validator(mode="after")
    def _consistent_columns(self) -> DataSpec:
        if self.path is not None and self.table is not None:
            raise ValueError("give either 'path' (a file) or 'table' (a Spark table name), not both")
        if self.target in self.drop:
            raise ValueError(f"the target {self.target!r} is also listed in 'drop'; remove it from 'drop'")
        if self.target in self.categorical:
            raise ValueError(f"the target {self.target!r} is listed in 'categorical'; remove it from there")
        both = sorted(set(self.drop) & set(self.categorical))
        if both:
            raise ValueError(f"columns {both} are listed in both 'drop' and 'categorical'; keep them in one")
        if self.weight_column is not None and self.weight_column in {self.target, *self.drop, *self.categorical}:
            raise ValueError(
                f"the weight column {self.weight_column!r} is also the target or listed in 'drop' or 'categorical'; "
                "it is used only as weights, so list it in 'weight_column' alone"
            )
        return self

    @property
    def source(self) -> str:
        """Where the table comes from, for messages and the sweep's params."""
        if self.table is not None:
            return f"table {self.table}"
        return self.path if self.path is not None else "a DataFrame passed to run_sweep"


PRUNERS = ("none", "median", "successive_halving", "hyperband")
"""Pruner names a sweep file may give as ``search.pruner``."""


class ParamSpec(_Strict):
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


class SearchSpec(_Strict):
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
    executor: Literal["spark", "spark-pool", "local"] = Field(
        default="spark-pool",
        description="spark-pool (the default): long-lived Spark tasks that pull trials (the least overhead per "
        "trial); spark: a Spark job per trial; local: a process pool without Spark.",
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


_THRESHOLD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")


class Threshold(_Strict):
    """A bound a candidate's test score must meet to be promoted, written ``"auc_roc >= 0.7"`` in a sweep file.

    Example:
        >>> Threshold.parse("auc_roc >= 0.7").holds(0.72)
        True
    """

    metric: str
    op: Literal[">=", "<=", ">", "<"]
    value: float

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """Read ``"<metric> <op> <number>"``; :class:`ValueError` naming the text otherwise."""
        match = _THRESHOLD.match(text)
        if match is None:
            raise ValueError(f"threshold {text!r} is not of the form '<metric> <op> <number>', e.g. 'auc_roc >= 0.7'")
        return cls(metric=match[1], op=match[2], value=float(match[3]))

    def holds(self, score: float) -> bool:
        return {">=": score >= self.value, "<=": score <= self.value, ">": score > self.value, "<": score < self.value}[
            self.op
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


class RegisterSpec(_Strict):
    """Registration of the champion in the MLflow Model Registry, and the gate a candidate must pass.

    Example:
        >>> spec = RegisterSpec.model_validate({"name": "churn", "min_improvement": 0.01, "improvement": "relative",
        ...                                     "confidence": 0.95, "thresholds": ["auc_roc >= 0.7"]})
        >>> str(spec.thresholds[0])
        'auc_roc >= 0.7'
    """

    name: str = Field(min_length=1, description="The registered model name.")
    min_improvement: float = Field(
        default=0.0, ge=0, description="How much better a candidate must be to replace the champion (see improvement)."
    )
    improvement: Literal["absolute", "relative"] = Field(
        default="absolute",
        description="absolute: min_improvement is in metric units; relative: a share of the champion's score "
        "(0.01 = 1% better).",
    )
    confidence: float | None = Field(
        default=None,
        gt=0.5,
        lt=1,
        description="When set, a paired bootstrap over the test rows must show the improvement at this confidence "
        "(one-sided); omitted: the point estimate decides.",
    )
    bootstrap_samples: int = Field(default=1000, ge=100, description="Resamples of the paired bootstrap.")
    thresholds: list[Threshold] = Field(
        default_factory=list,
        description="Bounds the candidate's test scores must meet, e.g. ['auc_roc >= 0.7', 'log_loss <= 0.5'].",
    )
    refit: bool = Field(
        default=False, description="Refit the best trial's family and params on train + valid before the gate."
    )
    force: bool = Field(
        default=False,
        description="Promote even when the gate says no (also when the champion's features differ from the data's).",
    )
    stage: Literal["Staging", "Production"] | None = Field(
        default=None,
        description="Also move a promoted version to this legacy registry stage (deprecated by MLflow; for old "
        "clients reading models:/<name>/Production).",
    )

    @field_validator("thresholds", mode="before")
    @classmethod
    def _parse_thresholds(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [Threshold.parse(v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("thresholds")
    @classmethod
    def _known_threshold_metrics(cls, value: list[Threshold]) -> list[Threshold]:
        from sparksweep.metrics import get_metric

        for threshold in value:
            get_metric(threshold.metric)
        return value


class TrackingSpec(_Strict):
    """Where MLflow records the sweep and what each trial logs."""

    uri: str = Field(default=DEFAULT_TRACKING_URI, description="MLflow tracking URI.")
    autolog: AutologMode = Field(
        default="sparksweep",
        description="What each trial's run records about its estimator. 'sparksweep' (or true): every estimator "
        "setting, its class, and the boosters' per-round validation curves, read after the fit and written in the "
        "trial's one batch (milliseconds). 'mlflow': MLflow's own autologging (also training-set metrics and "
        "plots for scikit-learn, feature-importance plots for LightGBM: 0.2-0.7 s per trial). 'off' (or false): "
        "the estimator's settings only.",
    )
    log_models: bool = Field(default=True, description="Log each trial's fitted model.")

    @field_validator("autolog", mode="before")
    @classmethod
    def _autolog_mode(cls, value: Any) -> Any:
        return autolog_mode(value) if isinstance(value, bool) else value


class SparkSpec(_Strict):
    """The Spark session trials run on when none is given."""

    master: str = Field(default="local[*]", description="local[*], local[N] or spark://host:port.")
    conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark configuration.")


class SweepSpec(_Strict):
    """A whole sweep: data, task, metric, search, model families, registration and tracking."""

    experiment: str = Field(min_length=1, description="MLflow experiment name.")
    data: DataSpec
    task: Task | None = Field(default=None, description="Inferred from the target when omitted.")
    metric: str | None = Field(default=None, description="Validation metric; a default per task when omitted.")
    search: SearchSpec = Field(default_factory=SearchSpec)
    models: list[str] = Field(min_length=1, description="Model family names, see sparksweep.models.FAMILIES.")
    registration: RegisterSpec | None = Field(
        default=None, alias="register", description="Register the champion; omitted: no registration."
    )
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    spark: SparkSpec = Field(default_factory=SparkSpec)

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list[str]) -> list[str]:
        from sparksweep.models import get_family

        for name in value:
            get_family(name)  # raises SpecError naming the allowed families
        if len(set(value)) != len(value):
            raise ValueError(f"model families are listed more than once: {value}")
        return value

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is not None:
            from sparksweep.metrics import get_metric

            get_metric(value)
        return value

    @model_validator(mode="after")
    def _space_families_listed(self) -> SweepSpec:
        unknown = sorted(set(self.search.space) - set(self.models))
        if unknown:
            raise ValueError(
                f"search.space overrides families {unknown} that are not in 'models' ({self.models}); "
                "add them to 'models' or remove their overrides"
            )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        if self.search.ensemble and self.registration is not None and not self.registration.refit:
            raise ValueError(
                "search.ensemble: true registers an ensemble fitted again on all the training rows, and "
                "register.refit is false; set register.refit: true or remove search.ensemble"
            )
        if self.task is None:
            return self
        from sparksweep.metrics import get_metric
        from sparksweep.models import get_family

        if self.metric is not None:
            metric = get_metric(self.metric)
            if self.task not in metric.tasks:
                raise ValueError(
                    f"metric {self.metric!r} does not apply to a {self.task} task; it applies to {sorted(metric.tasks)}"
                )
        for name in self.models:
            family = get_family(name)
            if self.task not in family.tasks:
                raise ValueError(
                    f"model family {name!r} does not support a {self.task} task (it supports {sorted(family.tasks)})"
                )
        for threshold in self.registration.thresholds if self.registration is not None else []:
            applies = get_metric(threshold.metric).tasks
            if self.task not in applies:
                raise ValueError(
                    f"register.thresholds: metric {threshold.metric!r} does not apply to a {self.task} task; "
                    f"it applies to {sorted(applies)}"
                )
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> SweepSpec:
        """Load a sweep file; see :func:`load_spec`."""
        return load_spec(path)

    def with_overrides(self, **overrides: Any) -> SweepSpec:
        """Return a copy with dotted-path overrides applied and validated (``{"search.n_trials": 4}``).

        Example:
            >>> spec = SweepSpec.model_validate({"experiment": "e", "data": {"path": "d.csv", "target": "y"},
            ...                                  "models": ["lightgbm"]})
            >>> spec.with_overrides(**{"search.n_trials": 4}).search.n_trials
            4
        """
        raw = self.model_dump()
        for dotted, value in overrides.items():
            if value is None:
                continue
            node = raw
            *parents, leaf = dotted.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return validate_spec(raw, source="overrides")

    def to_yaml(self) -> str:
        """The spec as YAML, with defaults filled in (what the parent run records)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"{source} is not a valid sweep spec:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key; check its spelling against the documented keys"
        elif err["type"] == "missing":
            msg = "required key is missing"
        got = err.get("input")
        got_text = "" if err["type"] in {"missing", "extra_forbidden"} or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  {where}: {msg}{got_text}")
    return "\n".join(lines)


def validate_spec(raw: Any, source: str = "the sweep spec") -> SweepSpec:
    """Validate a mapping as a :class:`SweepSpec`, raising :class:`SpecError` with one line per bad field."""
    if not isinstance(raw, dict):
        raise SpecError(f"{source} must be a mapping of keys to values, got {type(raw).__name__}")
    try:
        return SweepSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_format_errors(exc, source)) from None


def load_spec(path: str | Path) -> SweepSpec:
    """Read a YAML sweep file and validate it.

    Example:
        >>> spec = load_spec("examples/churn.yaml")  # doctest: +SKIP
    """
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"sweep file {str(file)!r} does not exist; give the path of a YAML sweep file")
    raw = read_yaml(file, "sweep file")
    return validate_spec(raw, source=f"sweep file {str(file)!r}")


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping (plain YAML keeps the last, silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise SpecError(
                f"key {key!r} is given twice in one mapping (lines {seen[key]} and {line}); keep one of them"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(file: Path, what: str) -> Any:
    """Parse a YAML file strictly: invalid YAML and duplicate keys raise :class:`SpecError` naming the file."""
    try:
        return yaml.load(file.read_text(), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise SpecError(f"{what} {str(file)!r} is not valid YAML: {exc}") from None
    except SpecError as exc:
        raise SpecError(f"{what} {str(file)!r}: {exc}") from None
