"""Unity Catalog's rules for a registration (Databricks' model registry, ``databricks-uc``): a three-level model
name ``catalog.schema.model`` whose parts are valid Unity Catalog names, and no legacy stages. Pure rules, checked
before any trial, so they are tested without Databricks.

Example:
    >>> unity_catalog_problems("main.ml.churn", None)
    []
    >>> unity_catalog_problems("churn", None)[0][:62]
    "register.name 'churn' is not a Unity Catalog model name: it ne"
"""

from __future__ import annotations

import re

from sparksweep.errors import SpecError

__all__ = ["UC_LEASE_SUFFIX", "check_unity_catalog", "unity_catalog_problems"]

UC_LEASE_SUFFIX = "_sparksweep_lease"
"""What the registration lease appends to a Unity Catalog model's last part (``main.ml.churn_sparksweep_lease``):
a dot or a hyphenated suffix would not be a valid three-level name there."""
_MAX_PART = 255
"""Unity Catalog's limit on an object name."""
_FORBIDDEN = re.compile(r"[ ./\x00-\x1f\x7f]")
"""Characters Unity Catalog allows in no object name: period, space, forward slash, ASCII control characters, DEL."""
_EXAMPLE = "main.ml.churn_model"


def _part_problem(part: str, label: str) -> str | None:
    if not part:
        return f"its {label} is empty"
    bad = _FORBIDDEN.search(part)
    if bad is not None:
        return f"its {label} {part!r} contains {bad.group()!r} (no spaces, slashes or control characters)"
    if part != part.lower():
        return f"its {label} {part!r} has capitals (Unity Catalog stores names in lowercase): write {part.lower()!r}"
    if len(part) > _MAX_PART:
        return f"its {label} is {len(part)} characters long (at most {_MAX_PART})"
    return None


def unity_catalog_problems(name: str, stage: str | None) -> list[str]:
    """What keeps registering ``name`` (with the legacy ``stage``, if any) in Unity Catalog from working, one
    message per problem naming the field and the fix; empty when nothing does.

    Example:
        >>> unity_catalog_problems("main.ml.churn", "Production")[0][:40]
        'register.stage is Production, and Unity '
    """
    problems = []
    parts = name.split(".")
    if len(parts) != 3:
        levels = "one level" if len(parts) == 1 else f"{len(parts)} levels"
        problems.append(
            f"register.name {name!r} is not a Unity Catalog model name: it needs three levels, catalog.schema.model "
            f"(e.g. {_EXAMPLE!r}), and has {levels}; name the catalog and schema the model belongs to"
        )
    else:
        for part, label in zip(parts, ("catalog", "schema", "model name"), strict=True):
            problem = _part_problem(part, label)
            if problem is not None:
                problems.append(f"register.name {name!r} is not a valid Unity Catalog model name: {problem}")
        room = _MAX_PART - len(UC_LEASE_SUFFIX)
        if len(parts[2]) > room:
            problems.append(
                f"register.name {name!r}: its model name is {len(parts[2])} characters long; sparksweep's "
                f"registration lease {parts[2][:8]}...{UC_LEASE_SUFFIX} must fit in {_MAX_PART}, so use at most {room}"
            )
    if stage is not None:
        problems.append(
            f"register.stage is {stage}, and Unity Catalog has no stages (MLflow deprecates them; the champion is "
            "the alias @champion, loaded as models:/<name>@champion); remove register.stage"
        )
    return problems


def check_unity_catalog(name: str, stage: str | None, registry_uri: str) -> None:
    """Raise :class:`SpecError` listing :func:`unity_catalog_problems` when ``registry_uri`` is Unity Catalog.

    Example:
        >>> check_unity_catalog("churn", None, "sqlite:///mlflow.db")  # another registry: any MLflow name
    """
    from sparksweep.tracking import is_unity_catalog

    if not is_unity_catalog(registry_uri):
        return
    problems = unity_catalog_problems(name, stage)
    if problems:
        raise SpecError(f"the registry {registry_uri} is Unity Catalog: " + "; ".join(problems))
