"""The one cattrs converter the SDK owns.

Responses tolerate unknown fields (WeChat Pay adds fields without notice) and *keep* them in the
model's ``extra`` mapping, so nothing a server sent is silently lost. Requests omit None, so an
optional parameter the caller left out never reaches the wire as ``null``. Times are
timezone-aware datetimes, written as RFC 3339 (WeChat Pay uses +08:00).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .errors import ValidationError

EXTRA_FIELD = "extra"


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


def _structure_keeping_extra(converter: cattrs.Converter) -> Callable[[type], Callable[[Any, Any], Any]]:
    def factory(cls: type) -> Callable[[Any, Any], Any]:
        base: Callable[[Any, Any], Any] = make_dict_structure_fn(
            cls,
            converter,
            **{EXTRA_FIELD: override(omit=True)},  # type: ignore[arg-type]
        )
        known = frozenset(a.name for a in attrs.fields(cls) if a.name != EXTRA_FIELD)

        def structure(obj: Any, _: Any) -> Any:
            if type(obj) is not dict and not isinstance(obj, Mapping):
                raise TypeError(f"{cls.__name__} expects a JSON object, got {type(obj).__name__}")
            inst = base(obj, cls)
            if not known.issuperset(obj):  # hot path: most answers carry no unknown field
                extra = {k: v for k, v in obj.items() if k not in known}
                object.__setattr__(inst, EXTRA_FIELD, extra)
            return inst

        return structure

    return factory


def _unstructure_omitting_none(converter: cattrs.Converter) -> Callable[[type], Callable[[Any], Any]]:
    def factory(cls: type) -> Callable[[Any], Any]:
        overrides = {EXTRA_FIELD: override(omit=True)} if _has_extra(cls) else {}
        base: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls,
            converter,
            **overrides,  # type: ignore[arg-type]
        )

        def unstructure(inst: Any) -> Any:
            data = {k: v for k, v in base(inst).items() if v is not None}
            extra = getattr(inst, EXTRA_FIELD, None) if overrides else None
            if extra:
                data = {**extra, **data}
            return data

        return unstructure

    return factory


def make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_structure_hook(dt.datetime, parse_datetime)
    converter.register_unstructure_hook(dt.datetime, format_datetime)
    converter.register_structure_hook_factory(_has_extra, _structure_keeping_extra(converter))
    converter.register_unstructure_hook_factory(attrs.has, _unstructure_omitting_none(converter))
    return converter


#: The SDK's converter. Use ``converter.structure(data, Model)`` / ``converter.unstructure(model)``.
converter = make_converter()
