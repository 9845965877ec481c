"""The shared base of sparksweep's pydantic models (strict: unknown keys refused, frozen) and the formatter that turns
a pydantic ValidationError into one line per bad field, named by its dotted path.

Example:
    >>> from pydantic import ValidationError
    >>> class Point(StrictModel):
    ...     x: int
    >>> try:
    ...     Point.model_validate({"x": 1, "y": 2})
    ... except ValidationError as exc:
    ...     print(format_errors(exc, "point.yaml"))
    point.yaml is not a valid sweep spec:
      y: unknown key; check its spelling against the documented keys
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["StrictModel", "format_errors"]


class StrictModel(BaseModel):
    """A frozen pydantic model that refuses unknown keys; fields may be given by name or alias and dump by alias."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True)


def format_errors(exc: ValidationError, source: str) -> str:
    """The errors of ``exc`` as one line per bad field (its dotted path, what is wrong, the value given)."""
    lines = [f"{source} is not a valid sweep spec:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key; check its spelling against the documented keys"
        elif err["type"] == "missing":
            msg = "required key is missing"
        got = err.get("input")
        got_text = "" if err["type"] in {"missing", "extra_forbidden"} or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  {where}: {msg}{got_text}")
    return "\n".join(lines)
