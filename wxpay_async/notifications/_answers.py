"""What a notification endpoint answers WeChat Pay, chosen by the type of what went wrong.

One table serves :meth:`NotificationHandler.respond` and every web adapter. WeChat Pay treats any
answer but 2xx (or none within 5 s) as a failed delivery and delivers the notification again.
"""

from __future__ import annotations

import logging

from ..errors import DecryptionError, SignatureVerificationError
from ._errors import (
    DedupeStoreError,
    MalformedNotificationError,
    NotificationInProgressError,
    NotificationTooLargeError,
)

logger = logging.getLogger("wxpay_async.notifications")

#: Answer body for a processed (or already processed) notification.
SUCCESS: dict[str, str] = {"code": "SUCCESS", "message": "OK"}

#: (exception type, status, message; None: the exception's own text, level to log at). First match wins,
#: so a subclass comes before its base.
_BY_TYPE: tuple[tuple[type[BaseException], int, str | None, int], ...] = (
    (NotificationInProgressError, 503, "being processed, please retry", logging.INFO),
    (SignatureVerificationError, 401, "signature verification failed", logging.WARNING),
    (DecryptionError, 400, "resource decryption failed", logging.WARNING),
    (NotificationTooLargeError, 413, "body too large", logging.WARNING),
    (MalformedNotificationError, 400, None, logging.WARNING),
    (DedupeStoreError, 500, "dedupe store unavailable, please retry", logging.WARNING),
)


def answer_for(exc: BaseException) -> tuple[int, dict[str, str]]:
    """``(status, json)`` for a delivery that raised ``exc`` (logged here; the callback's own errors: 500)."""
    for kind, status, message, level in _BY_TYPE:
        if isinstance(exc, kind):
            logger.log(level, "notification answered %d: %s", status, exc)
            return status, {"code": "FAIL", "message": str(exc) if message is None else message}
    logger.error("notification callback failed; WeChat Pay will deliver it again", exc_info=exc)
    return 500, {"code": "FAIL", "message": "processing failed, please retry"}


def too_large(limit: int) -> tuple[int, dict[str, str]]:
    """The answer for a body over ``limit`` bytes, refused by an adapter before it is all read."""
    return answer_for(NotificationTooLargeError(f"notification body exceeds {limit} bytes"))
