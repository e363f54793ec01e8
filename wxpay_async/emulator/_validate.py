"""Small request-checking helpers shared by the cash-coupon and product-coupon handlers."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from .._request_numbers import FAVOR, rule_for
from ..validation import OPENID_RULE, RFC3339_RULE, is_openid, operations, parse_rfc3339
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


@cache
def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path template) -> the operation's spec entry (query parameters and body schema)."""
    return {(op["method"], op["path"]): op for op in operations().values()}


def check_wire_rules(
    method: str, template: str, params: Mapping[str, str], query: Mapping[str, str], data: Mapping[str, Any]
) -> None:
    """The rules WeChat Pay applies to every call, checked by the SDK the same way (validation.py).

    An openid outside WeChat's OpenID alphabet, and a time field that is not an RFC 3339 date-time
    with an offset (``2026-12-06`` alone), are refused with 400 PARAM_ERROR naming the field.
    """
    openid = params.get("openid")
    if openid is not None and not is_openid(openid):
        raise param_error("openid", OPENID_RULE, openid, location="path")
    op = _schemas().get((method, template))
    if op is None:
        return
    for param in op["query_params"]:
        value = query.get(param["name"])
        if value is not None and param["schema"].get("format") == "rfc3339" and parse_rfc3339(value) is None:
            raise param_error(param["name"], RFC3339_RULE, value, location="query")
    if op.get("body"):
        _check_times(op["body"], data, "")


def _check_times(schema: Mapping[str, Any], value: Any, prefix: str) -> None:
    if schema.get("type") == "array" and isinstance(value, list):
        for i, item in enumerate(value):
            _check_times(schema.get("items") or {}, item, f"{prefix}[{i}]")
    elif schema.get("type") == "object" and isinstance(value, Mapping):
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                _check_times(sub, value[name], f"{prefix}.{name}" if prefix else name)
    elif schema.get("format") == "rfc3339" and value is not None and parse_rfc3339(value) is None:
        raise param_error(prefix, RFC3339_RULE, value)
