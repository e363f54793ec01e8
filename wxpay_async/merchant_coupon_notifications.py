"""The merchant-coupon ``COUPON.SEND`` notification (商家券领券事件回调通知), typed.

WeChat Pay posts it to the URL set with ``client.merchant_coupon.set_callbacks`` when a user gets a
merchant coupon (by the API, the mini-program plugin, H5, 支付有礼...). No official SDK has a model
for it; the fields are those of the official page (https://pay.weixin.qq.com/wiki/doc/apiv3/apis/
chapter9_2_15.shtml), which could not be read here, as two independent transcriptions give them:

- wechatpay-im/website@df908943a804ff79afe2147985a6f8b3fa07a070:webhook/v3/COUPON.SEND.md (the
  wechatpay-php maintainers' page: the plaintext example and its typedef, ``attach_info`` an object);
- JeffreySu/WeiXinMPSDK ``BusifavorNotifyJson`` (Senparc, citing chapter9_2_15: each field's 示例值,
  ``openid``/``unionid``/``attach_info`` "可为null", and the ``attach_info`` members by channel).

The model is registered for ``COUPON.SEND`` in :data:`wxpay_async.notifications.RESOURCE_MODELS`,
so ``notification.model`` answers it; :func:`merchant_coupon_send` structures one explicitly. Parsing is lenient: unknown
fields are kept in ``extra``, a missing one is None (the SDK's converter).
"""

from __future__ import annotations

from ._converter import converter
from .notifications import MalformedNotificationError, Notification
from .notifications._merchant_coupon import (
    BUSINESS_EVENT_TYPE,
    EVENT_TYPE,
    SEND_CHANNELS,
    MerchantCouponSendAttachInfo,
    MerchantCouponSendResource,
)

__all__ = [
    "BUSINESS_EVENT_TYPE",
    "EVENT_TYPE",
    "SEND_CHANNELS",
    "MerchantCouponSendAttachInfo",
    "MerchantCouponSendResource",
    "merchant_coupon_send",
]


def merchant_coupon_send(notification: Notification) -> MerchantCouponSendResource:
    """The verified ``COUPON.SEND`` notification's resource, typed.

    Raises MalformedNotificationError for another event type or a resource that does not fit.
    """
    if notification.event_type != EVENT_TYPE:
        raise MalformedNotificationError(f"not a {EVENT_TYPE} notification: {notification.event_type}")
    try:
        return converter.structure(notification.resource, MerchantCouponSendResource)
    except Exception as exc:  # cattrs raises ClassValidationError/KeyError/ValueError/TypeError
        raise MalformedNotificationError(
            f"resource does not fit MerchantCouponSendResource: {type(exc).__name__}"
        ) from None
