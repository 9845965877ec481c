"""Model files are data, not code: a registered model whose files were swapped for a pickle, or for a skops file
holding an untrusted type (or a trusted-looking callable such as ``builtins.eval``), fails to load with an error that
names the file, and nothing it holds runs. Loaded through the public API (``load_model``, ``score_pandas``) on a copy
of a model a real sweep registered."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any
from zipfile import ZipFile

import pandas as pd
import pytest

import sparksweep
from sparksweep.datasets import generate_churn
from sparksweep.scoring import download_model
from tests.conftest import new_store

pytestmark = pytest.mark.slow


class _Touch:
    """Unpickling or constructing this creates the marker file: proof that the file's contents ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.marker),))


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory, store_template: Path) -> Path:
    """A local copy of the model a sweep registered (its MLmodel folder)."""
    root = tmp_path_factory.mktemp("registered")
    uri = new_store(store_template, root / "mlflow.db")
    spec = sparksweep.SweepSpec.model_validate(
        {
            "experiment": "model-files",
            "data": {"target": "label", "drop": ["user_id", "feature_date"]},
            "task": "binary",
            "search": {"n_trials": 1, "parallelism": 1, "executor": "local"},
            "models": ["sklearn.logistic_regression"],
            "register": {"name": "files-model"},
            "tracking": {"uri": uri},
        }
    )
    sparksweep.run_sweep(spec, data=generate_churn(300, seed=2))
    return Path(download_model("models:/files-model@champion", uri, dst=root / "copy"))


@pytest.fixture
def model_dir(registered: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(registered, copy)
    return copy


def _fitted_file(model_dir: Path) -> Path:
    meta = json.loads((model_dir / "artifacts" / "meta.json").read_text())
    assert meta["format"] == "skops"
    return model_dir / "artifacts" / "model.skops"


def _skops_calling(path: Path, module: str, name: str, args: tuple[Any, ...]) -> None:
    """A skops archive whose one object is ``module.name(*args)`` (skops' constructor node)."""
    import skops
    from skops.io._utils import SaveContext, get_state

    with ZipFile(path, "w") as zip_file:
        context = SaveContext(zip_file=zip_file)
        state = {
            "__class__": name,
            "__module__": module,
            "__loader__": "ConstructorFromReduceNode",
            "content": get_state(args, context),
            "protocol": context.protocol,
            "_skops_version": skops.__version__,
        }
        zip_file.writestr("schema.json", json.dumps(state))


def _refused(model_dir: Path, file: Path, marker: Path, *, by_the_model_too: bool = False) -> None:
    """Refused by sparksweep's loading and scoring, naming ``file``; with ``by_the_model_too``, also by the logged
    model's own loader when MLflow loads the folder directly (as a Spark task or a user's script would)."""
    import mlflow

    users = generate_churn(20, seed=3)
    if by_the_model_too:
        with pytest.raises(Exception, match="refusing to load") as caught:
            mlflow.pyfunc.load_model(str(model_dir))
        assert file.name in str(caught.value)
        assert not marker.exists(), "the file's contents ran"
    for load in (lambda: sparksweep.load_model(str(model_dir)), lambda: sparksweep.score_pandas(users, str(model_dir))):
        with pytest.raises(sparksweep.SparkSweepError) as caught:
            load()
        assert file.name in str(caught.value), f"the error names the file: {caught.value}"
        assert not marker.exists(), "the file's contents ran"


def test_the_untouched_copy_loads_and_scores(model_dir: Path) -> None:
    scored = sparksweep.score_pandas(generate_churn(20, seed=3), str(model_dir))
    assert scored["prediction"].between(0, 1).all()


def test_a_fitted_model_swapped_for_a_pickle_is_refused(model_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    file = _fitted_file(model_dir)
    file.write_bytes(pickle.dumps(_Touch(str(marker))))
    _refused(model_dir, file, marker)


def test_a_skops_file_with_an_untrusted_type_is_refused(model_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    file = _fitted_file(model_dir)
    _skops_calling(file, "pathlib", "PosixPath", (str(marker),))
    _refused(model_dir, file, marker, by_the_model_too=True)


@pytest.mark.parametrize(("module", "name"), [("builtins", "eval"), ("builtins", "exec"), ("numpy", "load")])
def test_a_skops_file_calling_a_function_of_a_trusted_module_is_refused(
    model_dir: Path, tmp_path: Path, module: str, name: str
) -> None:
    """``builtins.eval`` is in a trusted module by name; it is a function, not a type a model holds."""
    marker = tmp_path / "ran"
    file = _fitted_file(model_dir)
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    _skops_calling(file, module, name, (code,) if module == "builtins" else (str(marker),))
    _refused(model_dir, file, marker, by_the_model_too=True)


def test_a_model_whose_pyfunc_is_a_cloudpickled_python_model_is_refused(model_dir: Path, tmp_path: Path) -> None:
    import mlflow

    class Plain(mlflow.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            return model_input

    swapped = tmp_path / "swapped"
    mlflow.pyfunc.save_model(str(swapped), python_model=Plain())
    marker = tmp_path / "ran"
    file = swapped / "python_model.pkl"
    assert file.exists(), "MLflow stores a PythonModel instance as python_model.pkl"
    file.write_bytes(pickle.dumps(_Touch(str(marker))))
    _refused(swapped, file, marker)


def test_a_scikit_learn_model_saved_as_a_pickle_is_refused(tmp_path: Path) -> None:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    users = generate_churn(50, seed=4)
    X = users.drop(columns=["user_id", "feature_date", "label"])
    saved = tmp_path / "pickled"
    mlflow.sklearn.save_model(LogisticRegression().fit(X, users["label"]), str(saved), serialization_format="pickle")
    marker = tmp_path / "ran"
    file = next(p for p in saved.iterdir() if p.suffix == ".pkl")
    _refused(saved, file, marker)
