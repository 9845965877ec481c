"""A sweep's search space and metric, from its sweep file: the families' default spaces for the task with the
file's ``search.space`` overrides, and the metric checked against the task."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparksweep.errors import SpecError
from sparksweep.metrics import DEFAULT_METRIC, METRICS, Metric, get_metric
from sparksweep.models import get_family
from sparksweep.space import Categorical, Distribution, Float, Int, SearchSpace
from sparksweep.spec import check_family_params

if TYPE_CHECKING:
    from sparksweep.spec import ParamSpec

__all__ = ["build_space", "resolve_metric"]


def _distribution(spec: ParamSpec) -> Distribution:
    if spec.type == "categorical":
        return Categorical(tuple(spec.choices or ()))
    if spec.type == "int":
        return Int(int(spec.low or 0), int(spec.high or 0), log=spec.log)
    return Float(float(spec.low or 0.0), float(spec.high or 0.0), log=spec.log)


def build_space(models: list[str], task: str, overrides: dict[str, dict[str, ParamSpec]] | None = None) -> SearchSpace:
    """The families' default spaces for ``task``, with a sweep file's ``search.space`` overrides applied."""
    families = {}
    for name in models:
        family = get_family(name)
        if task not in family.tasks:
            raise SpecError(
                f"model family {name!r} does not support the {task} task (it supports {sorted(family.tasks)}); "
                "remove it from 'models' or set 'task'"
            )
        families[name] = family.default_space(task)
    space = SearchSpace(families)
    if overrides:
        space = space.with_overrides(
            {fam: {p: _distribution(d) for p, d in params.items()} for fam, params in overrides.items()}
        )
        for name in overrides:  # a misspelled hyperparameter is a SpecError naming it, before any trial
            check_family_params(get_family(name), task, space.families[name])
    return space


def resolve_metric(name: str | None, task: str) -> Metric:
    """The metric ``name`` (default: the task's), checked to apply to ``task``."""
    metric = get_metric(name or DEFAULT_METRIC[task])
    if task not in metric.tasks:
        raise SpecError(
            f"metric {metric.name!r} does not apply to the {task} task inferred from the target; "
            f"choose one of {sorted(n for n, m in METRICS.items() if task in m.tasks)} or set 'task'"
        )
    return metric
