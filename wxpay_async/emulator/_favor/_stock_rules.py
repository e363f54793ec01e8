"""The developer guide's checks of a new cash-coupon stock (``POST /coupon-stocks``), kept apart from handlers.

Sources: the cash-coupon developer guide and its FAQ ("活动未开始或已结束", "批次预算等于批次面额乘以发券数").
"""

from __future__ import annotations

from typing import Any

from .._clock import parse_rfc3339
from .._errors import param_error
from .._validate import require_bool, require_int, require_obj, require_str

MAX_VALIDITY = 90 * 86400
MAX_START_AHEAD = 365 * 86400
#: Clients' clocks lag; a begin time this far in the past still counts as "not before now".
BEGIN_GRACE = 300
FORBIDDEN_NAME_CHARS = set("_,;|")


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def validate_stock_name(name: str) -> None:
    """At most 9 Chinese characters or 20 letters (a Chinese character weighs two), no ``_ , ; |``."""
    cjk = sum(1 for ch in name if _is_cjk(ch))
    if cjk > 9 or cjk * 2 + (len(name) - cjk) > 20:
        raise param_error("stock_name", "at most 9 Chinese characters or 20 letters", name)
    if FORBIDDEN_NAME_CHARS & set(name):
        raise param_error("stock_name", "must not contain _ , ; |", name)


def validate_stock(body: dict[str, Any], now: float) -> dict[str, Any]:
    """The developer guide's checks for ``POST /coupon-stocks``; returns the derived amounts."""
    validate_stock_name(require_str(body, "stock_name"))
    require_str(body, "belong_merchant")
    if body.get("stock_type") != "NORMAL":
        raise param_error("stock_type", "only NORMAL is supported", body.get("stock_type"))
    require_bool(body, "no_cash")
    begin = parse_rfc3339(body.get("available_begin_time"))
    end = parse_rfc3339(body.get("available_end_time"))
    if begin is None:
        raise param_error("available_begin_time", "must be an RFC 3339 time", body.get("available_begin_time"))
    if end is None:
        raise param_error("available_end_time", "must be an RFC 3339 time", body.get("available_end_time"))
    if begin < now - BEGIN_GRACE:
        raise param_error("available_begin_time", "must not be earlier than now", body["available_begin_time"])
    if begin > now + MAX_START_AHEAD:
        raise param_error("available_begin_time", "must start within 365 days", body["available_begin_time"])
    if end <= begin:
        raise param_error("available_end_time", "must be after available_begin_time", body["available_end_time"])
    if end - begin > MAX_VALIDITY:
        raise param_error(
            "available_end_time", "活动未开始或已结束: the stock may run at most 90 days", body["available_end_time"]
        )

    use = require_obj(body, "stock_use_rule")
    p = "stock_use_rule."
    max_coupons = require_int(use, "max_coupons", minimum=1, maximum=1_000_000_000, path=p)
    max_amount = require_int(use, "max_amount", minimum=1, path=p)
    require_int(use, "max_coupons_per_user", minimum=1, maximum=100, path=p)
    require_bool(use, "natural_person_limit", path=p)
    require_bool(use, "prevent_api_abuse", path=p)
    if "max_amount_by_day" in use:
        by_day = require_int(use, "max_amount_by_day", minimum=1, path=p)
        if by_day > max_amount:
            raise param_error(p + "max_amount_by_day", "must not exceed max_amount", by_day)

    rule = require_obj(body, "coupon_use_rule")
    p = "coupon_use_rule."
    fixed = require_obj(rule, "fixed_normal_coupon", path=p)
    p2 = p + "fixed_normal_coupon."
    amount = require_int(fixed, "coupon_amount", minimum=10, maximum=100_000, path=p2)
    minimum = require_int(fixed, "transaction_minimum", minimum=10, maximum=10_000_000, path=p2)
    if minimum - amount < 1:
        raise param_error(p2 + "transaction_minimum", "must exceed coupon_amount by at least 1 fen", minimum)
    if max_amount != amount * max_coupons:
        raise param_error(
            "stock_use_rule.max_amount",
            f"批次预算等于批次面额乘以发券数: must equal coupon_amount × max_coupons = {amount * max_coupons}",
            max_amount,
        )
    available = rule.get("coupon_available_time")
    if isinstance(available, dict) and "available_time_after_receive" in available:
        require_int(
            available, "available_time_after_receive", minimum=1, maximum=1440, path=p + "coupon_available_time."
        )
    for list_field in ("available_merchants", "available_items", "goods_tag"):
        items = rule.get(list_field)
        if items is not None and (not isinstance(items, list) or len(items) > 50):
            raise param_error(p + list_field, "must be a list of at most 50 strings", items)
    return {"coupon_amount": amount, "transaction_minimum": minimum, "begin": begin, "end": end}
