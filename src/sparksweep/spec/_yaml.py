"""The strict YAML loader of sweep and bench files: invalid YAML and a key given twice raise a SpecError that names
the file (plain YAML keeps the last of two equal keys, silently)."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml

from sparksweep.errors import SpecError

__all__ = ["read_yaml"]


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping (plain YAML keeps the last, silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if not isinstance(key, typing.Hashable):
            raise SpecError(f"the key on line {line} is a list or a mapping ({key!r}); keys are names")
        if key in seen:
            raise SpecError(
                f"key {key!r} is given twice in one mapping (lines {seen[key]} and {line}); keep one of them"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(file: Path, what: str) -> Any:
    """Parse a YAML file strictly: invalid YAML and duplicate keys raise :class:`SpecError` naming the file."""
    try:
        return yaml.load(file.read_text(), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise SpecError(f"{what} {str(file)!r} is not valid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{what} {str(file)!r} is not UTF-8 text ({exc}); save it as UTF-8") from None
    except SpecError as exc:
        raise SpecError(f"{what} {str(file)!r}: {exc}") from None
