"""Model files are data, not code: a model folder is checked before anything in it is loaded.

``mlflow.pyfunc.load_model`` unpickles whatever a model's ``MLmodel`` points at: a ``python_model.pkl`` (a
``PythonModel`` instance, cloudpickled), a scikit-learn model saved with ``serialization_format="pickle"``, or any
file a flavor reads with ``pickle``. A registered model is files in an artifact store, which anyone who can write
there can swap. sparksweep's own models hold no pickle (skops for scikit-learn, each type checked against an
allow-list; XGBoost's and LightGBM's own formats), so scoring refuses, before loading, a model folder that holds a
pickle or whose ``MLmodel`` asks for one, and a skops file that holds a type outside the allow-list. A model you
trust that is pickled can still be loaded yourself (``mlflow.pyfunc.load_model``) and passed as ``model=`` to
:func:`~sparksweep.scoring.score_pandas`.

Example:
    >>> check_model_files("/tmp/a-model-folder")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparksweep.errors import RegistryError

__all__ = ["check_model_files"]

_PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".cloudpickle"})
_PICKLE_FORMATS = frozenset({"pickle", "cloudpickle"})


def _is_pickle(path: Path) -> bool:
    """A pickle of protocol 2 or later starts with the PROTO opcode (0x80) and its protocol number."""
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        return True
    with path.open("rb") as fh:
        head = fh.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _refuse(path: Path, why: str) -> RegistryError:
    return RegistryError(
        f"refusing to load the model file {path}: {why}. sparksweep loads models from data files only (skops, "
        "XGBoost's and LightGBM's formats), never pickles, which run code when loaded. If you trust this model, "
        "load it yourself with mlflow.pyfunc.load_model and pass it as model= to score_pandas"
    )


def _flavor_pickles(model_dir: Path) -> list[tuple[Path, str]]:
    """Files the ``MLmodel`` of ``model_dir`` would unpickle: a cloudpickled ``python_model``, a flavor saved as a
    pickle."""
    import yaml

    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        return []
    flavors: dict[str, Any] = (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors") or {}
    found = []
    for name, conf in flavors.items():
        conf = conf or {}
        if name == "python_function" and conf.get("python_model"):
            found.append((model_dir / str(conf["python_model"]), "its MLmodel loads a cloudpickled PythonModel"))
        if str(conf.get("serialization_format", "")).lower() in _PICKLE_FORMATS:
            file = conf.get("pickled_model") or conf.get("data") or "MLmodel"
            found.append((model_dir / str(file), f"its {name} flavor was saved as a {conf['serialization_format']}"))
    return found


def _skops_refusals(path: Path) -> str | None:
    """Why the skops file at ``path`` is refused (not a skops archive, or a type outside the allow-list), or None."""
    import zipfile

    import skops.io as sio

    from sparksweep.models import refused_types

    if not zipfile.is_zipfile(path):
        return "it is not a skops archive"
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except (ValueError, KeyError, TypeError) as exc:
        return f"its skops schema cannot be read ({exc})"
    refused = refused_types(untrusted)
    return f"it holds types outside the trusted libraries: {refused}" if refused else None


def check_model_files(local: str | Path) -> None:
    """Refuse the model folder (or file) at ``local`` if loading it would unpickle anything or construct a type
    outside sparksweep's skops allow-list.

    Raises:
        RegistryError: Naming the offending file and why it is refused.
    """
    root = Path(local)
    if root.is_file():
        files = [root]
    else:
        for path, why in _flavor_pickles(root):
            raise _refuse(path, why)
        files = sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        if path.suffix == ".skops":
            refusal = _skops_refusals(path)
            if refusal:
                raise _refuse(path, refusal)
        elif _is_pickle(path):
            raise _refuse(path, "it is a pickle")
