"""One builder from a TOML table to a frozen config dataclass, used by every config of s2l.

Each config lives beside what it configures (``models.config.ModelConfig``, ``engine.config.TrainConfig``,
the loss weights beside the losses); this module only knows how to fill any of them from data. A table's
keys are the dataclass's fields; a field whose type is itself a config dataclass is a sub-table, built the
same way. Unknown keys and wrongly typed values are refused: a typo must not silently fall back to a
default.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from s2l_model.errors import InputError

T = TypeVar("T")


def from_table(cls: type[T], table: Any, where: str, section: str) -> T:
    """``cls`` filled from ``table`` (a parsed TOML table); its defaults where a key is absent.

    ``where`` names the source in errors (``preset fast``), ``section`` the table (``train``); a sub-table
    ``loss`` of it is reported as ``[train.loss]``."""
    if not isinstance(table, Mapping):
        raise InputError(f"{where}: [{section}] must be a table")
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    types = typing.get_type_hints(cls)
    defaults = cls()
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise InputError(
                f"{where} [{section}]: unknown setting {key!r} (known: {', '.join(sorted(known))})"
            )
        kind = types[key]
        if dataclasses.is_dataclass(kind):
            values[key] = from_table(kind, value, where, f"{section}.{key}")  # type: ignore[arg-type]
        else:
            values[key] = _checked(value, getattr(defaults, key), f"{where} [{section}]: {key}")
    return cls(**values)


def _checked(value: Any, default: Any, name: str) -> Any:
    """``value`` if it has the default's type (an int is a fine float; a bool is never a number)."""
    expected = (int, float) if isinstance(default, float) else type(default)
    if isinstance(default, bool) != isinstance(value, bool) or not isinstance(value, expected):
        raise InputError(f"{name} must be {type(default).__name__}, got {value!r}")
    return float(value) if isinstance(default, float) else value


def merge_tables(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s keys replacing its own, sub-tables merged key by key (``extends``)."""
    out = dict(base)
    for key, value in over.items():
        both_tables = isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        out[key] = merge_tables(out[key], value) if both_tables else value
    return out
