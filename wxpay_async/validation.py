"""Client-side checks before anything goes on the wire: ``ValidationError(field, rule)``.

Generic rules come from the endpoint spec (required fields, enums, lengths, bounds, request
numbers); the cash-coupon rules come from WeChat Pay's developer guide. ``Client(validate=False)``
turns all of it off, for fields or values newer than this SDK.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._request_numbers import FAVOR
from .errors import ValidationError

#: Cash coupons' request-number rule (the loosest family's; each family's lives in _request_numbers).
REQUEST_NUMBER = FAVOR.pattern
REQUEST_NUMBER_RULE = FAVOR.description
#: An openid: WeChat's OpenID alphabet (letters, digits, ``-`` and ``_``), 1-128 characters.
#: WeChat Pay publishes no regular expression for openids. Its product-coupon troubleshooting manual
#: (wechatpay-apiv3/wechatpay-skills@15f40d070c503be7f02c3ebeb8dfb6b8274f3291:
#: wechatpay-product-coupon/references/2-服务商/问题排查/排障手册.md, error 268578526 "解析 OpenID 错误")
#: describes a valid openid as a 28-character string starting with ``o``, and its samples send
#: ``oh-394z-6CGkNoJrsDLTTUKiAnp4``: the charset is that alphabet; the length bound is the 128 of
#: WeChat Pay's other identifiers, not 28, so test and sandbox users are not refused here.
OPENID = re.compile(r"^[0-9A-Za-z_\-]{1,128}$")
OPENID_RULE = "openids are 1-128 characters of 0-9 A-Z a-z _ - (WeChat's OpenID alphabet)"
#: RFC 3339 ``date-time`` (section 5.6), the format WeChat Pay names for every time field
#: ("遵循 rfc3339 标准格式，格式为 yyyy-MM-DDTHH:mm:ss+TIMEZONE"): a date alone, or a time
#: without an offset, is refused. The one check of the SDK and the emulator (parse_rfc3339).
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
RFC3339_RULE = "must be an RFC 3339 date-time with an offset, e.g. 2026-12-06T00:00:00+08:00"
MAX_STOCK_DAYS = 90
MAX_START_AHEAD_DAYS = 365


_SPEC = Path(__file__).resolve().parent / "spec"


@cache
def operations() -> dict[str, dict[str, Any]]:
    """The endpoint spec by ``group.name`` (loaded once): answers, prose and sources included."""
    text = (_SPEC / "operations.json").read_text(encoding="utf-8")
    return {f"{op['group']}.{op['name']}": op for op in json.loads(text)}


@cache
def request_rules() -> dict[str, dict[str, Any]]:
    """What validation reads of each operation (path/query parameters, body schema, rules).

    ``spec/requests.json``, generated from operations.json without answers or prose: a seventh
    of its size, so the first call of a fresh process does not parse 850 KB.
    """
    rules: dict[str, dict[str, Any]] = json.loads((_SPEC / "requests.json").read_text(encoding="utf-8"))
    return rules


def parse_rfc3339(value: Any) -> dt.datetime | None:
    """The time ``value`` names, or None when it is not an RFC 3339 date-time with an offset."""
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:  # 2026-02-30T...: the right shape, no such day
        return None


def is_openid(value: Any) -> bool:
    return isinstance(value, str) and OPENID.fullmatch(value) is not None


def check_request_number(field: str, value: Any) -> None:
    if not isinstance(value, str) or not REQUEST_NUMBER.fullmatch(value):
        raise ValidationError(field, REQUEST_NUMBER_RULE)


def check_notify_url(field: str, value: Any) -> None:
    """https without query or fragment (plain http only for a loopback host, for local emulators)."""
    if not isinstance(value, str):
        raise ValidationError(field, "must be a URL string")
    parts = urlsplit(value)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValidationError(field, "must be an https URL")
    if not parts.netloc:
        raise ValidationError(field, "must be an absolute URL")
    if parts.query or parts.fragment:
        raise ValidationError(field, "must not carry query parameters")


@cache
def _body_schema(operation: str, skip_required: tuple[str, ...]) -> Mapping[str, Any]:
    """The body schema without the ``skip_required`` fields among its required ones (built once)."""
    schema: Mapping[str, Any] = request_rules()[operation]["body"]
    return {**schema, "required": [r for r in schema.get("required") or () if r not in skip_required]}


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def validate_request(
    operation: str,
    *,
    path: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
    skip_required: tuple[str, ...] = (),
) -> None:
    """Check one call against the spec and the developer guide; ``operation`` is ``group.name``."""
    request_checker(operation, skip_required)(path, query, body)


# -- checkers compiled once per operation --------------------------------------------------------
# Every schema lookup is done once: a call runs a few closures instead of walking the spec's
# dicts (that walk was ~10 % of a typed call; tests/test_validation.py keeps it as the reference).
_ValueCheck = Callable[[str, Any], None]
_ObjectCheck = Callable[[str, Mapping[str, Any]], None]


def _value_checker(schema: Mapping[str, Any]) -> _ValueCheck:
    """``check(field, value)``: every rule of ``schema`` for one value (None passes: omitted).

    One closure per value, kind and pattern checks fused: a typed call runs one per field
    (a closure calling a kind closure cost ~0.3 µs of a typed send, measured).
    """
    kind = schema.get("type")
    enum = schema.get("enum")
    source = schema.get("pattern")
    if kind == "string" and enum is None:
        return _string_checker(schema, _pattern(source) if source is not None else None)
    kind_check = _kind_checker(kind, schema)
    if enum is None and source is None:
        return kind_check or _nothing
    pattern = _pattern(source) if source is not None else None
    x_rule = schema.get("x-rule")

    def check(field: str, value: Any) -> None:
        if value is None:
            return
        if kind_check is not None:
            kind_check(field, value)
        if enum is not None and value not in enum:
            raise ValidationError(field, f"must be one of {', '.join(map(str, enum))}")
        if pattern is not None and isinstance(value, str) and not pattern.fullmatch(value):
            raise ValidationError(field, _pattern_rule(field, source, x_rule))

    return check


def _pattern_rule(field: str, source: str | None, x_rule: str | None) -> str:
    """What a value breaking ``source`` is told: the spec's own rule, else the pattern."""
    if x_rule is not None:
        return x_rule
    if field.rsplit(".", 1)[-1].endswith("request_no"):
        return REQUEST_NUMBER_RULE
    return f"must match {source}"


def _string_checker(schema: Mapping[str, Any], pattern: re.Pattern[str] | None) -> _ValueCheck:
    """A string's type, lengths, RFC 3339 format and pattern, in one closure."""
    max_length = schema.get("maxLength")
    min_length = schema.get("minLength")
    rule = schema.get("x-rule")
    is_time = schema.get("format") == "rfc3339"
    source = schema.get("pattern")

    def check(field: str, value: Any) -> None:
        if value is None:
            return
        if type(value) is not str and not isinstance(value, str):
            raise ValidationError(field, "must be a string")
        if max_length is not None and len(value) > max_length:
            raise ValidationError(field, rule or f"at most {max_length} characters")
        if min_length is not None and len(value) < min_length:
            raise ValidationError(field, rule or f"at least {min_length} characters")
        if is_time and parse_rfc3339(value) is None:
            raise ValidationError(field, RFC3339_RULE)
        if pattern is not None and not pattern.fullmatch(value):
            raise ValidationError(field, _pattern_rule(field, source, rule))

    return check


def _kind_checker(kind: Any, schema: Mapping[str, Any]) -> _ValueCheck | None:
    """The type rules of an object, array, integer, boolean or (enum) string; None passes."""
    if kind == "object":
        check_object = _object_checker(schema)

        def kind_check(field: str, value: Any) -> None:
            if value is None:
                return
            if not isinstance(value, Mapping):
                raise ValidationError(field, "must be an object")
            check_object(field + ".", value)

    elif kind == "array":
        max_items = schema.get("maxItems")
        check_item = _value_checker(schema.get("items") or {})

        def kind_check(field: str, value: Any) -> None:
            if value is None:
                return
            if not isinstance(value, list | tuple):
                raise ValidationError(field, "must be a list")
            if max_items is not None and len(value) > max_items:
                raise ValidationError(field, f"at most {max_items} items")
            for i, item in enumerate(value):
                check_item(f"{field}[{i}]", item)

    elif kind == "integer":
        minimum = schema.get("minimum")
        maximum = schema.get("maximum")

        def kind_check(field: str, value: Any) -> None:
            if value is None:
                return
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(field, "must be an integer")
            if minimum is not None and value < minimum:
                raise ValidationError(field, f"must be >= {minimum}")
            if maximum is not None and value > maximum:
                raise ValidationError(field, f"must be <= {maximum}")

    elif kind == "boolean":

        def kind_check(field: str, value: Any) -> None:
            if value is not None and not isinstance(value, bool):
                raise ValidationError(field, "must be true or false")

    elif kind == "string":  # with an enum (the others are _string_checker's alone); the caller checks the pattern
        return _string_checker(schema, None)
    else:
        return None
    return kind_check


def _nothing(field: str, value: Any) -> None:
    return None


def _object_checker(schema: Mapping[str, Any]) -> _ObjectCheck:
    """``check(prefix, value)``: required fields, then every known field of ``value``."""
    checkers = {name: _value_checker(item) for name, item in (schema.get("properties") or {}).items()}
    required = tuple(schema.get("required") or ())

    def check(prefix: str, value: Mapping[str, Any]) -> None:
        for name in required:
            present = value.get(name)
            if present is None or present == "":
                raise ValidationError(prefix + name, "required")
        for name, item in value.items():
            if item is not None:
                checker = checkers.get(name)
                if checker is not None:
                    checker(prefix + name, item)

    return check


_RequestCheck = Callable[[Mapping[str, Any] | None, Mapping[str, Any] | None, Mapping[str, Any] | None], None]


@cache
def request_checker(operation: str, skip_required: tuple[str, ...] = ()) -> _RequestCheck:
    """``check(path, query, body)``: the whole of :func:`validate_request` for one operation.

    Its schema lookups done once; resources call it directly (one call layer less per call).
    """
    op = request_rules()[operation]
    path_checks = tuple((param["name"], _value_checker(param["schema"])) for param in op["path_params"])
    query_checks = tuple(
        (
            param["name"],
            bool(param["required"]),
            param["schema"].get("type") == "string",
            _value_checker(param["schema"]),
        )
        for param in op["query_params"]
    )
    check_body: _ObjectCheck | None = None
    if op["body"] is not None:
        check_body = _object_checker(_body_schema(operation, skip_required) if skip_required else op["body"])
    rules = tuple(op.get("rules") or ())

    def check(path: Mapping[str, Any] | None, query: Mapping[str, Any] | None, body: Mapping[str, Any] | None) -> None:
        for name, check_path_value in path_checks:
            value = (path or {}).get(name)
            if value is None or str(value) == "":
                raise ValidationError(name, "required path parameter")
            check_path_value(name, value)
        for name, required, textual, check_value in query_checks:
            value = (query or {}).get(name)
            if value is None:
                if required:
                    raise ValidationError(name, "required")
                continue
            if textual and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)  # a query string carries text; the YAML types some numbers as strings
            check_value(name, value)
        if check_body is not None:
            check_body("", body or {})
        for rule in rules:
            if isinstance(rule, str):
                RULES[rule](body or {})
            else:  # a parameterised rule: {"rule": "exactly_one_of", "fields": [...]}
                PARAMETERISED_RULES[rule["rule"]](body or {}, rule)

    return check


# -- the developer guide's cash-coupon rules --------------------------------------------------
def _is_cjk(char: str) -> bool:
    """CJK unified ideographs (and extension A, compatibility): what the guide counts as Chinese.

    A comparison, not a regex: compiling that character class cost ~3 ms of a process's first call.
    """
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


def _check_stock(body: Mapping[str, Any]) -> None:
    """Creating a cash-coupon stock: the developer guide's rules beyond single fields."""
    name = str(body.get("stock_name", ""))
    if any(c in name for c in "_,;|"):
        raise ValidationError("stock_name", "must not contain _ , ; |")
    if sum(_is_cjk(c) for c in name) > 9:
        raise ValidationError("stock_name", "at most 9 Chinese characters")
    if len(name) > 20:
        raise ValidationError("stock_name", "at most 20 characters")
    if body.get("stock_type", "NORMAL") != "NORMAL":
        raise ValidationError("stock_type", "only NORMAL is supported")
    begin, end = body.get("available_begin_time"), body.get("available_end_time")
    if begin is not None:
        b = _time("available_begin_time", begin)
        if b - dt.datetime.now(dt.UTC) > dt.timedelta(days=MAX_START_AHEAD_DAYS):
            raise ValidationError("available_begin_time", f"must start within {MAX_START_AHEAD_DAYS} days")
        if end is not None:
            e = _time("available_end_time", end)
            # wechatpay-go's create-stock sample sends begin == end; only an end before the begin is refused.
            if e < b:
                raise ValidationError("available_end_time", "must not be before available_begin_time")
            if e - b > dt.timedelta(days=MAX_STOCK_DAYS):
                raise ValidationError("available_end_time", f"a stock may run at most {MAX_STOCK_DAYS} days")
    fixed = (body.get("coupon_use_rule") or {}).get("fixed_normal_coupon") or {}
    amount, minimum = fixed.get("coupon_amount"), fixed.get("transaction_minimum")
    # The guide's FAQ asks for a minimum above the face value, but the official samples (wechatpay-go
    # api_stock_example_test.go: 100/100; the guide's own Java sample: 10/10) send it equal: the
    # sources disagree, so what either allows passes.
    if minimum is not None and amount is not None and minimum < amount:
        raise ValidationError(
            "coupon_use_rule.fixed_normal_coupon.transaction_minimum", "must be at least coupon_amount"
        )
    # Not checked here: the guide's FAQ says the server refuses max_amount != coupon_amount ×
    # max_coupons, but wechatpay-go's own sample (5000 != 100 × 100) sends it; the server decides.


def _time(field: str, value: Any) -> dt.datetime:
    parsed = parse_rfc3339(value)
    if parsed is None:
        raise ValidationError(field, RFC3339_RULE)
    return parsed


def _check_callbacks(body: Mapping[str, Any]) -> None:
    if "notify_url" in body:
        check_notify_url("notify_url", body["notify_url"])


def _exactly_one_of(body: Mapping[str, Any], rule: Mapping[str, Any]) -> None:
    fields = list(rule["fields"])
    present = [f for f in fields if body.get(f) is not None]
    if len(present) != 1:
        raise ValidationError(fields[0] if not present else present[1], "send exactly one of " + ", ".join(fields))


def _required_with(body: Mapping[str, Any], rule: Mapping[str, Any]) -> None:
    """``field`` must be sent whenever ``with`` is (a merchant-coupon budget change names the current
    budget beside the target one: wechatpay-go merchantexclusivecoupon ModifyBudgetBody)."""
    if body.get(rule["with"]) is not None and body.get(rule["field"]) is None:
        raise ValidationError(rule["field"], f"required when {rule['with']} is sent")


#: Rules with parameters, named in the spec as ``{"rule": name, ...}``.
PARAMETERISED_RULES: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], None]] = {
    "exactly_one_of": _exactly_one_of,
    "required_with": _required_with,
}

#: Cross-field rules the spec names per operation (``"rules": [...]`` in overrides.json).
RULES: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "favor_stock": _check_stock,
    "https_notify_url": _check_callbacks,
}
