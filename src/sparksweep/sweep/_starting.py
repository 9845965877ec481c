"""Starting points: each model family's library-default settings, fitted into the sweep's space.

With ``search.start_from_defaults`` (the default) a sweep runs one trial per family at these settings before its
search algorithm proposes anything, as FLAML starts every learner from settings known to be reasonable. On small
data under a tight budget, the family choice then rests on one sound score per family rather than on whichever
family a few random first proposals happened to favour.

A parameter takes the library's default when the estimator declares one that fits the parameter's distribution
(clipped into a numeric range, one of a categorical's choices); otherwise it takes the middle of its range (the
geometric middle on a log scale) or a categorical's first choice.

Example:
    >>> from sparksweep.models import get_family
    >>> lgbm = get_family("lightgbm")
    >>> point = default_point(lgbm, "binary", lgbm.default_space("binary"))
    >>> point["learning_rate"], point["num_leaves"]
    (0.1, 31)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sparksweep.space import Categorical, Distribution, Int

if TYPE_CHECKING:
    from sparksweep.models import BaseModelFamily

__all__ = ["default_point"]


def _middle(dist: Distribution) -> Any:
    if isinstance(dist, Categorical):
        return dist.choices[0]
    mid = math.sqrt(dist.low * dist.high) if dist.log else (dist.low + dist.high) / 2
    return round(mid) if isinstance(dist, Int) else mid


def _fitted(dist: Distribution, value: Any, fallback: Any) -> Any:
    """``value`` made to fit ``dist``, or ``fallback`` when it cannot."""
    if isinstance(dist, Categorical):
        return next((choice for choice in dist.choices if choice == value), fallback)
    numeric = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not numeric:
        return fallback
    clipped = min(max(float(value), dist.low), dist.high)
    return round(clipped) if isinstance(dist, Int) else clipped


def _library_defaults(family: BaseModelFamily, task: str, point: dict[str, Any]) -> dict[str, Any]:
    """The defaults the family's estimator class declares (``get_params()`` of an instance built without
    arguments); none for an estimator that cannot be built so or does not declare them."""
    estimator_class = type(family.build(point, task=task, n_jobs=1, seed=0))
    try:
        bare = estimator_class()
    except TypeError:  # it needs arguments: no library defaults to read, the middle of the space is used
        return {}
    get_params = getattr(bare, "get_params", None)
    return dict(get_params(deep=False)) if callable(get_params) else {}


def default_point(family: BaseModelFamily, task: str, dists: Mapping[str, Distribution]) -> dict[str, Any]:
    """The family's library-default settings for the parameters ``dists`` searches, fitted into their ranges."""
    middle = {name: _middle(dist) for name, dist in dists.items()}
    defaults = _library_defaults(family, task, middle)
    return {name: _fitted(dist, defaults.get(name), middle[name]) for name, dist in dists.items()}
