"""Stores associated with a stock or a stock bundle: associate, disassociate, list.

The moved code cites no source of its own (see the package docstring for the family's).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .._call import Call
from .._errors import param_error
from ._common import STOCKS, _brand, _bundle, _page_token, _product, _stock, _with_token


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
