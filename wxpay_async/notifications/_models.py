"""Typed notification resources, the event types they belong to, and :class:`Notification`."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import attrs

from .._converter import converter
from ._errors import MalformedNotificationError, NotificationEventError
from ._merchant_coupon import EVENT_TYPE as MERCHANT_COUPON_SEND
from ._merchant_coupon import MerchantCouponSendResource


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
#: The event types a brand that connects directly (品牌直连) receives (回调处理.md, 回调事件类型).
BRAND_EVENT_TYPES = (PRODUCT_COUPON_SEND, PRODUCT_COUPON_USE, PRODUCT_COUPON_RETURN)


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
    MERCHANT_COUPON_SEND: MerchantCouponSendResource,  # 商家券 COUPON.SEND (merchant_coupon_notifications)
}


_M = TypeVar("_M")

#: What :attr:`Notification.model` can be: one of the typed resources, or the dict for an event
#: type no official source names.
NotificationResource = (
    CouponUseResource
    | ProductCouponSendResource
    | ProductCouponUseResource
    | ProductCouponReturnResource
    | MerchantCouponSendResource
    | dict[str, Any]
)


@attrs.frozen(kw_only=True)
class Notification:
    """A verified notification: the envelope fields and the decrypted resource.

    The handler answers the subclass of the event: :class:`CouponUseNotification`,
    :class:`ProductCouponSendNotification`, :class:`ProductCouponUseNotification`,
    :class:`ProductCouponReturnNotification`, or this class for an event type no official source
    names. Narrow to the subclass and ``model`` has the event's type::

        match n:
            case CouponUseNotification():
                n.model.coupon_id            # CouponUseResource
            case ProductCouponSendNotification():
                n.model.coupon_code          # ProductCouponSendResource

    The accessors (``coupon_use``, ``product_coupon_send``...) read the resource as one model and
    raise :class:`NotificationEventError` when the notification is of another event.
    """

    id: str
    create_time: dt.datetime
    event_type: str
    resource_type: str
    summary: str
    resource: dict[str, Any] = attrs.field(repr=False)
    original_type: str | None = None

    @property
    def model(self) -> NotificationResource:
        """The resource as its event's typed model, or the dict for an unknown event type."""
        model = RESOURCE_MODELS.get(self.event_type)
        return _structure(self.resource, model) if model else self.resource

    def _as(self, model: type[_M]) -> _M:
        if RESOURCE_MODELS.get(self.event_type) is not model:
            events = ", ".join(sorted(e for e, m in RESOURCE_MODELS.items() if m is model))
            raise NotificationEventError(
                f"notification {self.id} is a {self.event_type} event; {model.__name__} is the resource of {events}"
            )
        return _structure(self.resource, model)

    @property
    def coupon_use(self) -> CouponUseResource:
        """The COUPON.USE resource (:class:`NotificationEventError` for another event)."""
        return self._as(CouponUseResource)

    @property
    def product_coupon_send(self) -> ProductCouponSendResource:
        """The PRODUCT_COUPON_SP.SEND / PRODUCT_COUPON.SEND resource (:class:`NotificationEventError` otherwise)."""
        return self._as(ProductCouponSendResource)

    @property
    def product_coupon_use(self) -> ProductCouponUseResource:
        """The PRODUCT_COUPON.USE resource (:class:`NotificationEventError` for another event)."""
        return self._as(ProductCouponUseResource)

    @property
    def product_coupon_return(self) -> ProductCouponReturnResource:
        """The PRODUCT_COUPON.RETURN resource (:class:`NotificationEventError` for another event)."""
        return self._as(ProductCouponReturnResource)

    @property
    def merchant_coupon_send(self) -> MerchantCouponSendResource:
        """The merchant-coupon COUPON.SEND resource (:class:`NotificationEventError` for another event)."""
        return self._as(MerchantCouponSendResource)


@attrs.frozen(kw_only=True)
class CouponUseNotification(Notification):
    """A COUPON.USE notification: ``model`` is a :class:`CouponUseResource`."""

    if TYPE_CHECKING:
        event_type: Literal["COUPON.USE"]

    @property
    def model(self) -> CouponUseResource:
        return self._as(CouponUseResource)


@attrs.frozen(kw_only=True)
class ProductCouponSendNotification(Notification):
    """A PRODUCT_COUPON_SP.SEND or PRODUCT_COUPON.SEND notification: ``model`` is a :class:`ProductCouponSendResource`."""

    if TYPE_CHECKING:
        event_type: Literal["PRODUCT_COUPON_SP.SEND", "PRODUCT_COUPON.SEND"]

    @property
    def model(self) -> ProductCouponSendResource:
        return self._as(ProductCouponSendResource)


@attrs.frozen(kw_only=True)
class ProductCouponUseNotification(Notification):
    """A PRODUCT_COUPON.USE notification: ``model`` is a :class:`ProductCouponUseResource`."""

    if TYPE_CHECKING:
        event_type: Literal["PRODUCT_COUPON.USE"]

    @property
    def model(self) -> ProductCouponUseResource:
        return self._as(ProductCouponUseResource)


@attrs.frozen(kw_only=True)
class ProductCouponReturnNotification(Notification):
    """A PRODUCT_COUPON.RETURN notification: ``model`` is a :class:`ProductCouponReturnResource`."""

    if TYPE_CHECKING:
        event_type: Literal["PRODUCT_COUPON.RETURN"]

    @property
    def model(self) -> ProductCouponReturnResource:
        return self._as(ProductCouponReturnResource)


@attrs.frozen(kw_only=True)
class MerchantCouponSendNotification(Notification):
    """A merchant-coupon COUPON.SEND notification: ``model`` is a :class:`MerchantCouponSendResource`."""

    if TYPE_CHECKING:
        event_type: Literal["COUPON.SEND"]

    @property
    def model(self) -> MerchantCouponSendResource:
        return self._as(MerchantCouponSendResource)


#: The class the handler answers for each event type (:class:`Notification` for any other).
NOTIFICATION_CLASSES: dict[str, type[Notification]] = {
    "COUPON.USE": CouponUseNotification,
    PRODUCT_COUPON_SP_SEND: ProductCouponSendNotification,
    PRODUCT_COUPON_SEND: ProductCouponSendNotification,
    PRODUCT_COUPON_USE: ProductCouponUseNotification,
    PRODUCT_COUPON_RETURN: ProductCouponReturnNotification,
    MERCHANT_COUPON_SEND: MerchantCouponSendNotification,
}


def _structure(resource: dict[str, Any], model: type[_M]) -> _M:
    """The typed model, or MalformedNotificationError when the resource does not fit it."""
    try:
        return converter.structure(resource, model)
    except Exception as exc:  # cattrs raises ClassValidationError/KeyError/ValueError/TypeError
        raise MalformedNotificationError(f"resource does not fit {model.__name__}: {type(exc).__name__}") from None
