"""The preprocessing step put in front of estimators that cannot take categories or missing values themselves.

It is a scikit-learn ``ColumnTransformer`` fitted inside the family's pipeline, so it is saved with the model (skops)
and scoring takes the raw table: numeric columns are imputed (and scaled for distance- and penalty-based models),
categorical columns one-hot or ordinal encoded.

Example:
    >>> import pandas as pd
    >>> X = pd.DataFrame({"x": [1.0, None, 3.0], "city": pd.Categorical(["a", "b", None])})
    >>> make_preprocessor(["x"], ["city"], scale=True, encoding="one_hot").fit_transform(X).shape
    (3, 4)
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["ONE_HOT_MAX_CATEGORIES", "Encoding", "make_preprocessor"]

Encoding = Literal["one_hot", "ordinal"]

ONE_HOT_MAX_CATEGORIES = 32
"""One-hot columns per categorical feature; rarer categories share one "infrequent" column."""


def make_preprocessor(numeric: list[str], categorical: list[str], *, scale: bool, encoding: Encoding) -> Any:
    """An unfitted ``ColumnTransformer`` that imputes (and optionally scales) ``numeric`` and encodes ``categorical``.

    One-hot encoding suits linear, distance and kernel models; ordinal codes suit trees (one split can isolate a
    code range, and the width of the table stays the same). Unseen categories become all zeros (one-hot) or -1
    (ordinal), like missing ones.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    steps: list[tuple[str, Any, list[str]]] = []
    if numeric:
        numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
        if scale:
            numeric_steps.append(("scale", StandardScaler()))
        steps.append(("numeric", Pipeline(numeric_steps), numeric))
    if categorical:
        encoder: Any
        if encoding == "one_hot":
            encoder = OneHotEncoder(
                handle_unknown="infrequent_if_exist", max_categories=ONE_HOT_MAX_CATEGORIES, sparse_output=False
            )
        else:
            encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
        steps.append(("categorical", encoder, categorical))
    return ColumnTransformer(steps, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False)
