"""Shared ground of the product-coupon modules: store names, entity field lists, lookups, idempotency, paging.

Sources: the official send-to-user page (/work/shared/seeds/product-coupon-send-to-user.txt): Go models
``ProductCouponEntity`` and ``StockEntity`` (field lists), its error table (404 NOT_FOUND, 400 ALREADY_EXISTS,
429 RATELIMIT_EXCEEDED).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .._call import Call
from .._errors import ApiError, param_error
from .._idempotency import answer_once
from .._validate import request_no, require_str

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
    return await answer_once(
        call, REQUESTS, f"{op}|{call.data.get('brand_id', call.mchid)}|{number}", field, number, run
    )


def _owned(call: Call, collection: str, doc_id: str, owner_field: str, owner: str, missing: str) -> dict[str, Any]:
    """The document ``doc_id`` of ``collection`` if its ``owner_field`` is ``owner``; else 404 NOT_FOUND."""
    doc = call.emu.store.get(collection, doc_id)
    if doc is None or doc[owner_field] != owner:
        raise _not_found(missing)
    return doc


def _product(call: Call, product_coupon_id: str, brand_id: str) -> dict[str, Any]:
    missing = f"未找到 product_coupon_id 对应的商品券: {product_coupon_id}"
    return _owned(call, PRODUCTS, product_coupon_id, "brand_id", brand_id, missing)


def _stock(call: Call, product_coupon_id: str, stock_id: str) -> dict[str, Any]:
    missing = f"未找到 stock_id 对应的商品券批次: {stock_id}"
    return _owned(call, STOCKS, stock_id, "product_coupon_id", product_coupon_id, missing)


def _bundle(call: Call, product_coupon_id: str, bundle_id: str) -> dict[str, Any]:
    missing = f"未找到 stock_bundle_id 对应的商品券批次组: {bundle_id}"
    return _owned(call, BUNDLES, bundle_id, "product_coupon_id", product_coupon_id, missing)


def _brand(call: Call, *, query: bool = False) -> str:
    source = call.query if query else call.data
    return require_str(source, "brand_id", location="query" if query else "body")


def _entity(doc: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: doc[k] for k in (*fields, *LEGACY_FIELDS) if doc.get(k) is not None}


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
