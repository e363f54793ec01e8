"""The shapes the emulator hands to test code, typed for mypy and pyright users alike.

``RunningEmulator.client_kwargs()`` is a :class:`ClientKwargs`, which ``Client(**kwargs)``
accepts as is; ``ledger()``, ``use_coupon()`` and ``refund_coupon()`` return the TypedDicts
below. No ``from __future__ import annotations``: ``NotRequired`` must be visible at run time
(``__optional_keys__``) on Python 3.11. ``tests/test_kit_types.py`` checks at run time that every key declared here is what the
emulator really returns, so the types cannot drift from the data.
"""

from typing import Any, Literal, NotRequired, TypedDict

from .._client_kwargs import BrandClientKwargs, ClientKwargs

__all__ = [
    "BrandClientKwargs",
    "ClientKwargs",
    "ConsumeInformation",
    "CouponRefunded",
    "CouponUsed",
    "EmulatorCoupon",
    "LedgerCoupon",
    "LedgerRequest",
    "LedgerSnapshot",
    "NormalCouponInformation",
]


class LedgerCoupon(TypedDict):
    """One coupon the emulator issued."""

    kind: Literal["cash", "product", "merchant"]
    #: Cash coupons: the coupon id; product and merchant coupons: the coupon code.
    coupon_id: str
    stock_id: str
    openid: str
    request_no: str
    mchid: str
    issued_at: str
    #: Success answers handed to the client for this request number.
    accepted: int
    #: Product coupons only.
    product_coupon_id: NotRequired[str]


class LedgerRequest(TypedDict):
    """One send request number and what became of it."""

    kind: Literal["cash", "product", "merchant"]
    mchid: str
    request_no: str
    #: Coupons issued for it (exactly once: 1).
    issued: int
    #: Times it reached a successful outcome inside the emulator (first send or idempotent replay).
    processed: int
    #: Times a success answer was handed to the client.
    accepted: int
    coupon_id: NotRequired[str]


class LedgerSnapshot(TypedDict):
    """``RunningEmulator.ledger()``: what was issued, and how often each request number was accepted."""

    coupons: list[LedgerCoupon]
    requests: list[LedgerRequest]


class NormalCouponInformation(TypedDict):
    coupon_amount: int | None
    transaction_minimum: int | None


class ConsumeInformation(TypedDict):
    consume_time: str
    consume_mchid: str
    transaction_id: str
    order_amount: int | None
    goods_detail: list[dict[str, Any]]


class EmulatorCoupon(TypedDict):
    """A cash coupon as the COUPON.USE notification resource carries it (wechatpay-go ``Coupon`` + id)."""

    stock_creator_mchid: str
    stock_id: str
    coupon_id: str
    coupon_name: str
    status: str
    description: str
    create_time: str
    coupon_type: str
    no_cash: bool
    available_begin_time: str
    available_end_time: str
    singleitem: bool
    normal_coupon_information: NormalCouponInformation
    #: Once the coupon was used.
    consume_information: NotRequired[ConsumeInformation]


class CouponUsed(TypedDict):
    """``RunningEmulator.use_coupon()``: the coupon now USED, and the COUPON.USE notification sent (if any)."""

    coupon: EmulatorCoupon
    #: The notification's id, None when no callback URL is set for the stock's creator.
    notification_id: str | None


class CouponRefunded(TypedDict):
    """``RunningEmulator.refund_coupon()``: the coupon, back with the user (SENDED)."""

    coupon: EmulatorCoupon
