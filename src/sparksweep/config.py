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

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sparksweep.errors import SpecError

__all__ = [
    "PRUNERS",
    "DataSpec",
    "ParamSpec",
    "RegisterSpec",
    "SearchSpec",
    "SparkSpec",
    "SweepSpec",
    "TrackingSpec",
    "load_spec",
    "validate_spec",
]

Task = Literal["binary", "multiclass", "regression"]
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True)


class DataSpec(_Strict):
    """Where the data is and how it is split.

    Relative paths are resolved against the current directory when the sweep starts.
    """

    path: str = Field(description="A parquet or csv file (or a folder of parquet files).")
    target: str = Field(min_length=1, description="The column to predict.")
    drop: list[str] = Field(default_factory=list, description="Columns that are not features (ids, dates).")
    test_size: float = Field(default=0.2, gt=0, lt=1, description="Share held out for the champion gate.")
    valid_size: float = Field(default=0.2, gt=0, lt=1, description="Share of the rest used to score trials.")
    split_seed: int = Field(default=42, description="Seed of the train/valid/test split (fixed across sweeps).")

    @field_validator("path")
    @classmethod
    def _known_format(cls, value: str) -> str:
        suffix = Path(value).suffix.lower()
        if suffix not in {".parquet", ".csv", ".pq", ""}:
            raise ValueError(f"unsupported file type {suffix!r}; give a .parquet or .csv file")
        return value

    @model_validator(mode="after")
    def _target_not_dropped(self) -> DataSpec:
        if self.target in self.drop:
            raise ValueError(f"the target {self.target!r} is also listed in 'drop'; remove it from 'drop'")
        return self


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
        default=None, gt=0, description="Wall-clock budget of the sweep in seconds; running trials are then killed."
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
    warm_start: str | None = Field(
        default=None, min_length=1, description="Parent run id of an earlier sweep whose trials seed the searcher."
    )
    space: dict[str, dict[str, ParamSpec]] = Field(
        default_factory=dict, description="Per-family overrides of the default space: {family: {param: {...}}}."
    )
    executor: Literal["spark", "local"] = Field(default="spark", description="Run trials on Spark or a process pool.")

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, value: str) -> str:
        from sparksweep.search.algorithms import ALGORITHMS

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
        return self


class RegisterSpec(_Strict):
    """Registration of the champion in the MLflow Model Registry."""

    name: str = Field(min_length=1, description="The registered model name.")
    min_improvement: float = Field(
        default=0.0, ge=0, description="How much better (in metric units) a candidate must be to replace the champion."
    )


class TrackingSpec(_Strict):
    """Where MLflow records the sweep and what each trial logs."""

    uri: str = Field(default=DEFAULT_TRACKING_URI, description="MLflow tracking URI.")
    autolog: bool = Field(
        default=True,
        description="MLflow autologging inside each trial (params, training metrics). Off: sparksweep still logs "
        "every estimator setting in one batch, which is far cheaper for scikit-learn families.",
    )
    log_models: bool = Field(default=True, description="Log each trial's fitted model.")


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
            from sparksweep.scoring.metrics import get_metric

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
        if self.task is None:
            return self
        from sparksweep.models import get_family
        from sparksweep.scoring.metrics import get_metric

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
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"sweep file {str(file)!r} is not valid YAML: {exc}") from None
    return validate_spec(raw, source=f"sweep file {str(file)!r}")
