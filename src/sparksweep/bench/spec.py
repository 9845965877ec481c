"""The bench file: data sets x algorithms x model-family sets x seeds, each cell a real sweep.

Example:
    >>> spec = BenchSpec.model_validate({
    ...     "experiment": "bench", "datasets": [{"name": "breast_cancer"}],
    ...     "algorithms": ["optuna.tpe", "hyperopt.tpe"], "model_sets": {"boost": ["lightgbm"]},
    ...     "budget": {"n_trials": 4}})
    >>> len(spec.cells())
    2
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from sparksweep._pydantic import StrictModel, format_errors
from sparksweep.errors import SpecError
from sparksweep.spec import read_yaml
from sparksweep.tracking import DEFAULT_TRACKING_URI

__all__ = ["BUNDLED", "BenchBudget", "BenchDataset", "BenchSpec", "Cell", "load_bench"]

BUNDLED = ("breast_cancer", "wine", "iris", "digits", "diabetes", "churn")
"""Data sets a bench file can name without a path: scikit-learn's bundled ones and the churn generator."""


class BenchDataset(StrictModel):
    """A bundled data set by name, or a file with its target."""

    name: str = Field(min_length=1, description="A bundled name, or any label for a file.")
    path: str | None = Field(default=None, description="parquet or csv; omitted for bundled data sets.")
    target: str | None = None
    drop: list[str] = Field(default_factory=list)
    task: Literal["binary", "multiclass", "regression"] | None = None
    metric: str | None = Field(default=None, description="Default: the task's default metric.")
    rows: int | None = Field(default=None, ge=50, description="Rows of the churn generator (default 5000).")

    @model_validator(mode="after")
    def _bundled_or_file(self) -> BenchDataset:
        if self.path is None and self.name not in BUNDLED:
            raise ValueError(f"data set {self.name!r} is not bundled ({list(BUNDLED)}); give it a path and a target")
        if self.path is not None and self.target is None:
            raise ValueError(f"data set {self.name!r} has a path but no target; add target: <column>")
        return self


class BenchBudget(StrictModel):
    """Each cell's budget: a number of trials, or seconds of wall time (or both: whichever ends first)."""

    n_trials: int | None = Field(default=None, ge=1)
    seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _some_budget(self) -> BenchBudget:
        if self.n_trials is None and self.seconds is None:
            raise ValueError("give budget.n_trials, budget.seconds, or both")
        return self


@dataclass(frozen=True)
class Cell:
    """One sweep of the bench: a data set, an algorithm, a model-family set and a seed."""

    dataset: str
    algorithm: str
    model_set: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.dataset}|{self.algorithm}|{self.model_set}|{self.seed}"


class BenchSpec(StrictModel):
    """A comparison: every cell of datasets x algorithms x model_sets x repeats is a real sweep."""

    experiment: str = Field(min_length=1)
    datasets: list[BenchDataset] = Field(min_length=1)
    algorithms: list[str] = Field(min_length=1)
    model_sets: dict[str, list[str]] = Field(min_length=1, description="Named lists of model families.")
    budget: BenchBudget
    repeats: int = Field(default=1, ge=1, description="Seeds 0 .. repeats-1 for every cell.")
    parallelism: int | None = Field(default=None, ge=1)
    tracking_uri: str = DEFAULT_TRACKING_URI
    output: str = Field(default="bench-report", description="Folder for report.md and the PNG curves.")

    @field_validator("algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str]) -> list[str]:
        from sparksweep.search import ALGORITHMS

        unknown = [a for a in value if a not in ALGORITHMS]
        if unknown:
            raise ValueError(f"unknown algorithms {unknown}; choose from {sorted(ALGORITHMS)}")
        return value

    @field_validator("model_sets")
    @classmethod
    def _known_families(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from sparksweep.models import get_family

        for name, families in value.items():
            if not families:
                raise ValueError(f"model set {name!r} is empty")
            for family in families:
                get_family(family)
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> BenchSpec:
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"data set names must be unique, got {names}")
        return self

    def cells(self) -> list[Cell]:
        """Every cell, data set by data set (so a data set is loaded once)."""
        return [
            Cell(d.name, a, m, seed)
            for d in self.datasets
            for m in self.model_sets
            for a in self.algorithms
            for seed in range(self.repeats)
        ]

    def digest(self) -> str:
        """Identifies the comparison (not its output folder): an interrupted bench resumes the run with the same."""
        body = self.model_dump(mode="json", exclude={"output"})
        return hashlib.sha256(yaml.safe_dump(body, sort_keys=True).encode()).hexdigest()[:16]


def load_bench(path: str | Path) -> BenchSpec:
    """Read and validate a bench file, with one line per bad field."""
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"bench file {str(file)!r} does not exist; give the path of a YAML bench file")
    raw: Any = read_yaml(file, "bench file")
    if not isinstance(raw, dict):
        raise SpecError(f"bench file {str(file)!r} must be a mapping of keys to values")
    try:
        return BenchSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(format_errors(exc, f"bench file {str(file)!r}")) from None
