"""The JSON form of the value objects the services answer with, and back.

A value object (``DatasetInfo``, ``TeamInfo`` …) is a frozen dataclass mixing in
:class:`JsonForm`: its ``to_dict`` is what the REST API answers, and ``from_dict`` reads that
back on the client.  Times travel as ISO 8601 text; lists and dicts are copied, so that
neither side shares mutable parts with the other.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Self, get_args, get_type_hints

__all__ = ["JsonForm"]


class JsonForm:
    """Mixed into a frozen dataclass: :meth:`to_dict` and :meth:`from_dict`."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form: times as ISO text, lists and dicts copied (shallow: a hot path)."""
        return {name: _to_json(value) for name, value in self.__dict__.items()}

    def json_fields(self) -> dict[str, Any]:
        """:meth:`to_dict` for a writer that makes JSON text of it at once: the same
        values, nothing copied (a fifth of the time of a page of cards)."""
        fields = dict(self.__dict__)
        for name in _times(type(self)):
            if fields[name] is not None:
                fields[name] = fields[name].isoformat()
        return fields

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """From the JSON form (:meth:`to_dict`, as the REST API answers); unknown keys are
        ignored, so that a newer server's extra fields do not break an older client, and a
        null where the field has a default takes the default."""
        values = {}
        for name, (is_time, has_default) in _fields(cls).items():
            value = data.get(name)
            if value is None and (has_default or name not in data):
                continue
            values[name] = _from_json(value, is_time)
        return cls(**values)


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [dict(v) if isinstance(v, dict) else v for v in value]
    if isinstance(value, dict):
        return dict(value)
    return value


def _from_json(value: Any, is_time: bool) -> Any:
    if is_time and isinstance(value, str):
        return datetime.fromisoformat(value)
    return _to_json(value)


_FIELDS: dict[type, dict[str, tuple[bool, bool]]] = {}


def _fields(cls: type) -> dict[str, tuple[bool, bool]]:
    """Each field of the dataclass ``cls``: whether it holds a time, whether it has a default."""
    if cls in _FIELDS:
        return _FIELDS[cls]
    hints = get_type_hints(cls)
    _FIELDS[cls] = {
        f.name: (
            hints[f.name] is datetime or datetime in get_args(hints[f.name]),
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    }
    return _FIELDS[cls]


_TIMES: dict[type, tuple[str, ...]] = {}


def _times(cls: type) -> tuple[str, ...]:
    """The fields of the dataclass ``cls`` that hold a time."""
    if cls not in _TIMES:
        _TIMES[cls] = tuple(name for name, (is_time, _) in _fields(cls).items() if is_time)
    return _TIMES[cls]
