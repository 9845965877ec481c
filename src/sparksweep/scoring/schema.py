"""Matching a table's columns to a model's input signature, by name and type, before any scoring job starts.

A column the model needs may be missing, or hold a type the model cannot take. Safe widenings (int -> long,
int/long/float -> double) are allowed and cast explicitly; anything else is an error naming every bad column.

Example:
    >>> match_columns({"a": "double", "b": "long"}, {"a": "long", "b": "long", "id": "string"}).casts
    {'a': 'double'}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sparksweep.errors import DataError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "ColumnMatch",
    "arrow_column_types",
    "match_columns",
    "model_input_types",
    "pandas_column_types",
    "require_columns",
    "spark_column_types",
]

# input type -> the model types it may be cast to without surprise
_WIDENINGS: dict[str, frozenset[str]] = {
    "boolean": frozenset({"boolean"}),
    "integer": frozenset({"integer", "long", "float", "double"}),
    "long": frozenset({"long", "double"}),
    "float": frozenset({"float", "double"}),
    "double": frozenset({"double"}),
    "string": frozenset({"string"}),
}

_SPARK_TYPES = {
    "BooleanType": "boolean",
    "ByteType": "integer",
    "ShortType": "integer",
    "IntegerType": "integer",
    "LongType": "long",
    "FloatType": "float",
    "DoubleType": "double",
    "StringType": "string",
    "DecimalType": "decimal",
    "DateType": "date",
    "TimestampType": "datetime",
    "TimestampNTZType": "datetime",
}


@dataclass(frozen=True)
class ColumnMatch:
    """How a table's columns meet a model's inputs: what is missing, what has the wrong type, what to cast."""

    missing: list[str] = field(default_factory=list)
    mismatched: dict[str, tuple[str, str]] = field(default_factory=dict)
    """column -> (the table's type, the model's type)"""
    casts: dict[str, str] = field(default_factory=dict)
    """column -> the model's type, for safe widenings"""

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched

    def problems(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"lacks columns {self.missing}")
        if self.mismatched:
            wrong = ", ".join(f"{c!r} is {got}, the model takes {want}" for c, (got, want) in self.mismatched.items())
            parts.append(f"has columns of the wrong type ({wrong})")
        return " and ".join(parts)


def model_input_types(model: Any) -> dict[str, str]:
    """The input columns of a pyfunc model's signature with their MLflow type names (empty without a signature)."""
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        return {}
    types: dict[str, str] = {}
    for spec in schema.inputs:
        kind = getattr(spec.type, "name", None)
        types[str(spec.name)] = str(kind) if kind is not None else str(spec.type)
    return types


def pandas_column_types(df: pd.DataFrame) -> dict[str, str]:
    """A pandas frame's columns with MLflow type names (numpy int32 -> integer, int64 -> long, ...)."""
    import pandas as pd

    out: dict[str, str] = {}
    for name, dtype in df.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            kind = "boolean"
        elif pd.api.types.is_integer_dtype(dtype):
            kind = "long" if dtype.itemsize == 8 else "integer"
        elif pd.api.types.is_float_dtype(dtype):
            kind = "double" if dtype.itemsize == 8 else "float"
        elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
            kind = "string"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            kind = "datetime"
        else:
            kind = str(dtype)
        out[str(name)] = kind
    return out


def spark_column_types(schema: Any) -> dict[str, str]:
    """A Spark schema's top-level columns with MLflow type names."""
    return {f.name: _SPARK_TYPES.get(type(f.dataType).__name__, f.dataType.simpleString()) for f in schema.fields}


_ARROW_TYPES = {
    "bool": "boolean",
    "int8": "integer",
    "int16": "integer",
    "int32": "integer",
    "uint8": "integer",
    "uint16": "integer",
    "int64": "long",
    "uint32": "long",
    "halffloat": "float",
    "float": "float",
    "double": "double",
    "string": "string",
    "large_string": "string",
    "string_view": "string",
    "date32[day]": "date",
}


def arrow_column_types(schema: pa.Schema) -> dict[str, str]:
    """An Arrow schema's columns with MLflow type names, as Spark would type them when reading the same parquet
    (uint32 -> long, dictionary-encoded text -> string, timestamps -> datetime)."""
    import pyarrow as pa

    out: dict[str, str] = {}
    for column in schema:
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if pa.types.is_timestamp(kind):
            out[column.name] = "datetime"
        elif pa.types.is_decimal(kind):
            out[column.name] = "decimal"
        else:
            out[column.name] = _ARROW_TYPES.get(str(kind), str(kind))
    return out


def match_columns(required: dict[str, str], available: dict[str, str]) -> ColumnMatch:
    """Compare the model's inputs (``required``: name -> type) with a table's columns (``available``)."""
    missing = [c for c in required if c not in available]
    mismatched: dict[str, tuple[str, str]] = {}
    casts: dict[str, str] = {}
    for column, want in required.items():
        got = available.get(column)
        if got is None or got == want or want == "Any":  # Any: a categorical column (text or pandas category)
            continue
        if want in _WIDENINGS.get(got, frozenset()):
            casts[column] = want
        else:
            mismatched[column] = (got, want)
    return ColumnMatch(missing=missing, mismatched=mismatched, casts=casts)


def require_columns(required: dict[str, str], available: dict[str, str], model_uri: str) -> ColumnMatch:
    """:func:`match_columns`, raising :class:`DataError` that names every bad column and the fix."""
    match = match_columns(required, available)
    if not match.ok:
        raise DataError(
            f"the input {match.problems()} for model {model_uri!r}; it has {sorted(available)}. "
            "Score a table with the model's feature columns, cast to the types in the model's signature"
        )
    return match
