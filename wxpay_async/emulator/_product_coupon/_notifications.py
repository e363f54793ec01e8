"""Where product-coupon notifications go (notify configs) and the ``PRODUCT_COUPON_SP.SEND`` notification.

Sources: the official partner page 商品券回调通知 (https://pay.weixin.qq.com/doc/v3/partner/4015780862) and
wechatpay-apiv3/wechatpay-skills@15f40d070c503be7f02c3ebeb8dfb6b8274f3291
wechatpay-product-coupon/references/3-品牌与服务商通用/接入规范/回调处理.md.
"""

from __future__ import annotations

from typing import Any

from .._call import Call
from .._clock import rfc3339
from ._common import NOTIFY, _not_found
from ._views import _coupon_view


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
        from .._brand_product_coupon import brand_notification

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
