"""The notification errors (importable from ``wxpay_async.notifications`` as before)."""

from __future__ import annotations

from ..errors import WxPayError


class MalformedNotificationError(WxPayError):
    """The body is not a WeChat Pay notification (bad JSON, missing fields, too large)."""


class NotificationTooLargeError(MalformedNotificationError):
    """The body exceeds the handler's ``max_body_bytes`` (answered 413)."""


class NotificationEventError(WxPayError):
    """A resource accessor (``n.coupon_use``...) was read on a notification of another event type."""


class NotificationInProgressError(WxPayError):
    """Another worker holds this notification's claim; WeChat Pay will deliver it again."""


class DedupeStoreError(WxPayError):
    """The dedupe store could not be reached to claim a notification: the callback did not run.

    Answered 500, so WeChat Pay delivers the notification again. ``__cause__`` is the store's error.
    """
