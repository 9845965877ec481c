"""The prepared data a sweep carries: :class:`TrainingData` (what a trial needs) and :class:`Dataset` (those
splits, the held-out test split, the task and the class labels)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sparksweep.data._dates import DateFeatures
    from sparksweep.data._kinds import ColumnKind

__all__ = ["Dataset", "TrainingData"]


@dataclass(frozen=True)
class TrainingData:
    """What a trial needs: the encoded training and validation splits, the encoded target and the sample weights.

    ``fingerprint`` identifies this exact preparation (content, split settings, weights): workers cache the data
    under it, so two sweeps over different splits of one table never share a cached copy.
    """

    X_train: pd.DataFrame
    y_train: np.ndarray
    X_valid: pd.DataFrame
    y_valid: np.ndarray
    task: str
    fingerprint: str
    categories: dict[str, list[str]] = field(default_factory=dict)
    """Categorical columns and their categories, in code order; the other features are numeric."""
    w_train: np.ndarray | None = None
    """Sample weights of the training rows (``data.weight_column`` times ``data.class_weight``), or None."""
    dates: dict[str, DateFeatures] = field(default_factory=dict)
    """Date columns of the raw table and what their expansion learned; the encoded splits hold their numeric parts
    (``<column>__<part>``, :func:`sparksweep.data.expand_dates`) instead."""
    nullable: tuple[str, ...] = ()
    """Numeric columns the raw table gave as pandas nullable dtypes (``Int64``, ``boolean``, ...), float64 here:
    MLflow's schema enforcement refuses those dtypes for a typed column, so the model's signature declares them
    ``Any`` and the model turns them into floats itself."""
    time_ordered: bool = False
    """Whether the training rows then the validation rows are in time order (``data.time_column``): CV folds then
    chain forward (:func:`~sparksweep.data.fold_rows`)."""
    groups: np.ndarray | None = None
    """The group of each training row then each validation row (``data.group_column``), or None: CV folds then keep
    groups whole."""

    @property
    def categorical(self) -> list[str]:
        return list(self.categories)

    @property
    def numeric(self) -> list[str]:
        return [c for c in self.X_train.columns if c not in self.categories]

    def raw_rows(self, X: pd.DataFrame, features: list[str]) -> pd.DataFrame:
        """Encoded rows ``X`` as the raw table a user scores (``features``, in order): text in categorical
        columns, date columns rebuilt from their parts."""
        from sparksweep.data._categories import decode_categories
        from sparksweep.data._dates import restore_dates

        return restore_dates(decode_categories(X, self.categories), self.dates)[features]


@dataclass(frozen=True)
class Dataset:
    """A validated data set: the trial splits, the held-out test split (raw, as a user scores it), the task and the
    class labels."""

    training: TrainingData
    X_test: pd.DataFrame
    y_test: np.ndarray
    target: str
    task: str
    classes: list[Any] | None
    features: list[str]
    fingerprint: str
    n_rows: int
    categories: dict[str, list[str]] = field(default_factory=dict)
    kinds: list[ColumnKind] = field(default_factory=list)
    """Every column of the table with its kind (target, weight, numeric, categorical, left out) and why."""
