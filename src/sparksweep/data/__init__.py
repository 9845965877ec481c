"""Loading, validating and splitting the data a sweep trains on, and its fingerprint.

A table arrives as a parquet or csv file, a Spark table name, a Spark DataFrame or a pandas DataFrame
(:func:`load_table`). :func:`prepare_dataset` checks it before any trial runs (every problem is a :class:`DataError`
naming the column and the fix), encodes the target, fixes the categories of categorical columns, and splits it.

Two representations of the features travel through a sweep:

* the *raw* table, as a user scores it: numbers, text (``None`` when missing) in categorical columns, and date
  columns as given;
* the *encoded* table the families train on: categorical columns as pandas ``category`` columns with the categories
  fixed from the whole table (:func:`encode_categories`), so every split and every scoring call codes them alike,
  and each date column replaced by its numeric parts (:func:`expand_dates`).

Example:
    >>> import pandas as pd
    >>> from sparksweep.data import DataSpec
    >>> df = pd.DataFrame({"x": range(100), "city": ["a", "b"] * 50, "y": [0, 1] * 50})
    >>> ds = prepare_dataset(df, DataSpec(target="y", categorical=["city"]))
    >>> ds.task, len(ds.X_test), ds.categories
    ('binary', 20, {'city': ['a', 'b']})
"""

from __future__ import annotations

from sparksweep.data._categories import MAX_CATEGORIES, categories_as_text, decode_categories, encode_categories
from sparksweep.data._dates import DATE_PARTS, DateFeatures, expand_dates, learn_dates
from sparksweep.data._kinds import KINDS_ARTIFACT, ColumnKind, Kind, infer_kinds, kinds_table
from sparksweep.data._load import load_table, read_table, spark_to_pandas
from sparksweep.data._prepare import fingerprint, infer_task, prepare_dataset
from sparksweep.data._spec import DataSpec
from sparksweep.data._splits import check_folds, fold_rows, holdout_split, stopping_rows
from sparksweep.data._types import Dataset, TrainingData

__all__ = [
    "DATE_PARTS",
    "KINDS_ARTIFACT",
    "MAX_CATEGORIES",
    "ColumnKind",
    "DataSpec",
    "Dataset",
    "DateFeatures",
    "Kind",
    "TrainingData",
    "categories_as_text",
    "check_folds",
    "decode_categories",
    "encode_categories",
    "expand_dates",
    "fingerprint",
    "fold_rows",
    "holdout_split",
    "infer_kinds",
    "infer_task",
    "kinds_table",
    "learn_dates",
    "load_table",
    "prepare_dataset",
    "read_table",
    "spark_to_pandas",
    "stopping_rows",
]
