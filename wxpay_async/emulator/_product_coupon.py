"""Product coupons (``/v3/marketing/partner/product-coupon``): products, stocks, sends, a coupon state machine.

User coupon states: a send answers ``CONFIRMING`` and delivers ``PRODUCT_COUPON_SP.SEND`` to the
notify-config URL; ``confirm`` makes it ``EFFECTIVE``; ``use`` → ``USED``; ``return`` → ``EFFECTIVE``;
``deactivate`` (from CONFIRMING/EFFECTIVE) → ``DEACTIVATED``. Anything else: 400 INVALID_REQUEST.

Errors follow the send-to-user seed: 400 PARAM_ERROR / INVALID_REQUEST / ALREADY_EXISTS (request
number or coupon_code reused with different content), 403 NOT_ENOUGH (budget or uploaded codes),
404 NOT_FOUND, 429 RATELIMIT_EXCEEDED; 500 SYSTEM_ERROR comes from fault injection. The per-user
limit is 400 INVALID_REQUEST "用户领取已达到上限" (the same table lists it under INVALID_REQUEST).
Source: the official send-to-user page, /work/shared/seeds/product-coupon-send-to-user.txt, summarised
in tests/official/FINDINGS-product-coupon.md §3.send_coupon.

User-coupon answers are built in the shape of that page's Go model ``UserProductCouponEntity``
(with ``ProductCouponEntity`` and ``StockEntity`` nested): request-only fields (``appid``, ``openid``,
``product_coupon_id``/``stock_id`` at the top level, ``out_request_no``) are never echoed.
Every POST/PATCH carrying ``out_request_no``/``send_request_no`` is idempotent: the same number
with the same body answers the first answer again.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from ._auth import body_fingerprint
from ._call import Call, Route
from ._clock import parse_rfc3339, rfc3339
from ._errors import ApiError, invalid_request, param_error
from ._favor import store_image
from ._validate import request_no, require_int, require_obj, require_str

BASE = "/v3/marketing/partner/product-coupon"
PRODUCTS = "pc_products"
STOCKS = "pc_stocks"
BUNDLES = "pc_bundles"
COUPONS = "pc_user_coupons"
USER_BUNDLES = "pc_user_bundles"
REQUESTS = "pc_requests"
NOTIFY = "pc_notify_configs"
TASKS = "pc_image_tasks"
TOKENS = "pc_pre_send_tokens"
USER_COUNTS = "pc_user_counts"

SCOPES = ("ALL", "SINGLE", "CATEGORY")
TYPES = ("NORMAL", "DISCOUNT", "EXCHANGE")
USAGE_MODES = ("SINGLE", "SEQUENTIAL", "PROGRESSIVE_BUNDLE")
CODE_MODES = ("WECHATPAY", "UPLOAD", "API_ASSIGN")
DEFAULT_VALIDITY = 30 * 86400
#: 429 code of the product-coupon APIs (send-to-user error table: "429 RATELIMIT_EXCEEDED").
RATE_LIMIT_CODE = "RATELIMIT_EXCEEDED"
#: ``ProductCouponEntity`` fields, in the official order (seed Go model of the send-to-user page).
PRODUCT_FIELDS = (
    "product_coupon_id",
    "scope",
    "type",
    "usage_mode",
    "single_usage_info",
    "progressive_bundle_usage_info",
    "display_info",
    "out_product_no",
    "state",
    "deactivate_request_no",
    "deactivate_time",
    "deactivate_reason",
    "brand_id",
)
#: ``StockEntity`` fields, in the official order (same seed).
STOCK_FIELDS = (
    "product_coupon_id",
    "stock_id",
    "remark",
    "coupon_code_mode",
    "coupon_code_count_info",
    "stock_send_rule",
    "single_usage_rule",
    "usage_rule_display_info",
    "coupon_display_info",
    "notify_config",
    "store_scope",
    "sent_count_info",
    "state",
    "deactivate_request_no",
    "deactivate_time",
    "deactivate_reason",
    "brand_id",
)
#: Kept for the older SEQUENTIAL usage mode the emulator still accepts (no longer in the seed's model).
LEGACY_FIELDS = ("sequential_usage_info", "sequential_usage_rule")


def _enum(data: dict[str, Any], field: str, allowed: tuple[str, ...]) -> str:
    value = data.get(field)
    if value not in allowed:
        raise param_error(field, f"must be one of {', '.join(allowed)}", value)
    return str(value)


def _not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", what)


#: The emulator's names of idempotent operations → the spec's (whose request-number rule applies).
_OPERATIONS = {
    "create_product": "create_product_coupon",
    "patch_product": "update_product_coupon",
    "deactivate_product": "deactivate_product_coupon",
    "patch_stock": "update_stock",
    "stock_budget": "update_stock_budget",
    "upload_codes": "upload_coupon_codes",
    "create_bundle": "create_stock_bundle",
    "patch_bundle": "update_stock_bundle",
    "bundle_budget": "update_stock_bundle_budget",
    "send": "send_coupon",
    "send_bundle": "send_coupon_bundle",
    "deactivate_bundle": "deactivate_coupon_bundle",
    "pre_send": "pre_send_coupon",
    "pre_send_bundle": "pre_send_coupon_bundle",
}


async def _idempotent(call: Call, op: str, field: str, run: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``run`` once per (op, brand, request number); replays answer the stored first answer."""
    number = request_no(call.data, field, f"product_coupon.{_OPERATIONS.get(op, op)}")
    key = f"{op}|{call.data.get('brand_id', call.mchid)}|{number}"
    fingerprint = body_fingerprint({"_params": dict(call.params), **call.data})
    previous = call.emu.store.get(REQUESTS, key)
    if previous is not None:
        if previous["fingerprint"] != fingerprint:
            raise ApiError(
                400,
                "ALREADY_EXISTS",
                f"{field} 冲突: {number} was already used with different parameters",
                detail={"field": field, "value": number, "issue": "reused with another body"},
            )
        return previous["answer"]
    answer = await run()
    call.emu.store.put(REQUESTS, key, {"fingerprint": fingerprint, "answer": answer})
    return answer


def _product(call: Call, product_coupon_id: str, brand_id: str) -> dict[str, Any]:
    product = call.emu.store.get(PRODUCTS, product_coupon_id)
    if product is None or product["brand_id"] != brand_id:
        raise _not_found(f"未找到 product_coupon_id 对应的商品券: {product_coupon_id}")
    return product


def _stock(call: Call, product_coupon_id: str, stock_id: str) -> dict[str, Any]:
    stock = call.emu.store.get(STOCKS, stock_id)
    if stock is None or stock["product_coupon_id"] != product_coupon_id:
        raise _not_found(f"未找到 stock_id 对应的商品券批次: {stock_id}")
    return stock


def _bundle(call: Call, product_coupon_id: str, bundle_id: str) -> dict[str, Any]:
    bundle = call.emu.store.get(BUNDLES, bundle_id)
    if bundle is None or bundle["product_coupon_id"] != product_coupon_id:
        raise _not_found(f"未找到 stock_bundle_id 对应的商品券批次组: {bundle_id}")
    return bundle


def _brand(call: Call, *, query: bool = False) -> str:
    source = call.query if query else call.data
    return require_str(source, "brand_id", location="query" if query else "body")


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


# -- product coupons -----------------------------------------------------------------------------
async def create_product_coupon(call: Call) -> Any:
    async def run() -> Any:
        body = call.data
        brand_id = _brand(call)
        _enum(body, "scope", SCOPES)
        _enum(body, "type", TYPES)
        _enum(body, "usage_mode", USAGE_MODES)
        display = require_obj(body, "display_info")
        require_str(display, "name", max_len=64)
        spec = require_obj(body, "stock")
        product_coupon_id = str(call.emu.store.next_id("pc_product", 1_000_000_001))
        product = {k: v for k, v in body.items() if k not in ("stock", "out_request_no")} | {
            "product_coupon_id": product_coupon_id,
            "state": "EFFECTIVE",
            "brand_id": brand_id,
        }
        call.emu.store.put(PRODUCTS, product_coupon_id, product)
        stock = _new_stock(call, product, spec)
        return {**_entity(product, PRODUCT_FIELDS), "stock": _entity(stock, STOCK_FIELDS)}

    return await _idempotent(call, "create_product", "out_request_no", run)


async def get_product_coupon(call: Call) -> Any:
    return _entity(_product(call, call.params["product_coupon_id"], _brand(call, query=True)), PRODUCT_FIELDS)


async def patch_product_coupon(call: Call) -> Any:
    async def run() -> Any:
        product = _product(call, call.params["product_coupon_id"], _brand(call))
        if product["state"] == "DEACTIVATED":
            raise invalid_request("商品券已失效: the product coupon is deactivated")
        display = require_obj(call.data, "display_info")
        product["display_info"] = {**product.get("display_info", {}), **display}
        for field in ("scope", "type", "usage_mode", "single_usage_info", "sequential_usage_info", "out_product_no"):
            if field in call.data:
                product[field] = call.data[field]
        call.emu.store.put(PRODUCTS, product["product_coupon_id"], product)
        return _entity(product, PRODUCT_FIELDS)

    return await _idempotent(call, "patch_product", "out_request_no", run)


async def deactivate_product_coupon(call: Call) -> Any:
    async def run() -> Any:
        product = _product(call, call.params["product_coupon_id"], _brand(call))
        if product["state"] == "DEACTIVATED":
            raise invalid_request("商品券已失效: already deactivated")
        now = rfc3339(call.emu.now())
        product.update(
            state="DEACTIVATED",
            deactivate_request_no=call.data["out_request_no"],
            deactivate_time=now,
            deactivate_reason=require_str(call.data, "deactivate_reason"),
        )
        call.emu.store.put(PRODUCTS, product["product_coupon_id"], product)
        for stock in call.emu.store.values(STOCKS):
            if stock["product_coupon_id"] == product["product_coupon_id"] and stock["state"] != "DEACTIVATED":
                stock.update(state="DEACTIVATED", deactivate_time=now)
                call.emu.store.put(STOCKS, stock["stock_id"], stock)
        return _entity(product, PRODUCT_FIELDS)

    return await _idempotent(call, "deactivate_product", "out_request_no", run)


# -- stocks --------------------------------------------------------------------------------------
async def create_stock(call: Call) -> Any:
    async def run() -> Any:
        product = _product(call, call.params["product_coupon_id"], _brand(call))
        if product["state"] != "EFFECTIVE":
            raise invalid_request("商品券已失效: cannot add stocks to a deactivated product coupon")
        return _entity(_new_stock(call, product, require_obj(call.data, "stock")), STOCK_FIELDS)

    return await _idempotent(call, "create_stock", "out_request_no", run)


def _page_token(
    call: Call, items: list[Any], default_size: int = 10, max_size: int = 50
) -> tuple[list[Any], str | None]:
    try:
        size = int(call.query.get("page_size") or default_size)
        start = int(call.query.get("page_token") or 0)
    except ValueError:
        raise param_error("page_token", "page_size and page_token must be integers", location="query") from None
    if not 1 <= size <= max_size:
        raise param_error("page_size", f"must be between 1 and {max_size}", size, location="query")
    page = items[start : start + size]
    following = start + size
    return page, (str(following) if following < len(items) else None)


def _with_token(out: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        out["next_page_token"] = token
    return out


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


async def patch_stock(call: Call) -> Any:
    async def run() -> Any:
        _product(call, call.params["product_coupon_id"], _brand(call))
        stock = _stock(call, call.params["product_coupon_id"], call.params["stock_id"])
        if stock["state"] == "DEACTIVATED":
            raise invalid_request("批次已失效: the stock is deactivated")
        stock.update({k: call.data[k] for k in STOCK_EDITABLE if k in call.data})
        call.emu.store.put(STOCKS, stock["stock_id"], stock)
        return _entity(stock, STOCK_FIELDS)

    return await _idempotent(call, "patch_stock", "out_request_no", run)


async def deactivate_stock(call: Call) -> Any:
    async def run() -> Any:
        _product(call, call.params["product_coupon_id"], _brand(call))
        stock = _stock(call, call.params["product_coupon_id"], call.params["stock_id"])
        if stock["state"] == "DEACTIVATED":
            raise invalid_request("批次已失效: already deactivated")
        stock.update(
            state="DEACTIVATED",
            deactivate_request_no=call.data["out_request_no"],
            deactivate_time=rfc3339(call.emu.now()),
            deactivate_reason=require_str(call.data, "deactivate_reason"),
        )
        call.emu.store.put(STOCKS, stock["stock_id"], stock)
        return _entity(stock, STOCK_FIELDS)

    return await _idempotent(call, "deactivate_stock", "out_request_no", run)


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


async def update_stock_budget(call: Call) -> Any:
    async def run() -> Any:
        _product(call, call.params["product_coupon_id"], _brand(call))
        stock = _stock(call, call.params["product_coupon_id"], call.params["stock_id"])
        _apply_budget(call, stock)
        return _entity(stock, STOCK_FIELDS)

    return await _idempotent(call, "stock_budget", "out_request_no", run)


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


def _store_ids(call: Call) -> list[str]:
    stores = call.data.get("store_list")
    if not isinstance(stores, list) or not stores:
        raise param_error("store_list", "must be a non-empty list", stores)
    ids = []
    for item in stores:
        store_id = item.get("store_id") if isinstance(item, dict) else item
        if not isinstance(store_id, str) or not store_id:
            raise param_error("store_list.store_id", "each store needs a store_id", item)
        ids.append(store_id)
    return ids


def _stores(associate: bool, bundle: bool) -> Callable[[Call], Awaitable[Any]]:
    async def handler(call: Call) -> Any:
        _product(call, call.params["product_coupon_id"], _brand(call))
        targets: list[dict[str, Any]]
        if bundle:
            found = _bundle(call, call.params["product_coupon_id"], call.params["stock_bundle_id"])
            targets = [s for sid in found["stock_ids"] if (s := call.emu.store.get(STOCKS, sid)) is not None]
        else:
            targets = [_stock(call, call.params["product_coupon_id"], call.params["stock_id"])]
        ids = _store_ids(call)
        for stock in targets:
            current = list(stock.get("_stores", []))
            if associate:
                current += [i for i in ids if i not in current]
            else:
                current = [i for i in current if i not in ids]
            stock["_stores"] = current
            call.emu.store.put(STOCKS, stock["stock_id"], stock)
        return {
            "total_count": len(ids),
            "success_store_list": [{"store_id": i} for i in ids],
            "failed_store_list": [],
        }

    return handler


async def associated_stores(call: Call) -> Any:
    _product(call, call.params["product_coupon_id"], _brand(call, query=True))
    stock = _stock(call, call.params["product_coupon_id"], call.params["stock_id"])
    stores = [{"store_id": i} for i in stock.get("_stores", [])]
    page, token = _page_token(call, stores)
    return _with_token({"total_count": len(stores), "store_list": page}, token)


# -- stock bundles -------------------------------------------------------------------------------
def _bundle_view(call: Call, bundle: dict[str, Any]) -> dict[str, Any]:
    stocks = [
        _entity(s, STOCK_FIELDS) for sid in bundle["stock_ids"] if (s := call.emu.store.get(STOCKS, sid)) is not None
    ]
    return {"stock_bundle_id": bundle["stock_bundle_id"], "stock_list": stocks}


async def create_bundle(call: Call) -> Any:
    async def run() -> Any:
        product = _product(call, call.params["product_coupon_id"], _brand(call))
        spec = require_obj(call.data, "stock_bundle")
        specs = spec.get("stock_list")
        if not isinstance(specs, list) or not specs:
            specs = [spec]
        stocks = [_new_stock(call, product, s, path=f"stock_bundle.stock_list[{i}].") for i, s in enumerate(specs)]
        bundle_id = f"B{product['product_coupon_id']}{call.emu.store.next_id('pc_bundle', 1):04d}"
        bundle = {
            "stock_bundle_id": bundle_id,
            "product_coupon_id": product["product_coupon_id"],
            "stock_ids": [s["stock_id"] for s in stocks],
        }
        call.emu.store.put(BUNDLES, bundle_id, bundle)
        return _bundle_view(call, bundle)

    return await _idempotent(call, "create_bundle", "out_request_no", run)


async def patch_bundle(call: Call) -> Any:
    async def run() -> Any:
        _product(call, call.params["product_coupon_id"], _brand(call))
        bundle = _bundle(call, call.params["product_coupon_id"], call.params["stock_bundle_id"])
        for sid in bundle["stock_ids"]:
            stock = call.emu.store.get(STOCKS, sid)
            if stock is not None:
                stock.update({k: call.data[k] for k in STOCK_EDITABLE if k in call.data})
                call.emu.store.put(STOCKS, sid, stock)
        return _bundle_view(call, bundle)

    return await _idempotent(call, "patch_bundle", "out_request_no", run)


async def update_bundle_budget(call: Call) -> Any:
    async def run() -> Any:
        _product(call, call.params["product_coupon_id"], _brand(call))
        bundle = _bundle(call, call.params["product_coupon_id"], call.params["stock_bundle_id"])
        for sid in bundle["stock_ids"]:
            stock = call.emu.store.get(STOCKS, sid)
            if stock is not None:
                _apply_budget(call, stock)
        return _bundle_view(call, bundle)

    return await _idempotent(call, "bundle_budget", "out_request_no", run)


# -- user coupons --------------------------------------------------------------------------------
def _entity(doc: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: doc[k] for k in (*fields, *LEGACY_FIELDS) if doc.get(k) is not None}


def _coupon_view(call: Call, coupon: dict[str, Any]) -> dict[str, Any]:
    """``UserProductCouponEntity`` (seed Go model): only its fields, only those that apply.

    ``single_usage_detail`` for non-bundle coupons (the seed's 发放普通券 answer sends ``{}`` before
    use), ``user_product_coupon_bundle_info`` for PROGRESSIVE_BUNDLE coupons, ``attach`` and
    ``coupon_tag_info`` when the send carried them.
    """
    product = call.emu.store.get(PRODUCTS, coupon["product_coupon_id"])
    stock = call.emu.store.get(STOCKS, coupon["stock_id"])
    view: dict[str, Any] = {
        k: coupon[k]
        for k in (
            "coupon_code",
            "coupon_state",
            "valid_begin_time",
            "valid_end_time",
            "receive_time",
            "send_request_no",
            "send_channel",
            "confirm_request_no",
            "confirm_time",
            "deactivate_request_no",
            "deactivate_time",
            "deactivate_reason",
        )
        if coupon.get(k) is not None
    }
    bundle_id = coupon.get("_bundle_id")
    if bundle_id is None:
        view["single_usage_detail"] = dict(coupon.get("single_usage_detail") or {})
    else:
        record = call.emu.store.get(USER_BUNDLES, bundle_id) or {"coupons": []}
        members = [call.emu.store.get(COUPONS, key) for key in record["coupons"]]
        view["user_product_coupon_bundle_info"] = {
            "user_coupon_bundle_id": bundle_id,
            "user_coupon_bundle_index": coupon.get("_bundle_index", 0),
            "total_count": len(record["coupons"]),
            "used_count": sum(1 for m in members if m is not None and m["coupon_state"] == "USED"),
        }
    if product is not None:
        view["product_coupon"] = _entity(product, PRODUCT_FIELDS)
    if stock is not None:
        view["stock"] = _entity(stock, STOCK_FIELDS)
    for k in ("attach", "coupon_tag_info"):
        if coupon.get(k) is not None:
            view[k] = coupon[k]
    view["brand_id"] = coupon["brand_id"]
    return view


def _issue(call: Call, openid: str, product: dict[str, Any], stock: dict[str, Any], number: str) -> dict[str, Any]:
    """Budget, code and per-user checks, then one new CONFIRMING coupon (shared by single and bundle sends)."""
    emu, body = call.emu, call.data
    if product["state"] != "EFFECTIVE" or stock["state"] != "SENDING":
        raise invalid_request(
            f"传入参数不符合业务规则: product coupon is {product['state']}, stock is {stock['state']}",
            field="stock_id",
            value=stock["stock_id"],
        )
    mode = stock["coupon_code_mode"]
    code: str | None = body.get("coupon_code")
    if mode == "API_ASSIGN":
        code = require_str(body, "coupon_code", max_len=128)
    elif code is not None:
        raise param_error("coupon_code", "只有 coupon_code_mode 为 API_ASSIGN 时才能传入", code)
    rule = stock["stock_send_rule"]
    sent = stock["sent_count_info"]
    now = emu.now()
    today = rfc3339(now)[:10]
    if sent["total_count"] >= rule["max_count"]:
        raise ApiError(403, "NOT_ENOUGH", "商品券批次发放预算不足")
    per_day = stock.setdefault("_per_day", {})
    if "max_count_per_day" in rule and per_day.get(today, 0) >= rule["max_count_per_day"]:
        raise ApiError(403, "NOT_ENOUGH", "商品券批次今日发放预算不足")
    user_key = f"{stock['stock_id']}|{openid}"
    user_count = emu.store.get(USER_COUNTS, user_key) or {"count": 0}
    if "max_count_per_user" in rule and user_count["count"] >= rule["max_count_per_user"]:
        raise invalid_request("用户领取已达到上限", field="openid", value=openid)
    if mode == "API_ASSIGN":
        if emu.store.get(COUPONS, f"{stock['stock_id']}|{code}") is not None:
            raise ApiError(400, "ALREADY_EXISTS", "coupon_code 冲突: 用户商品券Code冲突，请使用其他券Code")
    elif mode == "UPLOAD":
        if not stock["_codes"]:
            raise ApiError(403, "NOT_ENOUGH", "商品券批次预上传券Code剩余数量不足")
        code = stock["_codes"].pop(0)
        stock["coupon_code_count_info"]["available_count"] = len(stock["_codes"])
    else:
        code = f"{emu.store.next_id('pc_code', 800_000_000_001)}"
    assert code is not None
    period = (
        (stock.get("single_usage_rule") or stock.get("sequential_usage_rule") or {}).get("coupon_available_period")
    ) or {}
    coupon = {
        "coupon_code": code,
        "coupon_state": "CONFIRMING",
        "valid_begin_time": period.get("available_begin_time", rfc3339(now)),
        "valid_end_time": period.get("available_end_time", rfc3339(now + DEFAULT_VALIDITY)),
        "receive_time": rfc3339(now),
        "send_request_no": number,
        "send_channel": "API",
        "single_usage_detail": {},
        "brand_id": product["brand_id"],
        "product_coupon_id": product["product_coupon_id"],
        "stock_id": stock["stock_id"],
        "_openid": openid,
        "_appid": body.get("appid"),
    }
    for sent_field in ("attach", "coupon_tag_info"):  # answered back only when the send carried them
        if sent_field in body:
            coupon[sent_field] = body[sent_field]
    sent["total_count"] += 1
    user_count["count"] += 1
    emu.store.put(USER_COUNTS, user_key, user_count)
    per_day[today] = per_day.get(today, 0) + 1
    sent["today_count"] = per_day[today]
    emu.store.put(STOCKS, stock["stock_id"], stock)
    emu.store.put(COUPONS, f"{stock['stock_id']}|{code}", coupon)
    emu.ledger.issue(
        kind="product",
        coupon_id=code,
        stock_id=stock["stock_id"],
        openid=openid,
        request_no=number,
        mchid=call.mchid,
        at=coupon["receive_time"],
        product_coupon_id=product["product_coupon_id"],
    )
    return coupon


def _notify_sent(call: Call, coupon: dict[str, Any]) -> None:
    config = call.emu.store.get(NOTIFY, call.mchid)
    identity = call.emu.notification_identity(call.mchid)
    if config is None or identity is None:
        return
    # Top-level product_coupon_id / stock_id: the decrypted send resource's key fields per
    # wechatpay-skills (source below), beside the user coupon's nested product_coupon / stock.
    key, brand = identity
    resource = {
        **_coupon_view(call, coupon),
        "product_coupon_id": coupon["product_coupon_id"],
        "stock_id": coupon["stock_id"],
        "openid": coupon["_openid"],
        "appid": coupon.get("_appid"),
    }
    if brand:  # 品牌直连: PRODUCT_COUPON.SEND, encrypted with the brand API key (see _brand_product_coupon)
        from ._brand_product_coupon import brand_notification

        call.emu.notifier.send(config["notify_url"], brand_notification(call, resource, key))
        return
    # The official partner page (商品券回调通知, https://pay.weixin.qq.com/doc/v3/partner/4015780862,
    # 2025.08.21) gives the envelope: event_type PRODUCT_COUPON_SP.SEND (its only value, for service
    # providers, whose API this emulates), resource_type encrypt-resource, summary "商品券通知".
    # associated_data "product_coupon": wechatpay-apiv3/wechatpay-skills@15f40d070c503be7f02c3ebeb8dfb6b8274f3291
    # wechatpay-product-coupon/references/3-品牌与服务商通用/接入规范/回调处理.md (whose PRODUCT_COUPON.SEND
    # /.USE/.RETURN the SDK accepts too). original_type "product_coupon" is our choice (no source
    # names it), following the favor COUPON.USE pattern (original_type "coupon").
    envelope = call.emu.notifier.envelope(
        event_type="PRODUCT_COUPON_SP.SEND",
        summary="商品券通知",
        resource=resource,
        associated_data="product_coupon",
        original_type="product_coupon",
        apiv3_key=key,
    )
    call.emu.notifier.send(config["notify_url"], envelope)


async def send_coupon(call: Call) -> Any:
    call.emu.rate_limit(call.mchid, RATE_LIMIT_CODE)
    openid = call.params["openid"]
    brand_id = _brand(call)
    number = call.data.get("send_request_no", "")
    issued: list[dict[str, Any]] = []

    async def run() -> Any:
        product = _product(call, require_str(call.data, "product_coupon_id"), brand_id)
        stock = _stock(call, product["product_coupon_id"], require_str(call.data, "stock_id"))
        require_str(call.data, "appid")
        coupon = _issue(call, openid, product, stock, number)
        issued.append(coupon)
        return _coupon_view(call, coupon)

    answer = await _idempotent(call, "send", "send_request_no", run)
    call.emu.ledger.count("product", call.mchid, number, "processed")
    call.count_accepted("product", number)
    for coupon in issued:
        _notify_sent(call, coupon)
    return answer


def _user_coupon(call: Call, *, query: bool = False) -> dict[str, Any]:
    source = call.query if query else call.data
    location = "query" if query else "body"
    brand_id = require_str(source, "brand_id", location=location)
    product_coupon_id = require_str(source, "product_coupon_id", location=location)
    stock_id = require_str(source, "stock_id", location=location)
    appid = require_str(source, "appid", location=location)
    _product(call, product_coupon_id, brand_id)
    coupon = call.emu.store.get(COUPONS, f"{stock_id}|{call.params['coupon_code']}")
    if coupon is None or coupon["_openid"] != call.params["openid"] or coupon["product_coupon_id"] != product_coupon_id:
        raise _not_found(f"未找到用户商品券: {call.params['coupon_code']}")
    if coupon.get("_appid") not in (None, appid):
        raise _not_found(f"未找到用户商品券: {call.params['coupon_code']} (appid)")
    return coupon


async def get_user_coupon(call: Call) -> Any:
    return _coupon_view(call, _user_coupon(call, query=True))


async def list_user_coupons(call: Call) -> Any:
    q, openid = call.query, call.params["openid"]
    brand_id = require_str(q, "brand_id", location="query")
    require_str(q, "appid", location="query")
    coupons = [
        c
        for c in call.emu.store.values(COUPONS)
        if c["_openid"] == openid
        and c["brand_id"] == brand_id
        and (not q.get("product_coupon_id") or c["product_coupon_id"] == q["product_coupon_id"])
        and (not q.get("stock_id") or c["stock_id"] == q["stock_id"])
        and (not q.get("coupon_state") or c["coupon_state"] == q["coupon_state"])
    ]
    coupons.sort(key=lambda c: (c["receive_time"], c["coupon_code"]))
    page, token = _page_token(call, coupons, default_size=20)
    return _with_token({"total_count": len(coupons), "user_coupon_list": [_coupon_view(call, c) for c in page]}, token)


def _coupon_action(action: str) -> Callable[[Call], Awaitable[Any]]:
    async def handler(call: Call) -> Any:
        async def run() -> Any:
            coupon = _user_coupon(call)
            state = coupon["coupon_state"]
            now = rfc3339(call.emu.now())
            number = call.data["out_request_no"]
            detail = coupon.setdefault("single_usage_detail", {})
            if action == "confirm" and state == "CONFIRMING":
                coupon.update(coupon_state="EFFECTIVE", confirm_request_no=number, confirm_time=now)
            elif action == "use" and state == "EFFECTIVE":
                use_time = call.data.get("use_time")
                if parse_rfc3339(use_time) is None:
                    raise param_error("use_time", "must be an RFC 3339 time", use_time)
                require_obj(call.data, "associated_order_info")
                coupon["coupon_state"] = "USED"
                detail.update(
                    use_request_no=number, use_time=use_time, associated_order_info=call.data["associated_order_info"]
                )
                detail.pop("return_request_no", None)
                detail.pop("return_time", None)
            elif action == "return" and state == "USED":
                coupon["coupon_state"] = "EFFECTIVE"
                detail.update(return_request_no=number, return_time=now)
            elif action == "deactivate" and state in ("CONFIRMING", "PENDING", "EFFECTIVE"):
                coupon.update(
                    coupon_state="DEACTIVATED",
                    deactivate_request_no=number,
                    deactivate_time=now,
                    deactivate_reason=require_str(call.data, "deactivate_reason"),
                )
            else:
                raise invalid_request(
                    f"用户商品券状态不允许{action}: coupon {coupon['coupon_code']} is {state}",
                    field="coupon_code",
                    value=coupon["coupon_code"],
                    issue=f"cannot {action} a {state} coupon",
                )
            call.emu.store.put(COUPONS, f"{coupon['stock_id']}|{coupon['coupon_code']}", coupon)
            return _coupon_view(call, coupon)

        return await _idempotent(call, f"coupon_{action}", "out_request_no", run)

    handler.__name__ = f"{action}_user_coupon"
    return handler


async def send_bundle(call: Call) -> Any:
    call.emu.rate_limit(call.mchid, RATE_LIMIT_CODE)
    openid = call.params["openid"]
    number = call.data.get("send_request_no", "")
    issued: list[dict[str, Any]] = []

    async def run() -> Any:
        product = _product(call, require_str(call.data, "product_coupon_id"), _brand(call))
        bundle = _bundle(call, product["product_coupon_id"], require_str(call.data, "stock_bundle_id"))
        stocks = [_stock(call, product["product_coupon_id"], sid) for sid in bundle["stock_ids"]]
        for stock in stocks:  # check every stock first: a bundle is sent whole or not at all
            if stock["sent_count_info"]["total_count"] >= stock["stock_send_rule"]["max_count"]:
                raise ApiError(403, "NOT_ENOUGH", "商品券批次发放预算不足")
        coupons = [_issue(call, openid, product, stock, f"{number}#{i}") for i, stock in enumerate(stocks)]
        issued.extend(coupons)
        bundle_id = f"UB{call.emu.store.next_id('pc_user_bundle', 1):010d}"
        for index, coupon in enumerate(coupons):  # for user_product_coupon_bundle_info
            coupon.update(_bundle_id=bundle_id, _bundle_index=index)
            call.emu.store.put(COUPONS, f"{coupon['stock_id']}|{coupon['coupon_code']}", coupon)
        call.emu.store.put(
            USER_BUNDLES,
            bundle_id,
            {"openid": openid, "coupons": [f"{c['stock_id']}|{c['coupon_code']}" for c in coupons]},
        )
        return {
            "user_coupon_bundle_id": bundle_id,
            "user_product_coupon_list": [_coupon_view(call, c) for c in coupons],
        }

    answer = await _idempotent(call, "send_bundle", "send_request_no", run)
    for coupon in issued:
        _notify_sent(call, coupon)
    return answer


async def deactivate_bundle(call: Call) -> Any:
    async def run() -> Any:
        _product(call, require_str(call.data, "product_coupon_id"), _brand(call))
        record = call.emu.store.get(USER_BUNDLES, call.params["user_coupon_bundle_id"])
        if record is None or record["openid"] != call.params["openid"]:
            raise _not_found(f"未找到用户商品券组: {call.params['user_coupon_bundle_id']}")
        now = rfc3339(call.emu.now())
        views = []
        for key in record["coupons"]:
            coupon = call.emu.store.get(COUPONS, key)
            if coupon is None:
                continue
            if coupon["coupon_state"] in ("CONFIRMING", "PENDING", "EFFECTIVE"):
                coupon.update(
                    coupon_state="DEACTIVATED",
                    deactivate_request_no=call.data["out_request_no"],
                    deactivate_time=now,
                    deactivate_reason=require_str(call.data, "deactivate_reason"),
                )
                call.emu.store.put(COUPONS, key, coupon)
            views.append(_coupon_view(call, coupon))
        return {"user_coupon_bundle_id": call.params["user_coupon_bundle_id"], "user_product_coupon_list": views}

    return await _idempotent(call, "deactivate_bundle", "out_request_no", run)


def _pre_send(bundle: bool) -> Callable[[Call], Awaitable[Any]]:
    async def handler(call: Call) -> Any:
        async def run() -> Any:
            product = _product(call, require_str(call.data, "product_coupon_id"), _brand(call))
            if bundle:
                _bundle(call, product["product_coupon_id"], require_str(call.data, "stock_bundle_id"))
            else:
                _stock(call, product["product_coupon_id"], require_str(call.data, "stock_id"))
            token = secrets.token_urlsafe(24)
            call.emu.store.put(TOKENS, token, {"openid": call.params["openid"], **call.data})
            return {"token": token}

        return await _idempotent(call, "pre_send_bundle" if bundle else "pre_send", "send_request_no", run)

    return handler


# -- settings and media --------------------------------------------------------------------------
async def set_notify_config(call: Call) -> Any:
    url = call.emu.check_notify_url(call.data.get("notify_url"))
    doc = {"notify_url": url, "update_time": rfc3339(call.emu.now())}
    call.emu.store.put(NOTIFY, call.mchid, doc)
    return doc


async def get_notify_config(call: Call) -> Any:
    doc = call.emu.store.get(NOTIFY, call.mchid)
    if doc is None:
        raise _not_found("未设置商品券事件通知地址")
    return doc


async def upload_image(call: Call) -> Any:
    return {"image_url": store_image(call)}


async def create_image_task(call: Call) -> Any:
    body = call.data
    brand_id = _brand(call)
    task_id = require_str(body, "task_id", max_len=64)
    kind = _enum(body, "image_generation_type", ("COMBINE_IMAGE", "CUT_OUT"))
    key = f"{brand_id}|{task_id}"
    if call.emu.store.get(TASKS, key) is None:
        result_field = "combine_image_result" if kind == "COMBINE_IMAGE" else "cut_out_result"
        call.emu.store.put(
            TASKS,
            key,
            {
                "brand_id": brand_id,
                "task_id": task_id,
                "image_generation_type": kind,
                "task_state": "SUCCESS",
                result_field: {"image_url": f"{call.origin}/_emulator/media/generated-{task_id}"},
            },
        )
    return {"task_id": task_id, "brand_id": brand_id}


async def get_image_task(call: Call) -> Any:
    brand_id = _brand(call, query=True)
    task = call.emu.store.get(TASKS, f"{brand_id}|{call.params['task_id']}")
    if task is None or task["image_generation_type"] != call.query.get("image_generation_type"):
        raise _not_found(f"未找到图片生成任务: {call.params['task_id']}")
    return task


P = f"{BASE}/product-coupons/{{product_coupon_id}}"
U = f"{BASE}/users/{{openid}}"
ROUTES: list[Route] = [
    ("POST", f"{BASE}/product-coupons", create_product_coupon),
    ("GET", P, get_product_coupon),
    ("PATCH", P, patch_product_coupon),
    ("POST", f"{P}/deactivate", deactivate_product_coupon),
    ("POST", f"{P}/stocks", create_stock),
    ("GET", f"{P}/stocks", list_stocks),
    ("GET", f"{P}/stocks/{{stock_id}}", get_stock),
    ("PATCH", f"{P}/stocks/{{stock_id}}", patch_stock),
    ("POST", f"{P}/stocks/{{stock_id}}/deactivate", deactivate_stock),
    ("POST", f"{P}/stocks/{{stock_id}}/update-budget", update_stock_budget),
    ("POST", f"{P}/stocks/{{stock_id}}/upload-coupon-codes", upload_codes),
    ("POST", f"{P}/stocks/{{stock_id}}/associate-stores", _stores(True, False)),
    ("POST", f"{P}/stocks/{{stock_id}}/disassociate-stores", _stores(False, False)),
    ("GET", f"{P}/stocks/{{stock_id}}/associated-stores", associated_stores),
    ("POST", f"{P}/stock-bundles", create_bundle),
    ("PATCH", f"{P}/stock-bundles/{{stock_bundle_id}}", patch_bundle),
    ("POST", f"{P}/stock-bundles/{{stock_bundle_id}}/associate-stores", _stores(True, True)),
    ("POST", f"{P}/stock-bundles/{{stock_bundle_id}}/disassociate-stores", _stores(False, True)),
    ("POST", f"{P}/stock-bundles/{{stock_bundle_id}}/update-budget", update_bundle_budget),
    ("POST", f"{U}/coupons", send_coupon),
    ("GET", f"{U}/coupons", list_user_coupons),
    ("GET", f"{U}/coupons/{{coupon_code}}", get_user_coupon),
    *[
        ("POST", f"{U}/coupons/{{coupon_code}}/{a}", _coupon_action(a))
        for a in ("confirm", "use", "return", "deactivate")
    ],
    ("POST", f"{U}/coupon-bundles", send_bundle),
    ("POST", f"{U}/coupon-bundles/{{user_coupon_bundle_id}}/deactivate", deactivate_bundle),
    ("POST", f"{U}/pre-send-coupon", _pre_send(False)),
    ("POST", f"{U}/pre-send-coupon-bundle", _pre_send(True)),
    ("POST", f"{BASE}/notify-configs", set_notify_config),
    ("GET", f"{BASE}/notify-configs", get_notify_config),
    ("POST", f"{BASE}/media/upload-image", upload_image),
    ("POST", f"{BASE}/image-generation-tasks", create_image_task),
    ("GET", f"{BASE}/image-generation-tasks/{{task_id}}", get_image_task),
]
