"""Small request-checking helpers shared by the cash-coupon and product-coupon handlers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._request_numbers import FAVOR, rule_for
from ._errors import param_error

#: Cash coupons' request-number pattern (kept for callers; each operation's rule: ``request_no``).
REQUEST_NO = FAVOR.pattern


def require_str(data: Mapping[str, Any], field: str, *, max_len: int | None = None, location: str = "body") -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise param_error(field, "is required and must be a non-empty string", value, location=location)
    if max_len is not None and len(value) > max_len:
        raise param_error(field, f"must be at most {max_len} characters", value, location=location)
    return value


def require_int(
    data: Mapping[str, Any], field: str, *, minimum: int | None = None, maximum: int | None = None, path: str = ""
) -> int:
    value = data.get(field)
    name = f"{path}{field}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise param_error(name, "is required and must be an integer", value)
    if minimum is not None and value < minimum:
        raise param_error(name, f"must be >= {minimum}", value)
    if maximum is not None and value > maximum:
        raise param_error(name, f"must be <= {maximum}", value)
    return value


def require_bool(data: Mapping[str, Any], field: str, *, path: str = "") -> bool:
    value = data.get(field)
    if not isinstance(value, bool):
        raise param_error(f"{path}{field}", "is required and must be true or false", value)
    return value


def require_obj(data: Mapping[str, Any], field: str, *, path: str = "") -> dict[str, Any]:
    value = data.get(field)
    if not isinstance(value, dict):
        raise param_error(f"{path}{field}", "is required and must be an object", value)
    return value


def request_no(data: Mapping[str, Any], field: str, operation: str = "favor.send_coupon") -> str:
    """``data[field]`` when it fits the request-number rule of ``operation`` (the SDK's own rule)."""
    value = require_str(data, field)
    rule = rule_for(operation, field)
    if not rule.matches(value):
        raise param_error(field, f"must fit the rule: {rule.description}", value)
    return value


def query_int(query: Mapping[str, str], field: str, default: int | None, *, minimum: int = 0, maximum: int) -> int:
    raw = query.get(field)
    if raw is None or raw == "":
        if default is None:
            raise param_error(field, "is required", location="query")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise param_error(field, "must be an integer", raw, location="query") from None
    if not minimum <= value <= maximum:
        raise param_error(field, f"must be between {minimum} and {maximum}", raw, location="query")
    return value


def public(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document without its private (``_``-prefixed) bookkeeping fields."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}
