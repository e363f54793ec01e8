"""The one cattrs converter the SDK owns.

Answers are read leniently, because WeChat Pay omits fields its own pages call required, adds
fields without notice and sends some numbers as strings (the official items/merchants answers):

- an unknown field is *kept* in the model's ``extra`` mapping;
- a missing field is ``None`` (every answer field is optional);
- a number written as a string (``"10"``) is read as a number, a number where text is expected
  as text, ``"true"``/``"false"`` as booleans;
- a value that still does not fit its field becomes ``None`` instead of failing the whole answer;
- the JSON object itself stays reachable as ``model.raw``.

So a 2xx answer that is valid JSON never raises because of its shape. Requests omit None, so an
optional parameter the caller left out never reaches the wire as ``null``. Times are
timezone-aware datetimes, written as RFC 3339 (WeChat Pay uses +08:00).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .errors import ValidationError

EXTRA_FIELD = "extra"
RAW_FIELD = "raw"
#: Set from the answer's headers by the resource layer, never read from or written to JSON.
REQUEST_ID_FIELD = "request_id"
#: Attributes answer models carry that are not read from nor written to the JSON.
_NOT_FROM_JSON = frozenset({EXTRA_FIELD, RAW_FIELD, REQUEST_ID_FIELD})
_INTEGER = re.compile(r"^[+-]?[0-9]+$")


def parse_datetime(value: Any, _: Any = None) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 3339 string, got {type(value).__name__}")
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        # WeChat Pay writes China Standard Time; a naive value on the wire means +08:00.
        parsed = parsed.replace(tzinfo=CHINA_TZ)
    return parsed


def format_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValidationError("datetime", "must be timezone-aware (e.g. tzinfo=wxpay_async.CHINA_TZ)")
    return value.isoformat(timespec="seconds")


CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")


def _has_extra(cls: type) -> bool:
    return attrs.has(cls) and any(a.name == EXTRA_FIELD for a in attrs.fields(cls))


def structure_int(value: Any, _: Any = None) -> int:
    """An integer, also from ``"10"`` or ``10.0``; never silently truncated (amounts are in fen)."""
    if type(value) is int:
        return value
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r:.40}")


def structure_float(value: Any, _: Any = None) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return float(value)
    raise TypeError(f"expected a number, got {value!r:.40}")


def structure_str(value: Any, _: Any = None) -> str:
    if type(value) is str:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def structure_bool(value: Any, _: Any = None) -> bool:
    if type(value) is bool:
        return value
    if value in ("true", "TRUE", "True", 1, "1"):
        return True
    if value in ("false", "FALSE", "False", 0, "0"):
        return False
    raise TypeError(f"expected true or false, got {value!r:.40}")


def _structure_keeping_extra(converter: cattrs.Converter) -> Callable[[type], Callable[[Any, Any], Any]]:
    def factory(cls: type) -> Callable[[Any, Any], Any]:
        attrs.resolve_types(cls)
        omitted = {a.name: override(omit=True) for a in attrs.fields(cls) if a.name in _NOT_FROM_JSON}
        has_raw = RAW_FIELD in omitted
        base: Callable[[Any, Any], Any] = make_dict_structure_fn(cls, converter, **omitted)  # type: ignore[arg-type]
        fields = [(a.name, a.alias or a.name, a.type) for a in attrs.fields(cls) if a.name not in omitted]
        known = frozenset(alias for _, alias, _ in fields)
        # Fields an official model guarantees: typed as present, yet None when an answer lacks one.
        required = {a.name: None for a in attrs.fields(cls) if a.default is attrs.NOTHING and a.name not in omitted}

        required_aliases = frozenset(a.alias or a.name for a in attrs.fields(cls) if a.name in required)
        hooks: dict[str, tuple[str, Callable[[Any, Any], Any], Any]] = {}

        def one_by_one(obj: Mapping[str, Any]) -> Any:
            """The lenient path: each field on its own; what does not fit becomes None."""
            if not hooks:  # resolved once, on first use (models may refer to each other)
                hooks.update((alias, (name, converter.get_structure_hook(kind), kind)) for name, alias, kind in fields)
            values: dict[str, Any] = dict(required)
            # Over what the answer holds, not over every field of the model: lenient answers are
            # the short ones (a guaranteed field missing), and aliases are unique.
            for alias, value in obj.items():
                entry = hooks.get(alias) if value is not None else None
                if entry is None:
                    continue
                name, hook, kind = entry
                try:
                    values[name] = hook(value, kind)
                except Exception:
                    values[name] = None
            return cls(**values)

        def structure(obj: Any, _: Any) -> Any:
            if type(obj) is not dict and not isinstance(obj, Mapping):
                inst = cls(**required)  # not an object at all: every field None, the value kept as raw
            else:
                if not required_aliases.issubset(obj):
                    inst = one_by_one(obj)  # a guaranteed field is missing: the generated function would fail
                else:
                    try:
                        inst = base(obj, cls)  # hot path: the answer fits
                    except Exception:
                        inst = one_by_one(obj)
                if not known.issuperset(obj):  # most answers carry no unknown field
                    extra = {k: v for k, v in obj.items() if k not in known}
                    object.__setattr__(inst, EXTRA_FIELD, extra)
            if has_raw:
                object.__setattr__(inst, RAW_FIELD, obj)
            return inst

        return structure

    return factory


def _unstructure_omitting_none(converter: cattrs.Converter) -> Callable[[type], Callable[[Any], Any]]:
    def factory(cls: type) -> Callable[[Any], Any]:
        # ``extra`` (unknown fields, re-emitted below) and ``raw`` (what was read) are not fields.
        names = {a.name for a in attrs.fields(cls)} & _NOT_FROM_JSON if _has_extra(cls) else set()
        overrides = {name: override(omit=True) for name in names}
        base: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls,
            converter,
            **overrides,  # type: ignore[arg-type]
        )

        def unstructure(inst: Any) -> Any:
            data = {k: v for k, v in base(inst).items() if v is not None}
            extra = getattr(inst, EXTRA_FIELD, None) if EXTRA_FIELD in names else None
            if extra:
                data = {**extra, **data}
            return data

        return unstructure

    return factory


def make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_structure_hook(dt.datetime, parse_datetime)
    converter.register_structure_hook(int, structure_int)
    converter.register_structure_hook(float, structure_float)
    converter.register_structure_hook(str, structure_str)
    converter.register_structure_hook(bool, structure_bool)
    converter.register_unstructure_hook(dt.datetime, format_datetime)
    converter.register_structure_hook_factory(_has_extra, _structure_keeping_extra(converter))
    converter.register_unstructure_hook_factory(attrs.has, _unstructure_omitting_none(converter))
    return converter


#: The SDK's converter. Use ``converter.structure(data, Model)`` / ``converter.unstructure(model)``.
converter = make_converter()
