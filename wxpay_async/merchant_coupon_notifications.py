"""The merchant-coupon ``COUPON.SEND`` notification (商家券领券事件回调通知), typed.

WeChat Pay posts it to the URL set with ``client.merchant_coupon.set_callbacks`` when a user gets a
merchant coupon (by the API, the mini-program plugin, H5, 支付有礼...). No official SDK has a model
for it; the fields are those of the official page (https://pay.weixin.qq.com/wiki/doc/apiv3/apis/
chapter9_2_15.shtml), which could not be read here, as two independent transcriptions give them:

- wechatpay-im/website@df908943a804ff79afe2147985a6f8b3fa07a070:webhook/v3/COUPON.SEND.md (the
  wechatpay-php maintainers' page: the plaintext example and its typedef, ``attach_info`` an object);
- JeffreySu/WeiXinMPSDK ``BusifavorNotifyJson`` (Senparc, citing chapter9_2_15: each field's 示例值,
  ``openid``/``unionid``/``attach_info`` "可为null", and the ``attach_info`` members by channel).

Importing this module registers the model for ``COUPON.SEND`` in
:data:`wxpay_async.notifications.RESOURCE_MODELS`, so ``notification.model`` answers it;
:func:`merchant_coupon_send` structures one notification explicitly. Parsing is lenient: unknown
fields are kept in ``extra``, a missing one is None (the SDK's converter).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from ._converter import converter
from .notifications import RESOURCE_MODELS, MalformedNotificationError, Notification

__all__ = [
    "EVENT_TYPE",
    "SEND_CHANNELS",
    "MerchantCouponSendAttachInfo",
    "MerchantCouponSendResource",
    "merchant_coupon_send",
]

#: The envelope's ``event_type``; the resource's own ``event_type`` is ``EVENT_TYPE_BUSICOUPON_SEND``.
EVENT_TYPE = "COUPON.SEND"
BUSINESS_EVENT_TYPE = "EVENT_TYPE_BUSICOUPON_SEND"

#: ``send_channel`` values the sources list (an unknown one is kept as it is).
SEND_CHANNELS = (
    "BUSICOUPON_SEND_CHANNEL_MINIAPP",
    "BUSICOUPON_SEND_CHANNEL_API",
    "BUSICOUPON_SEND_CHANNEL_PAYGIFT",
    "BUSICOUPON_SEND_CHANNEL_H5",
    "BUSICOUPON_SEND_CHANNEL_FTOF",
    "BUSICOUPON_SEND_CHANNEL_MEMBERCARD_ACT",
    "BUSICOUPON_SEND_CHANNEL_HALL",
    "BUSICOUPON_SEND_CHANNEL_JSAPI",
    "BUSICOUPON_SEND_CHANNEL_MINI_APP_LIVE",
    "BUSICOUPON_SEND_CHANNEL_WECHAT_SEARCH",
    "BUSICOUPON_SEND_CHANNEL_PAY_HAS_DISCOUNT",
    "BUSICOUPON_SEND_CHANNEL_WECHAT_AD",
    "BUSICOUPON_SEND_CHANNEL_RIGHTS_PLATFORM",
    "BUSICOUPON_SEND_CHANNEL_RECEIVE_MONEY_GIFT",
    "BUSICOUPON_SEND_CHANNEL_MEMBER_PAY_RIGHT",
    "BUSICOUPON_SEND_CHANNEL_BUSI_SMART_RETAIL",
    "BUSICOUPON_SEND_CHANNEL_FINDER_LIVEROOM",
)


@attrs.frozen(kw_only=True)
class MerchantCouponSendAttachInfo:
    """``attach_info``: only for 支付有礼, 扫码领券（营销馆） and 会员卡活动 sends."""

    transaction_id: str | None = None  # 支付有礼: the payment that showed the gift
    act_code: str | None = None  # 支付有礼 activity, or the 营销馆 activity
    hall_code: str | None = None  # 营销馆
    hall_belong_mch_id: int | None = None  # 营销馆 owner merchant
    card_id: str | None = None  # 会员卡活动: the member card
    code: str | None = None  # 会员卡活动: the user's member-card code
    activity_id: str | None = None  # 会员卡活动: the member activity
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class MerchantCouponSendResource:
    """COUPON.SEND (merchant coupons): a user got a merchant coupon."""

    coupon_code: str
    event_type: str | None = None  # EVENT_TYPE_BUSICOUPON_SEND
    stock_id: str | None = None
    send_time: dt.datetime | None = None
    openid: str | None = None
    unionid: str | None = None
    send_channel: str | None = None
    send_merchant: str | None = None
    attach_info: MerchantCouponSendAttachInfo | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


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


RESOURCE_MODELS.setdefault(EVENT_TYPE, MerchantCouponSendResource)
