"""Time as the emulator sees it: an injectable clock plus an adjustable skew, and RFC 3339 text."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from ..validation import parse_rfc3339 as _parse_rfc3339

Clock = Callable[[], float]

#: WeChat Pay writes every time in China Standard Time.
CST = dt.timezone(dt.timedelta(hours=8))


class SkewedClock:
    """Wraps a base clock; ``skew`` shifts the emulator's "now" so clients appear out of sync."""

    __slots__ = ("base", "skew")

    def __init__(self, base: Clock | None = None, skew: float = 0.0) -> None:
        self.base: Clock = base or time.time
        self.skew = skew

    def __call__(self) -> float:
        return self.base() + self.skew


def rfc3339(epoch: float) -> str:
    """``2025-08-01T12:00:00+08:00`` (seconds precision, as WeChat Pay answers)."""
    return dt.datetime.fromtimestamp(int(epoch), CST).isoformat()


def parse_rfc3339(value: object) -> float | None:
    """Epoch seconds, or None when ``value`` is not an RFC 3339 date-time with an offset.

    The SDK's own check (wxpay_async.validation.parse_rfc3339): what one refuses, so does the other.
    """
    parsed = _parse_rfc3339(value)
    return None if parsed is None else parsed.timestamp()


def cst_date(epoch: float) -> str:
    """``YYYY-MM-DD`` of ``epoch`` in China Standard Time (bill dates)."""
    return dt.datetime.fromtimestamp(epoch, CST).strftime("%Y-%m-%d")
