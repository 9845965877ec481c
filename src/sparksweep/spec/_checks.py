"""Values a sweep file may hold that pass pydantic's field types but would fail, or mean something else, later:

* ``true`` / ``false`` (YAML also reads ``yes``, ``no``, ``on``, ``off`` so) where a number is expected: pydantic
  reads them as 1 and 0, so ``n_trials: yes`` would run one trial;
* ``.nan`` or ``.inf`` in any number (``timeout``, ``target``, a parameter's bounds...): a NaN target is never
  reached, an infinite bound cannot be sampled; a limit is removed by omitting it;
* a categorical choice that is a list or a mapping (search algorithms take text, numbers, booleans or null);
* a register name MLflow's registry refuses (``/`` or ``:``, or blank), found only after the whole sweep ran;
  a blank experiment name.

Each is a :class:`~sparksweep.errors.SpecError` naming the field, as pydantic's own errors do.

Example:
    >>> check_raw({"search": {"n_trials": True}}, "f.yaml")
    Traceback (most recent call last):
    ...
    sparksweep.errors.SpecError: f.yaml is not a valid sweep spec:
      search.n_trials: expects a number, got the boolean True (YAML reads yes/no/on/off as booleans)
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from sparksweep.errors import SpecError

__all__ = ["check_raw", "check_values"]


def _fail(source: str, where: str, message: str) -> SpecError:
    return SpecError(f"{source} is not a valid sweep spec:\n  {where}: {message}")


def _kinds(annotation: Any) -> set[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return set().union(*(_kinds(a) for a in typing.get_args(annotation)))
    return {annotation}


def _numeric_fields(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Paths (by the keys a sweep file uses) of the number fields of ``model`` and its nested models."""
    for name, info in model.model_fields.items():
        key = (*prefix, info.alias or name)
        kinds = _kinds(info.annotation)
        if kinds & {int, float} and bool not in kinds:
            yield key
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                yield from _numeric_fields(kind, key)


def _raw_at(raw: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(raw, dict) or part not in raw:
            return None
        raw = raw[part]
    return raw


def check_raw(raw: dict[str, Any], source: str, root: type[BaseModel]) -> None:
    """Refuse booleans given where the sweep file expects a number (before pydantic turns them into 1 and 0)."""
    from sparksweep.spec._search import ParamSpec

    paths = list(_numeric_fields(root))
    space = _raw_at(raw, ("search", "space"))
    for family, params in (space or {}).items() if isinstance(space, dict) else ():
        for param in params or {} if isinstance(params, dict) else ():
            paths += [("search", "space", family, param, *p) for p in _numeric_fields(ParamSpec)]
    for path in paths:
        value = _raw_at(raw, path)
        if isinstance(value, bool):
            raise _fail(
                source,
                ".".join(map(str, path)),
                f"expects a number, got the boolean {value} (YAML reads yes/no/on/off as booleans)",
            )


def _floats(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, float]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _floats(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _floats(value, (*path, str(i)))
    elif isinstance(node, float):
        yield ".".join(path), node


def check_values(spec: Any, source: str) -> None:
    """Refuse the validated spec's non-finite numbers, non-scalar categorical choices and names MLflow refuses."""
    for where, value in _floats(spec.model_dump(by_alias=True)):
        if not math.isfinite(value):
            raise _fail(source, where, f"must be a finite number, got {value}; omit the key for no limit")
    for family, params in spec.search.space.items():
        for name, param in params.items():
            for choice in param.choices or []:
                if not (choice is None or isinstance(choice, str | int | float | bool)):
                    raise _fail(
                        source,
                        f"search.space.{family}.{name}.choices",
                        f"choices must be text, numbers, booleans or null, got {choice!r}",
                    )
    if not spec.experiment.strip():
        raise _fail(source, "experiment", "must not be blank")
    if spec.registration is not None:
        name = spec.registration.name
        if not name.strip() or "/" in name or ":" in name:
            raise _fail(
                source, "register.name", f"MLflow's registry refuses {name!r}: a name must not be blank or hold / or :"
            )


def check_family_params(family: Any, task: str, dists: Mapping[str, Any]) -> None:
    """Refuse a ``search.space`` override whose parameter the family's estimator does not take (a misspelled name
    would otherwise fail every trial, or the sweep's set-up with a raw ``TypeError``): the estimator is built once
    with a value of each distribution (building checks names only; values are checked when it is fitted)."""
    point = {name: d.choices[0] if hasattr(d, "choices") else d.low for name, d in dists.items()}
    try:
        family.build(point, task=task, n_jobs=1, seed=0)
    except TypeError as exc:
        raise SpecError(
            f"search.space.{family.name}: its estimator does not take these parameters ({exc}); check the names in "
            f"search.space.{family.name} against the estimator's own parameter names"
        ) from exc
