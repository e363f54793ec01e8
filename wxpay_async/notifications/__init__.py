"""WeChat Pay notifications: verified, decrypted, deduplicated, with aiohttp and ASGI adapters.

WeChat Pay re-delivers a notification until it gets a 2xx answer (COUPON.USE: every minute, up
to 9 times), and a handler may see the same one twice at once. ``NotificationHandler.handle``
runs the caller's callback once per notification id while its dedupe store keeps its keys, never
twice at once however long the callback takes, and not at all for anything whose signature,
timestamp or ciphertext is wrong. When the store loses its keys (Redis restarted empty, flushed,
evicted, failed over) the guarantee is *at least once*: see :class:`NotificationHandler`.

One concern per module, every name importable from here:

- ``_models``: the typed resources, event types and :class:`Notification`;
- ``_decrypt``: :func:`decrypt_resource`;
- ``_dedupe`` / ``_redis_dedupe``: the dedupe protocol, the in-process and the Redis store;
- ``_handler``: :class:`NotificationHandler`;
- ``_answers``: what an endpoint answers, by the type of what went wrong;
- ``_aiohttp`` / ``_asgi`` / ``_starlette``: the web adapters;
- ``_errors``: the notification errors.
"""

from __future__ import annotations

from ..crypto import MAX_SKEW_SECONDS
from ._aiohttp import aiohttp_handler
from ._asgi import ASGIApp, asgi_app
from ._decrypt import decrypt_resource
from ._dedupe import ClaimState, DedupeStore, InMemoryDedupeStore, RenewState
from ._errors import (
    DedupeStoreError,
    MalformedNotificationError,
    NotificationEventError,
    NotificationInProgressError,
    NotificationTooLargeError,
)
from ._handler import MAX_BODY_BYTES, Callback, NotificationHandler
from ._models import (
    BRAND_EVENT_TYPES,
    NOTIFICATION_CLASSES,
    PRODUCT_COUPON_RETURN,
    PRODUCT_COUPON_SEND,
    PRODUCT_COUPON_SP_SEND,
    PRODUCT_COUPON_USE,
    RESOURCE_MODELS,
    ConsumeInformation,
    CouponUseNotification,
    CouponUseResource,
    MerchantCouponSendNotification,
    NormalCouponInformation,
    Notification,
    NotificationResource,
    ProductCouponReturnNotification,
    ProductCouponReturnResource,
    ProductCouponSendNotification,
    ProductCouponSendResource,
    ProductCouponUseNotification,
    ProductCouponUseResource,
)
from ._redis_dedupe import RedisDedupeStore
from ._starlette import starlette_endpoint

__all__ = [
    "BRAND_EVENT_TYPES",
    "MAX_BODY_BYTES",
    "MAX_SKEW_SECONDS",
    "NOTIFICATION_CLASSES",
    "PRODUCT_COUPON_RETURN",
    "PRODUCT_COUPON_SEND",
    "PRODUCT_COUPON_SP_SEND",
    "PRODUCT_COUPON_USE",
    "RESOURCE_MODELS",
    "ASGIApp",
    "Callback",
    "ClaimState",
    "ConsumeInformation",
    "CouponUseNotification",
    "CouponUseResource",
    "DedupeStore",
    "DedupeStoreError",
    "InMemoryDedupeStore",
    "MalformedNotificationError",
    "MerchantCouponSendNotification",
    "NormalCouponInformation",
    "Notification",
    "NotificationEventError",
    "NotificationHandler",
    "NotificationInProgressError",
    "NotificationResource",
    "NotificationTooLargeError",
    "ProductCouponReturnNotification",
    "ProductCouponReturnResource",
    "ProductCouponSendNotification",
    "ProductCouponSendResource",
    "ProductCouponUseNotification",
    "ProductCouponUseResource",
    "RedisDedupeStore",
    "RenewState",
    "aiohttp_handler",
    "asgi_app",
    "decrypt_resource",
    "starlette_endpoint",
]
