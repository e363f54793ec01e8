"""Cash coupons (``/v3/marketing/favor``): stocks with a real lifecycle, sends with budgets and idempotency.

Answers are built field by field in the official shapes of wechatpay-go's ``services/cashcoupons/models.go``
(``Stock``/``StockUseRule``/``FixedValueStockMsg`` for stocks, ``Coupon`` for user coupons,
``{Start,Pause,Restart,Stop}StockResponse``, ``ModifyAvailableSingleitemResponse``); request-only fields of
the creation body (``natural_person_limit``, ``prevent_api_abuse``, ``pattern_info``, ``belong_merchant``,
``comment``, ``out_request_no``...) are never echoed. Lifecycle (wechatpay-go ``services/cashcoupons`` package
doc, /work/shared/seeds/cashcoupons-go-package-doc.txt): start needs a created, never activated stock
(StartStock "前置条件：成功创建代金券批次"); pause needs an activated, running stock (PauseStock "前置条件：成功激活代金券批次"); restart
needs a paused stock (RestartStock "且批次处于暂停状态"); stop only ends a stock that was never activated (StopStock
"终止未激活的代金券批次；前置条件：……且批次未激活"). Error codes, with their sources (where the sources are silent the choice is ours
and says so): - validation: 400 PARAM_ERROR with ``detail.field`` (every official error table starts with it)
- stock not found / not the caller's: 404 RESOURCE_NOT_EXISTS (our choice: the favor error tables could not be
read, see tests/official/FINDINGS-favor.md) - illegal lifecycle transition, stock not running, outside its
time window: 400 INVALID_REQUEST ("活动未开始或已结束" for the time window, as in the developer guide's FAQ;
INVALID_REQUEST is the generic "does not fit the business rules" code of every official table) - budget
(max_coupons or max_amount) used up: 403 NOT_ENOUGH (official send error tables, as in
product-coupon-send-to-user.txt "403 NOT_ENOUGH 批次发放预算不足") - per-user limit (max_coupons_per_user) reached:
403 RULE_LIMIT (the official cash-coupon send page's error table as quoted by our issue tracker; the page
itself could not be read here. The same table has 403 REQUEST_BLOCKED for risk-blocked users, which the
emulator never produces) - same ``out_request_no`` with a different body: 400 ALREADY_EXISTS (a replay with
the same body answers 200 with the same ``coupon_id`` / ``stock_id``) - send rate above ``send_rate`` per
merchant: 429 FREQUENCY_LIMIT_EXCEED (the same quoted table) Status strings are WeChat Pay's own, including
the misspelt ``stoped`` (Stock.status comment:
"unactivated-未激活;audit-审核中;running-运行中;stoped-已停止;paused-暂停发放").
"""

from __future__ import annotations

from .._call import Route
from ._callbacks import get_callback, set_callback
from ._common import BASE, PAUSED, RATE_LIMIT_CODE, RUNNING, STOPPED, UNACTIVATED
from ._coupons import list_user_coupons, query_coupon, send_coupon
from ._flows import DOWNLOAD_PATH, _flow, download_file
from ._media import upload_image
from ._stocks import (
    TRANSITIONS,
    _transition,
    create_stock,
    list_items,
    list_merchants,
    list_stocks,
    modify_goods,
    query_stock,
)
from ._usage import refund_coupon, use_coupon

__all__ = [
    "DOWNLOAD_PATH",
    "PAUSED",
    "RATE_LIMIT_CODE",
    "ROUTES",
    "RUNNING",
    "STOPPED",
    "TRANSITIONS",
    "UNACTIVATED",
    "refund_coupon",
    "use_coupon",
]

ROUTES: list[Route] = [
    ("POST", f"{BASE}/coupon-stocks", create_stock),
    ("GET", f"{BASE}/stocks", list_stocks),
    ("GET", f"{BASE}/stocks/{{stock_id}}", query_stock),
    *[("POST", f"{BASE}/stocks/{{stock_id}}/{action}", _transition(action)) for action in TRANSITIONS],
    ("GET", f"{BASE}/stocks/{{stock_id}}/merchants", list_merchants),
    ("GET", f"{BASE}/stocks/{{stock_id}}/items", list_items),
    ("POST", f"{BASE}/stocks/{{stock_id}}/modify-goods-id", modify_goods),
    ("GET", f"{BASE}/stocks/{{stock_id}}/use-flow", _flow("use", False)),
    ("GET", f"{BASE}/stocks/{{stock_id}}/use-flow-by-day", _flow("use", True)),
    ("GET", f"{BASE}/stocks/{{stock_id}}/refund-flow", _flow("refund", False)),
    ("GET", f"{BASE}/stocks/{{stock_id}}/refund-flow-by-day", _flow("refund", True)),
    ("POST", f"{BASE}/users/{{openid}}/coupons", send_coupon),
    ("GET", f"{BASE}/users/{{openid}}/coupons", list_user_coupons),
    ("GET", f"{BASE}/users/{{openid}}/coupons/{{coupon_id}}", query_coupon),
    ("POST", f"{BASE}/callbacks", set_callback),
    ("GET", f"{BASE}/callbacks", get_callback),
    ("POST", f"{BASE}/media/image-upload", upload_image),
    ("GET", DOWNLOAD_PATH, download_file),
]
