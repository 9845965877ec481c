"""Fuzzed sweep files and tables: one field wrong, or one defect in the table, ends in a SparkSweepError that names
the field or the column (in process, many examples, no Spark), and the CLI exits 2 with an ``error:`` line, no
traceback and no run left RUNNING (a handful of subprocess cases). Defects the code accepts on purpose (missing
values in features, constant features, unicode and spaces in column names, a mixed column declared categorical) must
prepare (and, through the CLI, sweep) fine."""

from __future__ import annotations

import copy
import string
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sparksweep
from sparksweep import SparkSweepError, SpecError, load_spec
from sparksweep.data import DataSpec, prepare_dataset
from sparksweep.datasets import generate_churn
from sparksweep.spec import validate_spec
from tests.faults._sweeps import cli, read_sweeps, run_together, running_runs, sweep_file

CASES: Counter[str] = Counter()
"""Examples run per property (printed at the end of the module, for the report)."""

FAMILY = "sklearn.logistic_regression"
BASE: dict[str, Any] = {
    "experiment": "fuzz",
    "data": {"path": "data.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
    "task": "binary",
    "metric": "auc_roc",
    "search": {"n_trials": 3, "parallelism": 1, "executor": "local", "algorithm": "optuna.random"},
    "models": [FAMILY],
    "register": {"name": "fuzz-model", "confidence": 0.9},
    "tracking": {"uri": "sqlite:///mlflow.db", "figures": False},  # figures: tests/figures
}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- sweep files ----------------------------------------------------------------------------------------------------

_word = st.text(string.ascii_letters + "_", min_size=1, max_size=12)
_not_number = st.one_of(_word, st.lists(st.integers(), max_size=2), st.dictionaries(_word, st.integers(), max_size=1))
_non_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])


def _outside(low: float, high: float) -> st.SearchStrategy[Any]:
    """Numbers outside the open interval (low, high), non-finite ones, booleans and non-numbers."""
    return st.one_of(
        st.floats(max_value=low, allow_nan=False, allow_infinity=False),
        st.floats(min_value=high, allow_nan=False, allow_infinity=False),
        _non_finite,
        st.booleans(),
        _not_number,
    )


def _ints_below(bound: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(max_value=bound - 1), st.booleans(), _not_number, _non_finite)


def _unknown(known: list[str]) -> st.SearchStrategy[str]:
    return _word.filter(lambda w: w not in known)


WRONG_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "search.n_trials": _ints_below(1),
    "search.parallelism": _ints_below(1),
    "search.patience": _ints_below(1),
    "search.cv": st.one_of(_ints_below(2), st.integers(min_value=21)),
    "search.timeout": st.one_of(st.floats(max_value=0, allow_nan=False), _non_finite, st.booleans(), _not_number),
    "search.target": st.one_of(_non_finite, st.booleans(), _not_number),
    "search.seed": st.one_of(st.booleans(), _not_number),
    "search.algorithm": _unknown([]).filter(lambda w: "." not in w),
    "search.pruner": _unknown(["none", "median", "successive_halving", "hyperband"]),
    "search.executor": _unknown(["spark", "spark-pool", "local"]),
    "data.test_size": _outside(0, 1),
    "data.valid_size": _outside(0, 1),
    "data.target": st.one_of(st.just(""), st.integers(), st.lists(_word, max_size=2)),
    "data.path": _word.map(lambda w: f"{w}.txt"),
    "data.split_seed": st.one_of(st.booleans(), _not_number),
    "task": _unknown(["binary", "multiclass", "regression"]),
    "metric": _unknown(["auc_roc"]),
    "models": st.one_of(st.just([]), st.lists(_unknown([]), min_size=1, max_size=2), st.just([FAMILY, FAMILY])),
    "experiment": st.one_of(st.just(""), st.just("   "), st.integers()),
    "register.name": st.one_of(st.just(""), _word.map(lambda w: f"{w}/x"), _word.map(lambda w: f"a:{w}")),
    "register.confidence": _outside(0.5, 1),
    "register.min_improvement": st.one_of(st.floats(max_value=-1e-9, allow_nan=False), _non_finite, st.booleans()),
    "register.bootstrap_samples": _ints_below(100),
    "register.thresholds": st.one_of(
        _word.map(lambda w: [f"auc_roc >= {w}"]), _word.map(lambda w: [f"{w} >= 0.5"]), st.just([3])
    ),
    "tracking.autolog": _unknown(["sparksweep", "mlflow", "off"]),
    "tracking.log_models": st.one_of(
        _unknown(["improving", "all", "none"]).filter(
            lambda w: w.lower() not in {"true", "false", "yes", "no", "on", "off", "t", "f", "y", "n"}
        )
    ),
    "spark.conf": st.one_of(st.lists(st.integers(), min_size=1), _word),
}

_BAD_PARAMS: list[dict[str, Any]] = [
    {"type": "float", "low": 1.0, "high": 0.5},
    {"type": "float", "low": 0.0, "high": 1.0, "log": True},
    {"type": "float", "low": 0.1, "high": float("inf")},
    {"type": "float", "low": float("nan"), "high": 1.0},
    {"type": "int", "low": 1.5, "high": 4},
    {"type": "int", "low": 1, "high": True},
    {"type": "categorical"},
    {"type": "categorical", "choices": []},
    {"type": "categorical", "choices": [[1, 2], {"a": 1}]},
    {"type": "categorical", "choices": ["a"], "low": 0},
    {"type": "float", "low": 0.1, "high": 1.0, "choices": [1]},
    {"type": "text", "choices": ["a"]},
    {"type": "float", "low": 0.1},
]


def _set(raw: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    node = out
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return out


def _assert_named(exc: SparkSweepError, *names: str) -> None:
    text = str(exc)
    assert any(str(n) in text for n in names), f"the error names none of {names}:\n{text}"


def test_the_base_sweep_file_is_valid() -> None:
    assert validate_spec(copy.deepcopy(BASE)).search.n_trials == 3


@FUZZ
@given(field=st.sampled_from(sorted(WRONG_VALUES)), data=st.data())
def test_one_wrong_value_is_refused_naming_its_field(field: str, data: st.DataObject) -> None:
    value = data.draw(WRONG_VALUES[field], label=field)
    CASES["sweep file: one wrong value"] += 1
    with pytest.raises(SpecError) as caught:
        validate_spec(_set(BASE, field, value))
    names = [field, field.split(".")[-1]]
    if field == "models" and isinstance(value, list):
        names += [str(v) for v in value]
    if field == "register.thresholds" and isinstance(value, list):
        names += [str(v) for v in value]
    _assert_named(caught.value, *names)


@FUZZ
@given(
    section=st.sampled_from(["", "data", "search", "register", "tracking", "spark"]),
    key=_word.map(lambda w: f"x_{w}"),  # no field of the spec starts with x_
    value=st.one_of(st.integers(), _word, st.booleans()),
)
def test_an_unknown_key_is_refused_naming_it(section: str, key: str, value: Any) -> None:
    CASES["sweep file: unknown key"] += 1
    raw = copy.deepcopy(BASE)
    (raw if not section else raw.setdefault(section, {}))[key] = value
    with pytest.raises(SpecError) as caught:
        validate_spec(raw)
    _assert_named(caught.value, key)


@FUZZ
@given(param=st.sampled_from(_BAD_PARAMS), name=st.sampled_from(["C", "max_iter", "tol"]))
def test_a_wrong_search_space_entry_is_refused_naming_it(param: dict[str, Any], name: str) -> None:
    CASES["sweep file: wrong search.space entry"] += 1
    raw = _set(BASE, "search.space", {FAMILY: {name: param}})
    with pytest.raises(SpecError) as caught:
        validate_spec(raw)
    _assert_named(caught.value, f"search.space.{FAMILY}.{name}", name)


@FUZZ
@given(family=_unknown([FAMILY]))
def test_a_search_space_for_an_unlisted_family_is_refused(family: str) -> None:
    CASES["sweep file: unlisted family in search.space"] += 1
    with pytest.raises(SpecError) as caught:
        validate_spec(_set(BASE, "search.space", {family: {"C": {"type": "float", "low": 0.1, "high": 1}}}))
    _assert_named(caught.value, family)


_VALID_YAML = yaml.safe_dump(BASE, sort_keys=False)


@FUZZ
@given(
    at=st.integers(min_value=0, max_value=len(_VALID_YAML)),
    cut=st.integers(min_value=0, max_value=20),
    insert=st.text(alphabet=":-[]{}&*!|>'\"%@`#,?\t\n ab1", max_size=6),
)
def test_a_corrupted_sweep_file_is_a_spec_error_or_a_valid_spec(at: int, cut: int, insert: str) -> None:
    """Whatever the corruption, loading ends in a SpecError naming the file, or in a valid spec: never another
    exception."""
    CASES["sweep file: corrupted YAML"] += 1
    text = _VALID_YAML[:at] + insert + _VALID_YAML[at + cut :]
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "sweep.yaml"
        file.write_text(text)
        try:
            load_spec(file)
        except SpecError as exc:
            error = str(exc)
        else:
            return
    assert "sweep.yaml" in error, error


@FUZZ
@given(content=st.binary(max_size=200))
def test_any_bytes_as_a_sweep_file_are_a_spec_error(content: bytes) -> None:
    CASES["sweep file: random bytes"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "sweep.yaml"
        file.write_bytes(content)
        with pytest.raises(SpecError):
            load_spec(file)


@pytest.mark.parametrize(
    "text",
    [
        "? [a, b]\n: 1\n",
        "experiment: e\n? {a: 1}\n: 2\n",
        "experiment: [unclosed\n",
        "- a\n- b\n",
        "x: !!python/name:os.system\n",
    ],
)
def test_yaml_that_is_not_a_mapping_of_names_is_a_spec_error(tmp_path: Path, text: str) -> None:
    file = tmp_path / "sweep.yaml"
    file.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(file)
    _assert_named(caught.value, "sweep.yaml")


# ---- tables ---------------------------------------------------------------------------------------------------------

SPEC = DataSpec(path="-", target="label", drop=["user_id", "feature_date"])
_TABLE = generate_churn(150, seed=11)
FEATURES = [c for c in _TABLE.columns if c not in {"label", "user_id", "feature_date"}]


def _prepare(df: pd.DataFrame, spec: DataSpec = SPEC, task: str | None = None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # leak warnings are not what is tested here
        return prepare_dataset(df, spec, task)


def _refused(df: pd.DataFrame, *names: str, spec: DataSpec = SPEC, task: str | None = None) -> None:
    with pytest.raises(SparkSweepError) as caught:
        _prepare(df, spec, task)
    _assert_named(caught.value, *names)


_rows = st.integers(min_value=0, max_value=len(_TABLE) - 1)
_feature = st.sampled_from(FEATURES)


@FUZZ
@given(row=_rows, value=st.sampled_from([np.inf, -np.inf]), column=st.sampled_from(["label", *FEATURES]))
def test_infinity_in_the_target_or_a_feature_is_refused_naming_the_column(row: int, value: float, column: str) -> None:
    CASES["table: inf in target or feature"] += 1
    df = _TABLE.astype({column: float})
    df.loc[row, column] = value
    _refused(df, repr(column))


@FUZZ
@given(rows=st.lists(_rows, min_size=1, max_size=5))
def test_a_missing_target_is_refused_naming_it(rows: list[int]) -> None:
    CASES["table: NaN in target"] += 1
    df = _TABLE.astype({"label": float})
    df.loc[rows, "label"] = np.nan
    _refused(df, "'label'")


@FUZZ
@given(rows=st.lists(_rows, min_size=1, max_size=40), column=_feature)
def test_missing_values_in_a_feature_are_accepted(rows: list[int], column: str) -> None:
    """Accepted: the pipelines impute them (and the boosters take them as they are)."""
    CASES["table: NaN in features (accepted)"] += 1
    df = _TABLE.astype({column: float})
    df.loc[rows, column] = np.nan
    assert column in _prepare(df).features


@FUZZ
@given(column=_feature, other=_feature)
def test_a_column_name_given_twice_is_refused_naming_it(column: str, other: str) -> None:
    CASES["table: duplicate column names"] += 1
    df = _TABLE.copy()
    names = list(df.columns)
    names[names.index(other)] = column if column != other else "label"
    df.columns = names
    _refused(df, repr(column if column != other else "label"))


@FUZZ
@given(column=_feature, row=_rows, text=_word)
def test_a_mixed_type_column_is_refused_unless_declared_categorical(column: str, row: int, text: str) -> None:
    CASES["table: mixed-type column"] += 1
    df = _TABLE.astype({column: object})
    df.loc[row, column] = text
    _refused(df, repr(column))
    declared = DataSpec(path="-", target="label", drop=["user_id", "feature_date"], categorical=[column])
    assert column in _prepare(df, declared).categories, "declared categorical: its values are taken as text"


@FUZZ
@given(column=_feature, kind=st.sampled_from(["float", "object", "string"]), declared=st.booleans())
def test_a_column_with_no_value_is_refused_naming_it(column: str, kind: str, declared: bool) -> None:
    CASES["table: all-missing column"] += 1
    df = _TABLE.copy()
    df[column] = pd.Series([None] * len(df), dtype={"float": "float64", "object": object, "string": "string"}[kind])
    spec = DataSpec(
        path="-", target="label", drop=["user_id", "feature_date"], categorical=[column] if declared else []
    )
    _refused(df, repr(column), spec=spec)


@FUZZ
@given(column=_feature, value=st.one_of(st.lists(st.integers(), min_size=1, max_size=3), st.just(complex(1, 2))))
def test_a_column_of_lists_or_complex_numbers_is_refused_naming_it(column: str, value: Any) -> None:
    CASES["table: non-scalar / complex column"] += 1
    df = _TABLE.copy()
    df[column] = [value] * len(df)
    _refused(df, repr(column))


@FUZZ
@given(value=st.one_of(st.integers(), st.text(max_size=5), st.booleans()))
def test_a_single_class_target_is_refused_naming_it(value: Any) -> None:
    CASES["table: one class"] += 1
    _refused(_TABLE.assign(label=[value] * len(_TABLE)), "'label'")


@FUZZ
@given(n=st.just(1), seed=st.integers(0, 1000))
def test_a_class_too_rare_to_split_is_refused_naming_the_target(n: int, seed: int) -> None:
    CASES["table: class too rare for the split"] += 1
    df = _TABLE.copy()
    df["label"] = 0
    df.loc[np.random.default_rng(seed).choice(len(df), n, replace=False), "label"] = 1
    _refused(df, "'label'")


@FUZZ
@given(rows=st.integers(min_value=0, max_value=0))
def test_an_empty_table_is_refused(rows: int) -> None:
    CASES["table: empty"] += 1
    _refused(_TABLE.iloc[:rows], "no rows")


def test_a_target_with_10k_classes_is_refused_as_multiclass_and_taken_as_a_quantity_otherwise() -> None:
    CASES["table: 10k-class target"] += 1
    df = pd.DataFrame({"x": np.random.default_rng(0).normal(size=20_000), "label": np.arange(20_000) % 10_000})
    spec = DataSpec(path="-", target="label")
    _refused(df, "'label'", spec=spec, task="multiclass")
    _refused(df, "'label'", spec=spec, task="binary")
    assert _prepare(df, spec).task == "regression", "an integer target with 10k values is inferred as a quantity"


@FUZZ
@given(column=_feature, value=st.one_of(st.integers(-5, 5), st.floats(-1e6, 1e6, allow_nan=False)))
def test_a_constant_feature_is_accepted(column: str, value: float) -> None:
    """Accepted: it carries nothing, and no model fails on it."""
    CASES["table: zero-variance feature (accepted)"] += 1
    assert column in _prepare(_TABLE.assign(**{column: value})).features


_name = st.text(
    st.characters(categories=["L", "N", "Zs", "P", "S"], exclude_characters="\x00"), min_size=1, max_size=20
)


@FUZZ
@given(names=st.lists(_name, min_size=len(FEATURES), max_size=len(FEATURES), unique=True))
def test_unicode_and_spaces_in_column_names_are_accepted(names: list[str]) -> None:
    CASES["table: unicode/space column names (accepted)"] += 1
    if {"label", "user_id", "feature_date"} & set(names):
        return
    df = _TABLE.rename(columns=dict(zip(FEATURES, names, strict=True)))
    assert _prepare(df).features == names


@pytest.mark.parametrize(("name", "shown"), [(3, "3"), (2.5, "2.5"), (None, "nan")])
def test_a_column_name_that_is_not_text_is_refused(name: Any, shown: str) -> None:
    df = _TABLE.copy()
    df.columns = [*df.columns[:-2], name, "label"]
    _refused(df, shown)


# ---- the CLI: a handful of cases end to end -------------------------------------------------------------------------


def _table_with(tmp: Path, defect: str) -> Path:
    df = generate_churn(200, seed=5)
    if defect == "inf":
        df["event_count_30d"] = df["event_count_30d"].astype(float)
        df.loc[7, "event_count_30d"] = np.inf
    elif defect == "empty-column":
        df["notes"] = pd.Series([None] * len(df), dtype="float64")
    elif defect == "unicode":
        df = df.rename(columns={"event_count_30d": "événements 30 j", "active_days_30d": "días activos (30)"})
    path = tmp / f"{defect}.parquet"
    df.to_parquet(path)
    return path


CLI_CASES = {
    "bad yaml": ("yaml", "experiment: [unclosed\n", "not valid YAML"),
    "unknown model": ("field", ("models", ["sklearn.nope"]), "sklearn.nope"),
    "yes as a number": ("field", ("search.n_trials", True), "search.n_trials"),
    "slash in register name": ("field", ("register", {"name": "a/b"}), "register.name"),
    "misspelled hyperparameter": (
        "field",
        ("search.space", {FAMILY: {"Cc": {"type": "float", "low": 0.1, "high": 1.0}}}),
        "Cc",
    ),
    "inf in a feature": ("table", "inf", "event_count_30d"),
    "a column with no value": ("table", "empty-column", "notes"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_the_cli_exits_2_with_an_error_line_and_leaves_nothing_running(tmp_path: Path, case: str) -> None:
    kind, payload, named = CLI_CASES[case]
    CASES["CLI subprocess"] += 1
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data = _table_with(tmp_path, payload if kind == "table" else "none")
    file = sweep_file(tmp_path, "sweep", data=data, uri=uri, experiment="fuzz", register="fuzz-model")
    if kind == "yaml":
        file.write_text(payload)
    elif kind == "field":
        raw = yaml.safe_load(file.read_text())
        raw[payload[0].split(".")[0]] = (
            payload[1] if "." not in payload[0] else {**raw["search"], payload[0].split(".")[1]: payload[1]}
        )
        file.write_text(yaml.safe_dump(raw))

    (e,) = run_together([cli("run", str(file))], cwd=tmp_path)

    assert e.code == 2, e.describe()
    assert "Traceback" not in e.stderr, e.describe()
    errors = [line for line in e.stderr.splitlines() if line.startswith("error:")]
    assert errors, e.describe()
    assert named in e.stderr, e.describe()
    if (tmp_path / "mlflow.db").exists():
        assert running_runs(uri) == [], "a run was left RUNNING"


@pytest.mark.slow
def test_the_cli_sweeps_a_table_with_unicode_and_spaces_in_its_column_names(tmp_path: Path) -> None:
    CASES["CLI subprocess"] += 1
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    file = sweep_file(tmp_path, "sweep", data=_table_with(tmp_path, "unicode"), uri=uri, experiment="faults")

    (e,) = run_together([cli("run", str(file))], cwd=tmp_path)

    assert e.code == 0, e.describe()
    (record,) = read_sweeps(uri)
    assert record.status == "FINISHED"
    assert list(record.children.values()) == ["FINISHED"] * 3
    scored = sparksweep.score_pandas(
        pd.read_parquet(tmp_path / "unicode.parquet"), "models:/faults-model@champion", tracking_uri=uri
    )
    assert scored["prediction"].between(0, 1).all()


def test_zz_report_the_cases_that_ran() -> None:
    """Not a check: prints how many examples each property ran (``-s`` shows it), for the report."""
    print("\nfuzz cases:", dict(CASES), "total", sum(CASES.values()))
