"""The merchant-coupon ``COUPON.SEND`` resource (商家券领券事件回调通知): sources in
``wxpay_async.merchant_coupon_notifications``, which also structures one explicitly."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

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
