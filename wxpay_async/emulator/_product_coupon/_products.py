"""Product coupons themselves (``/product-coupons``): create (with a first stock), get, patch, deactivate.

Sources: answers are ``ProductCouponEntity`` / ``StockEntity`` of the send-to-user page
(/work/shared/seeds/product-coupon-send-to-user.txt).
"""

from __future__ import annotations

from typing import Any

from .._call import Call
from .._clock import rfc3339
from .._errors import invalid_request
from .._validate import require_obj, require_str
from ._common import PRODUCT_FIELDS, PRODUCTS, STOCK_FIELDS, STOCKS, _brand, _entity, _enum, _idempotent, _product
from ._stocks import _new_stock

SCOPES = ("ALL", "SINGLE", "CATEGORY")
TYPES = ("NORMAL", "DISCOUNT", "EXCHANGE")
USAGE_MODES = ("SINGLE", "SEQUENTIAL", "PROGRESSIVE_BUNDLE")


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
