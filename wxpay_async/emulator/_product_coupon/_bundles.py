"""Stock bundles (``/stock-bundles``): create, patch and budget updates of a bundle's stocks.

Sources: stocks are answered as ``StockEntity`` of the send-to-user page
(/work/shared/seeds/product-coupon-send-to-user.txt).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._call import Call, Handler
from .._validate import require_obj
from ._common import BUNDLES, STOCK_FIELDS, STOCKS, _brand, _bundle, _entity, _idempotent, _product
from ._stocks import _apply_budget, _edit, _new_stock


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


def _bundle_change(op: str, change: Callable[[Call, dict[str, Any]], None], name: str) -> Handler:
    """An idempotent change of every stock of the path's bundle, answered as the bundle."""

    async def handler(call: Call) -> Any:
        async def run() -> Any:
            _product(call, call.params["product_coupon_id"], _brand(call))
            bundle = _bundle(call, call.params["product_coupon_id"], call.params["stock_bundle_id"])
            for sid in bundle["stock_ids"]:
                stock = call.emu.store.get(STOCKS, sid)
                if stock is not None:
                    change(call, stock)
            return _bundle_view(call, bundle)

        return await _idempotent(call, op, "out_request_no", run)

    handler.__name__ = name
    return handler


patch_bundle = _bundle_change("patch_bundle", _edit, "patch_bundle")
update_bundle_budget = _bundle_change("bundle_budget", _apply_budget, "update_bundle_budget")
