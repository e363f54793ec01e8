"""Stocks of one product coupon: create, list, get, patch, deactivate, budget updates, uploaded codes.

Sources: answers are ``StockEntity`` of the send-to-user page
(/work/shared/seeds/product-coupon-send-to-user.txt).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._call import Call, Handler
from .._clock import parse_rfc3339, rfc3339
from .._errors import invalid_request, param_error
from .._validate import require_int, require_obj, require_str
from ._common import (
    COUPONS,
    STOCK_FIELDS,
    STOCKS,
    _brand,
    _entity,
    _enum,
    _idempotent,
    _page_token,
    _product,
    _stock,
    _with_token,
)

CODE_MODES = ("WECHATPAY", "UPLOAD", "API_ASSIGN")


def _new_stock(call: Call, product: dict[str, Any], spec: dict[str, Any], path: str = "stock.") -> dict[str, Any]:
    rule = require_obj(spec, "stock_send_rule", path=path)
    require_int(rule, "max_count", minimum=1, path=path + "stock_send_rule.")
    for optional in ("max_count_per_day", "max_count_per_user"):
        if optional in rule:
            require_int(rule, optional, minimum=1, path=path + "stock_send_rule.")
    mode = spec.get("coupon_code_mode", "WECHATPAY")
    if mode not in CODE_MODES:
        raise param_error(path + "coupon_code_mode", f"must be one of {', '.join(CODE_MODES)}", mode)
    period = (
        (spec.get("single_usage_rule") or spec.get("sequential_usage_rule") or {}).get("coupon_available_period")
    ) or {}
    for field in ("available_begin_time", "available_end_time"):
        if field in period and parse_rfc3339(period[field]) is None:
            raise param_error(f"{path}coupon_available_period.{field}", "must be an RFC 3339 time", period[field])
    stock_id = (
        f"{product['product_coupon_id']}{call.emu.store.next_id('pc_stock_' + product['product_coupon_id'], 1):03d}"
    )
    stock = {
        **spec,
        "product_coupon_id": product["product_coupon_id"],
        "stock_id": stock_id,
        "coupon_code_mode": mode,
        "coupon_code_count_info": {"total_count": 0, "available_count": 0},
        "store_scope": spec.get("store_scope", "NONE"),
        "sent_count_info": {"total_count": 0, "today_count": 0},
        "state": "SENDING",
        "brand_id": product["brand_id"],
        "_codes": [],
        "_stores": [],
        "_per_day": {},
    }
    call.emu.store.put(STOCKS, stock_id, stock)
    return stock


async def create_stock(call: Call) -> Any:
    async def run() -> Any:
        product = _product(call, call.params["product_coupon_id"], _brand(call))
        if product["state"] != "EFFECTIVE":
            raise invalid_request("商品券已失效: cannot add stocks to a deactivated product coupon")
        return _entity(_new_stock(call, product, require_obj(call.data, "stock")), STOCK_FIELDS)

    return await _idempotent(call, "create_stock", "out_request_no", run)


async def list_stocks(call: Call) -> Any:
    product = _product(call, call.params["product_coupon_id"], _brand(call, query=True))
    state = call.query.get("state")
    stocks = [
        _entity(s, STOCK_FIELDS)
        for s in call.emu.store.values(STOCKS)
        if s["product_coupon_id"] == product["product_coupon_id"] and (not state or s["state"] == state)
    ]
    stocks.sort(key=lambda s: s["stock_id"])
    page, token = _page_token(call, stocks)
    return _with_token({"total_count": len(stocks), "stock_list": page}, token)


async def get_stock(call: Call) -> Any:
    _product(call, call.params["product_coupon_id"], _brand(call, query=True))
    return _entity(_stock(call, call.params["product_coupon_id"], call.params["stock_id"]), STOCK_FIELDS)


STOCK_EDITABLE = ("remark", "usage_rule_display_info", "coupon_display_info", "notify_config", "store_scope")


def _stock_change(op: str, change: Callable[[Call, dict[str, Any]], None], name: str) -> Handler:
    """An idempotent change of the path's stock, answered as its ``StockEntity``."""

    async def handler(call: Call) -> Any:
        async def run() -> Any:
            _product(call, call.params["product_coupon_id"], _brand(call))
            stock = _stock(call, call.params["product_coupon_id"], call.params["stock_id"])
            change(call, stock)
            return _entity(stock, STOCK_FIELDS)

        return await _idempotent(call, op, "out_request_no", run)

    handler.__name__ = name
    return handler


def _edit(call: Call, stock: dict[str, Any]) -> None:
    """The editable fields of a stock (also each stock of a patched bundle)."""
    stock.update({k: call.data[k] for k in STOCK_EDITABLE if k in call.data})
    call.emu.store.put(STOCKS, stock["stock_id"], stock)


def _patch(call: Call, stock: dict[str, Any]) -> None:
    if stock["state"] == "DEACTIVATED":
        raise invalid_request("批次已失效: the stock is deactivated")
    _edit(call, stock)


def _deactivate(call: Call, stock: dict[str, Any]) -> None:
    if stock["state"] == "DEACTIVATED":
        raise invalid_request("批次已失效: already deactivated")
    stock.update(
        state="DEACTIVATED",
        deactivate_request_no=call.data["out_request_no"],
        deactivate_time=rfc3339(call.emu.now()),
        deactivate_reason=require_str(call.data, "deactivate_reason"),
    )
    call.emu.store.put(STOCKS, stock["stock_id"], stock)


def _apply_budget(call: Call, stock: dict[str, Any]) -> None:
    body = call.data
    mode = _enum(body, "update_mode", ("MAX_COUNT", "MAX_COUNT_PER_DAY"))
    if stock["state"] not in ("SENDING", "PAUSED"):
        raise invalid_request(f"批次状态不允许修改预算: stock {stock['stock_id']} is {stock['state']}")
    rule = stock["stock_send_rule"]
    field = "max_count" if mode == "MAX_COUNT" else "max_count_per_day"
    suffix = "" if mode == "MAX_COUNT" else "_per_day"
    target = require_int(body, f"target_max_count{suffix}", minimum=1)
    current = body.get(f"current_max_count{suffix}")
    if current is not None and current != rule.get(field):
        raise invalid_request(
            f"current_max_count{suffix} {current} does not match the stock's {rule.get(field)}",
            field=f"current_max_count{suffix}",
        )
    if mode == "MAX_COUNT" and target < stock["sent_count_info"]["total_count"]:
        raise invalid_request("target_max_count is below the number already sent")
    rule[field] = target
    call.emu.store.put(STOCKS, stock["stock_id"], stock)


patch_stock = _stock_change("patch_stock", _patch, "patch_stock")
deactivate_stock = _stock_change("deactivate_stock", _deactivate, "deactivate_stock")
update_stock_budget = _stock_change("stock_budget", _apply_budget, "update_stock_budget")


async def upload_codes(call: Call) -> Any:
    async def run() -> Any:
        _product(call, call.params["product_coupon_id"], _brand(call))
        stock = _stock(call, call.params["product_coupon_id"], call.params["stock_id"])
        if stock["coupon_code_mode"] != "UPLOAD":
            raise invalid_request("only stocks with coupon_code_mode UPLOAD take uploaded codes")
        codes = call.data.get("code_list")
        if not isinstance(codes, list) or not codes or not all(isinstance(c, str) and c for c in codes):
            raise param_error("code_list", "must be a non-empty list of strings", codes)
        if len(codes) > 100:
            raise param_error("code_list", "at most 100 codes per call", len(codes))
        used = {c["coupon_code"] for c in call.emu.store.values(COUPONS) if c["stock_id"] == stock["stock_id"]}
        existing = set(stock["_codes"]) | used
        success, already, duplicate, seen = [], [], [], set()
        for code in codes:
            if code in seen:
                duplicate.append(code)
            elif code in existing:
                already.append(code)
            else:
                success.append(code)
            seen.add(code)
        stock["_codes"].extend(success)
        info = stock["coupon_code_count_info"]
        info["total_count"] += len(success)
        info["available_count"] = len(stock["_codes"])
        call.emu.store.put(STOCKS, stock["stock_id"], stock)
        return {
            "total_count": len(codes),
            "success_code_list": success,
            "failed_code_list": [],
            "already_exist_code_list": already,
            "duplicate_code_list": duplicate,
        }

    return await _idempotent(call, "upload_codes", "out_request_no", run)
