"""The notification errors, importable from ``wxpay_async.notifications`` as before (home: errors.py)."""

from __future__ import annotations

from ..errors import (
    DedupeStoreError,
    MalformedNotificationError,
    NotificationEventError,
    NotificationInProgressError,
    NotificationTooLargeError,
)

__all__ = [
    "DedupeStoreError",
    "MalformedNotificationError",
    "NotificationEventError",
    "NotificationInProgressError",
    "NotificationTooLargeError",
]
