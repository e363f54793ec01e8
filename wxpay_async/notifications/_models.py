"""Typed notification resources, the event types they belong to, and :class:`Notification`."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import attrs

from .._converter import converter
from ._errors import MalformedNotificationError


@attrs.frozen(kw_only=True)
class NormalCouponInformation:
    coupon_amount: int
    transaction_minimum: int
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class ConsumeInformation:
    consume_time: dt.datetime
    consume_mchid: str
    transaction_id: str
    goods_detail: list[dict[str, Any]] = attrs.field(factory=list)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class CouponUseResource:
    """COUPON.USE: a user paid with a cash coupon."""

    stock_creator_mchid: str
    stock_id: str
    coupon_id: str
    coupon_name: str | None = None
    status: str | None = None
    description: str | None = None
    create_time: dt.datetime | None = None
    coupon_type: str | None = None
    no_cash: bool | None = None
    available_begin_time: dt.datetime | None = None
    available_end_time: dt.datetime | None = None
    singleitem: bool | None = None
    singleitem_discount_off: dict[str, Any] | None = None
    discount_to: dict[str, Any] | None = None
    normal_coupon_information: NormalCouponInformation | None = None
    consume_information: ConsumeInformation | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


# Product-coupon event types. Sources (read 2026-12-04):
# - the partner API reference page 商品券回调通知, https://pay.weixin.qq.com/doc/v3/partner/4015780862
#   (updated 2025.08.21): event_type enum ``PRODUCT_COUPON_SP.SEND`` (商品券领券通知), the only value
#   it lists, for service providers (the /v3/marketing/partner/product-coupon API this SDK calls);
# - wechatpay-apiv3/wechatpay-skills@15f40d070c503be7f02c3ebeb8dfb6b8274f3291:
#   wechatpay-product-coupon/references/3-品牌与服务商通用/接入规范/回调处理.md, a guide common to
#   brands and service providers: ``PRODUCT_COUPON.SEND`` (发券通知), ``PRODUCT_COUPON.USE`` (核销通知),
#   ``PRODUCT_COUPON.RETURN`` (退券通知), associated_data ``product_coupon``, and the decrypted send
#   resource's key fields (coupon_code, product_coupon_id, stock_id, openid, unionid, send_channel,
#   send_request_no, receive_time, valid_begin_time / valid_end_time).
# Every one of them is accepted with a typed model; no official page gives the USE/RETURN resource's
# fields, so those models type the user coupon's identifying fields and keep the rest in ``extra``.

#: Product-coupon send notification of the partner API (the official reference page's only value).
PRODUCT_COUPON_SP_SEND = "PRODUCT_COUPON_SP.SEND"
#: Product-coupon event types named by wechatpay-skills' guide for brands and service providers.
PRODUCT_COUPON_SEND = "PRODUCT_COUPON.SEND"
PRODUCT_COUPON_USE = "PRODUCT_COUPON.USE"
PRODUCT_COUPON_RETURN = "PRODUCT_COUPON.RETURN"


@attrs.frozen(kw_only=True)
class ProductCouponSendResource:
    """PRODUCT_COUPON_SP.SEND / PRODUCT_COUPON.SEND: a product coupon reached a user.

    Confirm it (``product_coupon.confirm_coupon``) or it never takes effect.
    """

    coupon_code: str
    coupon_state: str | None = None
    openid: str | None = None
    unionid: str | None = None
    brand_id: str | None = None
    product_coupon_id: str | None = None
    stock_id: str | None = None
    send_request_no: str | None = None
    send_channel: str | None = None
    valid_begin_time: dt.datetime | None = None
    valid_end_time: dt.datetime | None = None
    receive_time: dt.datetime | None = None
    attach: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class ProductCouponUseResource:
    """PRODUCT_COUPON.USE: a user's product coupon was used (核销). Other fields are in ``extra``."""

    coupon_code: str
    coupon_state: str | None = None
    openid: str | None = None
    unionid: str | None = None
    brand_id: str | None = None
    product_coupon_id: str | None = None
    stock_id: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class ProductCouponReturnResource:
    """PRODUCT_COUPON.RETURN: a user's product coupon was returned (退券). Other fields are in ``extra``."""

    coupon_code: str
    coupon_state: str | None = None
    openid: str | None = None
    unionid: str | None = None
    brand_id: str | None = None
    product_coupon_id: str | None = None
    stock_id: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


RESOURCE_MODELS: dict[str, type[Any]] = {
    "COUPON.USE": CouponUseResource,
    PRODUCT_COUPON_SP_SEND: ProductCouponSendResource,
    PRODUCT_COUPON_SEND: ProductCouponSendResource,
    PRODUCT_COUPON_USE: ProductCouponUseResource,
    PRODUCT_COUPON_RETURN: ProductCouponReturnResource,
}


@attrs.frozen(kw_only=True)
class Notification:
    """A verified notification: the envelope fields and the decrypted resource."""

    id: str
    create_time: dt.datetime
    event_type: str
    resource_type: str
    summary: str
    resource: dict[str, Any] = attrs.field(repr=False)
    original_type: str | None = None

    @property
    def model(self) -> Any:
        """The resource as its typed model (``CouponUseResource``...), or the dict when unknown."""
        model = RESOURCE_MODELS.get(self.event_type)
        return _structure(self.resource, model) if model else self.resource

    @property
    def coupon_use(self) -> CouponUseResource:
        return _structure(self.resource, CouponUseResource)

    @property
    def product_coupon_send(self) -> ProductCouponSendResource:
        return _structure(self.resource, ProductCouponSendResource)

    @property
    def product_coupon_use(self) -> ProductCouponUseResource:
        return _structure(self.resource, ProductCouponUseResource)

    @property
    def product_coupon_return(self) -> ProductCouponReturnResource:
        return _structure(self.resource, ProductCouponReturnResource)


_M = TypeVar("_M")


def _structure(resource: dict[str, Any], model: type[_M]) -> _M:
    """The typed model, or MalformedNotificationError when the resource does not fit it."""
    try:
        return converter.structure(resource, model)
    except Exception as exc:  # cattrs raises ClassValidationError/KeyError/ValueError/TypeError
        raise MalformedNotificationError(f"resource does not fit {model.__name__}: {type(exc).__name__}") from None
