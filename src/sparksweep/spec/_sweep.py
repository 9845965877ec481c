"""A whole sweep file (:class:`SweepSpec`: data, task, metric, search, model families, registration, tracking and the
Spark session), and reading one from a mapping or a YAML file with one error line per bad field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from sparksweep._pydantic import StrictModel, format_errors
from sparksweep.data import DataSpec
from sparksweep.errors import SpecError
from sparksweep.spec._checks import check_raw, check_values
from sparksweep.spec._register import RegisterSpec
from sparksweep.spec._search import SearchSpec
from sparksweep.spec._tracking import TrackingSpec
from sparksweep.spec._unity import unity_catalog_problems
from sparksweep.spec._yaml import read_yaml
from sparksweep.tracking import is_unity_catalog

__all__ = ["SparkSpec", "SweepSpec", "Task", "load_spec", "validate_spec"]

Task = Literal["binary", "multiclass", "regression"]


class SparkSpec(StrictModel):
    """The Spark session trials run on when none is given."""

    master: str = Field(default="local[*]", description="local[*], local[N] or spark://host:port.")
    conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark configuration.")
    remote: str | None = Field(
        default=None,
        pattern=r"^(sc://\S+|local(\[(\d+|\*)\])?)$",
        description="A Spark Connect server to run on instead of master: sc://host:port (or local[N] for a local "
        "Connect server); trials then run as DataFrame jobs (search.executor spark-frames).",
    )
    staging_dir: str | None = Field(
        default=None,
        min_length=1,
        description="Where the spark-frames executor stages training data too large to ride inside each trial's "
        "task: a folder the driver can write and every executor can read (a Unity Catalog volume /Volumes/..., or "
        "a cloud path); default: a temporary local folder when the executors run on this machine.",
    )


class SweepSpec(StrictModel):
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
    def _registry_rules(self) -> SweepSpec:
        registry = self.tracking.registry_uri
        if self.registration is not None and registry is not None and is_unity_catalog(registry):
            problems = unity_catalog_problems(self.registration.name, self.registration.stage)
            if problems:
                raise ValueError(f"tracking.registry_uri is {registry} (Unity Catalog): " + "; ".join(problems))
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


def validate_spec(raw: Any, source: str = "the sweep spec") -> SweepSpec:
    """Validate a mapping as a :class:`SweepSpec`, raising :class:`SpecError` with one line per bad field."""
    if not isinstance(raw, dict):
        raise SpecError(f"{source} must be a mapping of keys to values, got {type(raw).__name__}")
    check_raw(raw, source, SweepSpec)
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(format_errors(exc, source)) from None
    check_values(spec, source)
    return spec


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
