"""The ``data`` section of a sweep file (:class:`DataSpec`): where the table is, which columns mean what, and how
it is split. It lives with the data so that preparing a table needs nothing from the sweep file's other sections."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sparksweep._pydantic import StrictModel

__all__ = ["DataSpec"]


class DataSpec(StrictModel):
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
        description="Columns to use as categorical features whatever the inference says (text and pandas "
        "'category' columns are categorical unless they hold mostly unique text).",
    )
    numeric: list[str] = Field(
        default_factory=list, description="Columns to use as numeric features (numbers and booleans already are)."
    )
    weight_column: str | None = Field(default=None, description="A column of non-negative sample weights.")
    class_weight: Literal["balanced"] | None = Field(
        default=None, description="'balanced': weight each class inversely to its frequency (classification only)."
    )
    test_size: float = Field(default=0.2, gt=0, lt=1, description="Share held out for the champion gate.")
    valid_size: float = Field(default=0.2, gt=0, lt=1, description="Share of the rest used to score trials.")
    split_seed: int = Field(default=42, description="Seed of the train/valid/test split (fixed across sweeps).")
    time_column: str | None = Field(
        default=None,
        description="A date, timestamp or number column ordering the rows in time: the test rows are the latest, "
        "the validation rows the latest before them, and search.cv's folds chain forward. Not a feature unless "
        "listed in data.numeric.",
    )
    group_column: str | None = Field(
        default=None,
        description="A column of group ids (customers, patients): a group's rows are never on both sides of a "
        "split (holdout or search.cv fold). Not a feature unless listed in data.categorical or data.numeric.",
    )

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
        if self.target in self.numeric:
            raise ValueError(f"the target {self.target!r} is listed in 'numeric'; remove it from there")
        lists = {"drop": self.drop, "categorical": self.categorical, "numeric": self.numeric}
        for i, (a, first) in enumerate(lists.items()):
            for b, second in list(lists.items())[i + 1 :]:
                both = sorted(set(first) & set(second))
                if both:
                    raise ValueError(f"columns {both} are listed in both {a!r} and {b!r}; keep them in one")
        listed = {self.target, *self.drop, *self.categorical, *self.numeric}
        if self.weight_column is not None and self.weight_column in listed:
            raise ValueError(
                f"the weight column {self.weight_column!r} is also the target or listed in 'drop', 'categorical' "
                "or 'numeric'; "
                "it is used only as weights, so list it in 'weight_column' alone"
            )
        self._check_split_columns()
        return self

    def _check_split_columns(self) -> None:
        if self.time_column is not None and self.group_column is not None:
            raise ValueError(
                f"time_column {self.time_column!r} and group_column {self.group_column!r} cannot be used together "
                "(a split that both follows time and keeps groups whole is not supported); keep the one the data "
                "needs: time_column when the future is scored, group_column when new customers are"
            )
        for key, column in (("time_column", self.time_column), ("group_column", self.group_column)):
            for role, other in (("target", self.target), ("weight_column", self.weight_column)):
                if column is not None and column == other:
                    raise ValueError(
                        f"{key} {column!r} is also the {role}; name another column in {key}, or remove {key}"
                    )

    @property
    def source(self) -> str:
        """Where the table comes from, for messages and the sweep's params."""
        if self.table is not None:
            return f"table {self.table}"
        return self.path if self.path is not None else "a DataFrame passed to run_sweep"
