"""Shared ground of the cash-coupon modules: store names, stock states, rate-limit code, stock lookup, paging.

Sources: state strings from wechatpay-go ``services/cashcoupons/models.go`` (``Stock.status``, misspelt
``stoped`` included); FREQUENCY_LIMIT_EXCEED from the official send error table as quoted by our issue
tracker; 404 RESOURCE_NOT_EXISTS is our choice (tests/official/FINDINGS-favor.md).
"""

from __future__ import annotations

from typing import Any

from .._call import Call
from .._errors import ApiError
from .._validate import query_int

BASE = "/v3/marketing/favor"
STOCKS = "favor_stocks"
COUPONS = "favor_coupons"
STOCK_REQUESTS = "favor_stock_requests"
SEND_REQUESTS = "favor_send_requests"
USER_COUNTS = "favor_user_counts"
CALLBACKS = "favor_callbacks"

UNACTIVATED, RUNNING, PAUSED, STOPPED = "unactivated", "running", "paused", "stoped"
#: Rate-limit code of the cash-coupon APIs (official send error table as quoted by our issue tracker).
RATE_LIMIT_CODE = "FREQUENCY_LIMIT_EXCEED"


def _stock(call: Call, stock_id: str, creator: str | None = None) -> dict[str, Any]:
    stock = call.emu.store.get(STOCKS, stock_id)
    if stock is None or (creator is not None and stock["stock_creator_mchid"] != creator):
        raise ApiError(404, "RESOURCE_NOT_EXISTS", f"批次不存在: stock {stock_id}")
    return stock


def _page(call: Call, items: list[Any], *, max_limit: int, default_limit: int | None) -> tuple[int, int, list[Any]]:
    offset = query_int(call.query, "offset", 0 if default_limit is not None else None, maximum=10**9)
    limit = query_int(call.query, "limit", default_limit, minimum=1, maximum=max_limit)
    return offset, limit, items[offset : offset + limit]
