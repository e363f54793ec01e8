"""Product coupons (``/v3/marketing/partner/product-coupon``): products, stocks, sends, a coupon state machine.

User coupon states: a send answers ``CONFIRMING`` and delivers ``PRODUCT_COUPON_SP.SEND`` to the notify-config
URL; ``confirm`` makes it ``EFFECTIVE``; ``use`` → ``USED``; ``return`` → ``EFFECTIVE``; ``deactivate`` (from
CONFIRMING/EFFECTIVE) → ``DEACTIVATED``. Anything else: 400 INVALID_REQUEST. Errors follow the send-to-user
seed: 400 PARAM_ERROR / INVALID_REQUEST / ALREADY_EXISTS (request number or coupon_code reused with different
content), 403 NOT_ENOUGH (budget or uploaded codes), 404 NOT_FOUND, 429 RATELIMIT_EXCEEDED; 500 SYSTEM_ERROR
comes from fault injection. The per-user limit is 400 INVALID_REQUEST "用户领取已达到上限" (the same table lists it
under INVALID_REQUEST). Source: the official send-to-user page,
/work/shared/seeds/product-coupon-send-to-user.txt, summarised in tests/official/FINDINGS-product-coupon.md
§3.send_coupon. User-coupon answers are built in the shape of that page's Go model ``UserProductCouponEntity``
(with ``ProductCouponEntity`` and ``StockEntity`` nested): request-only fields (``appid``, ``openid``,
``product_coupon_id``/``stock_id`` at the top level, ``out_request_no``) are never echoed. Every POST/PATCH
carrying ``out_request_no``/``send_request_no`` is idempotent: the same number with the same body answers the
first answer again.
"""

from __future__ import annotations

from .._call import Route
from ._bundles import create_bundle, patch_bundle, update_bundle_budget
from ._common import BASE, RATE_LIMIT_CODE
from ._coupon_actions import _coupon_action, deactivate_bundle
from ._images import create_image_task, get_image_task, upload_image
from ._notifications import get_notify_config, set_notify_config
from ._products import create_product_coupon, deactivate_product_coupon, get_product_coupon, patch_product_coupon
from ._sends import _pre_send, send_bundle, send_coupon
from ._stocks import (
    create_stock,
    deactivate_stock,
    get_stock,
    list_stocks,
    patch_stock,
    update_stock_budget,
    upload_codes,
)
from ._stores import _stores, associated_stores
from ._user_coupons import get_user_coupon, list_user_coupons

__all__ = ["BASE", "RATE_LIMIT_CODE", "ROUTES"]

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
