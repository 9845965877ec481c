"""Data sets a bench can name: scikit-learn's bundled tables and the churn generator, as pandas DataFrames."""

from __future__ import annotations

import pandas as pd

from sparksweep.bench.spec import BenchDataset
from sparksweep.data import DataSpec, read_table
from sparksweep.errors import SpecError

__all__ = ["load_bench_dataset"]

_SKLEARN = {
    "breast_cancer": "load_breast_cancer",
    "wine": "load_wine",
    "iris": "load_iris",
    "digits": "load_digits",
    "diabetes": "load_diabetes",
}


def load_bench_dataset(dataset: BenchDataset) -> tuple[pd.DataFrame, DataSpec]:
    """The table and its DataSpec (target, dropped columns; a 75/25 split of the test rows, fixed seed)."""
    if dataset.path is not None:
        frame = read_table(dataset.path)
        return frame, DataSpec(path=dataset.path, target=dataset.target or "", drop=dataset.drop, test_size=0.25)
    if dataset.name == "churn":
        from sparksweep.datasets import generate_churn

        frame = generate_churn(dataset.rows or 5000, seed=0)
        spec = DataSpec(path="churn", target="label", drop=["user_id", "feature_date"], test_size=0.25)
        return frame, spec
    if dataset.name not in _SKLEARN:
        raise SpecError(f"unknown bundled data set {dataset.name!r}; choose from {sorted([*_SKLEARN, 'churn'])}")
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, _SKLEARN[dataset.name])(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: str(c).replace(" ", "_"))
    return frame, DataSpec(path=dataset.name, target="target", test_size=0.25)
