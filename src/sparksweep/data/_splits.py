"""How a table's rows are split: the train / valid / test holdout (:func:`holdout_split`), the folds of ``search.cv``
(:func:`fold_rows`) and the stopping rows of a family that stops early (:func:`stopping_rows`).

Three orders, one per ``data`` setting:

* by default the rows are shuffled (stratified by class for classification) with ``data.split_seed``;
* with ``data.time_column`` the test rows are the latest ``data.test_size`` share, the validation rows the latest
  ``data.valid_size`` share of the rest, and the folds of ``search.cv`` chain forward (scikit-learn's
  ``TimeSeriesSplit`` over the training rows in time order): no row is scored by a model fitted on a later row. The
  holdout cuts between distinct times, so a time is never on both sides (each cut moves up to the next new time);
* with ``data.group_column`` every group's rows fall on one side of every split (``GroupShuffleSplit`` for the
  holdout, whose shares are shares of the groups; ``StratifiedGroupKFold`` or ``GroupKFold`` for the folds), so a
  model is never scored on a customer it saw in training.

Example:
    >>> import numpy as np
    >>> from sparksweep.data import DataSpec
    >>> times = np.arange(10)[::-1]
    >>> train, valid, test = holdout_split(np.zeros(10), DataSpec(target="y"), stratify=False, times=times)
    >>> sorted(times[test].tolist()), sorted(times[valid].tolist())
    ([8, 9], [6, 7])
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sparksweep.errors import DataError

if TYPE_CHECKING:
    from sparksweep.data._spec import DataSpec
    from sparksweep.data._types import TrainingData

__all__ = ["MIN_GROUPS", "check_folds", "fold_rows", "holdout_split", "split_columns", "stopping_rows"]

MIN_GROUPS = 3
"""The fewest groups a holdout by ``data.group_column`` can split into train, valid and test."""

Rows = np.ndarray


def split_columns(df: pd.DataFrame, spec: DataSpec) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The ranks of ``data.time_column``'s values (numbers that sort and tie as the times do) and the group codes of
    ``data.group_column``, each None when not set; a column missing, with missing values, or (the time) neither
    numbers nor dates is a :class:`DataError`."""
    times = groups = None
    for key, column in (("time_column", spec.time_column), ("group_column", spec.group_column)):
        if column is None:
            continue
        if column not in df.columns:
            raise DataError(
                f"data.{key} {column!r} is not in the data; its columns are {list(df.columns)}. Fix data.{key} "
                "or remove it"
            )
        values = df[column]
        if values.isna().any():
            raise DataError(
                f"data.{key} {column!r} has {int(values.isna().sum())} missing values: those rows cannot be placed "
                "in the split; fill them or drop those rows before the sweep"
            )
        if key == "group_column":
            groups = pd.factorize(values)[0].astype(np.int64)
            continue
        dated = pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_timedelta64_dtype(values)
        if dated or (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
            times = pd.factorize(values, sort=True)[0].astype(np.int64)  # each time's rank: its order, its ties
        else:
            raise DataError(
                f"data.time_column {column!r} holds {values.dtype} values (e.g. {values.iloc[:1].tolist()}), "
                "which do not order rows in time; give a date, timestamp or number column (convert text with "
                "pd.to_datetime)"
            )
    return times, groups


def holdout_split(
    y: np.ndarray,
    spec: DataSpec,
    *,
    stratify: bool,
    times: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> tuple[Rows, Rows, Rows]:
    """The (train, valid, test) rows of the table: shuffled, by time (``times``: train and valid then come in time
    order) or by group (``groups``), as the module docstring says."""
    from sklearn.model_selection import train_test_split

    if times is not None or groups is not None:
        split = _time_holdout(times, spec) if times is not None else _group_holdout(np.asarray(groups), spec)
        if stratify:
            _check_classes(y, split, spec)
        return split
    rows = np.arange(len(y))
    rest, test = train_test_split(
        rows, test_size=spec.test_size, random_state=spec.split_seed, stratify=y if stratify else None
    )
    train, valid = train_test_split(
        rest, test_size=spec.valid_size, random_state=spec.split_seed, stratify=y[rest] if stratify else None
    )
    return train, valid, test


def _latest(order: Rows, times: np.ndarray, share: float) -> int:
    """Where the latest ``share`` of ``order`` (rows sorted by time) starts, moved up to the next new time."""
    cut = len(order) - max(1, math.ceil(share * len(order)))
    while 0 < cut < len(order) and times[order[cut]] == times[order[cut - 1]]:
        cut += 1
    return cut


def _time_holdout(times: np.ndarray, spec: DataSpec) -> tuple[Rows, Rows, Rows]:
    order = np.argsort(times, kind="stable")
    cut_test = _latest(order, times, spec.test_size)
    rest = order[:cut_test]
    cut_valid = _latest(rest, times, spec.valid_size)
    train, valid, test = rest[:cut_valid], rest[cut_valid:], order[cut_test:]
    if min(len(train), len(valid), len(test)) == 0:
        raise DataError(
            f"data.time_column {spec.time_column!r} has {len(np.unique(times))} distinct times in {len(times)} "
            "rows: too few to cut into train, valid and test sets that never share a time; give a finer time "
            "column (timestamps, not dates) or more rows"
        )
    return train, valid, test


def _group_holdout(groups: np.ndarray, spec: DataSpec) -> tuple[Rows, Rows, Rows]:
    from sklearn.model_selection import GroupShuffleSplit

    n_groups = len(np.unique(groups))
    if n_groups < MIN_GROUPS:
        raise DataError(
            f"data.group_column {spec.group_column!r} has {n_groups} distinct group(s); a split by group needs at "
            f"least {MIN_GROUPS} (one each for train, valid and test). Give a column with more groups, or remove "
            "data.group_column"
        )
    rows = np.arange(len(groups))
    rest, test = next(
        GroupShuffleSplit(1, test_size=spec.test_size, random_state=spec.split_seed).split(rows, groups=groups)
    )
    fit, valid = next(
        GroupShuffleSplit(1, test_size=spec.valid_size, random_state=spec.split_seed).split(rest, groups=groups[rest])
    )
    return rest[fit], rest[valid], test


def _check_classes(y: np.ndarray, split: tuple[Rows, Rows, Rows], spec: DataSpec) -> None:
    """A split by time or group is not stratified: refuse one whose training rows miss a class, or whose validation
    or test rows hold a single class (no classification metric is defined on them)."""
    key, column = ("time_column", spec.time_column) if spec.time_column else ("group_column", spec.group_column)
    every = set(np.unique(y).tolist())
    for name, rows, needed in zip(("train", "valid", "test"), split, (len(every), 2, 2), strict=True):
        held = set(np.unique(y[rows]).tolist())
        if len(held) < needed:
            raise DataError(
                f"the split by data.{key} {column!r} leaves the {name} rows with only {len(held)} of the "
                f"{len(every)} classes of target {spec.target!r} (codes {sorted(held)}); a split by {key} is not "
                "stratified: set data.test_size / data.valid_size higher, add rows, or remove data." + key
            )


def check_folds(data: TrainingData, k: int) -> None:
    """Refuse, before any trial, ``search.cv: k`` folds the training rows cannot give: fewer groups than folds, or
    too few rows for ``k`` forward-chaining folds."""
    n = len(data.y_train) + len(data.y_valid)
    if data.groups is not None:
        n_groups = len(np.unique(data.groups))
        if n_groups < k:
            raise DataError(
                f"search.cv: {k} needs at least {k} groups in the training rows, and data.group_column has "
                f"{n_groups} there; set search.cv to {n_groups} or less (at least 2), or give a column with more "
                "groups"
            )
    elif data.time_ordered and n <= k:
        raise DataError(f"search.cv: {k} forward-chaining folds need more than {k} training rows, got {n}")


def fold_rows(
    y: np.ndarray, *, k: int, seed: int, stratify: bool, time_ordered: bool = False, groups: np.ndarray | None = None
) -> list[tuple[Rows, Rows]]:
    """The k folds of CV over rows ``0..len(y)-1`` as (rows to train on, rows to score): shuffled (stratified),
    forward-chaining when the rows are in time order (``time_ordered``), or by group (``groups``)."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold, TimeSeriesSplit

    rows = np.zeros(len(y))
    if time_ordered:
        return list(TimeSeriesSplit(k).split(rows))
    if groups is not None:
        splitter = (
            StratifiedGroupKFold(k, shuffle=True, random_state=seed)
            if stratify
            else GroupKFold(k, shuffle=True, random_state=seed)
        )
        return list(splitter.split(rows, y, groups=groups))
    shuffled = (
        StratifiedKFold(k, shuffle=True, random_state=seed) if stratify else KFold(k, shuffle=True, random_state=seed)
    )
    return list(shuffled.split(rows, y))


def stopping_rows(
    rows: Rows,
    y: np.ndarray,
    *,
    share: float,
    seed: int,
    stratify: bool,
    time_ordered: bool = False,
    groups: np.ndarray | None = None,
) -> tuple[Rows, Rows]:
    """``rows`` as (rows to fit on, rows to stop early on, a ``share`` of them): the latest rows when they are in time
    order, whole groups with ``groups`` (``groups[rows]``), else drawn at random (stratified when every class has
    two rows)."""
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    rows = np.asarray(rows)
    if time_ordered:
        cut = len(rows) - max(1, math.ceil(share * len(rows)))
        return rows[:cut], rows[cut:]
    if groups is not None and len(np.unique(groups[rows])) >= 2:
        fit, stop = next(GroupShuffleSplit(1, test_size=share, random_state=seed).split(rows, groups=groups[rows]))
        return rows[fit], rows[stop]
    _, counts = np.unique(y[rows], return_counts=True)
    by_class = y[rows] if stratify and counts.min() >= 2 else None
    fit, stop = train_test_split(rows, test_size=share, random_state=seed, stratify=by_class)
    return np.asarray(fit), np.asarray(stop)
