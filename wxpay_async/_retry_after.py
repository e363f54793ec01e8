"""``Retry-After``: the one parser, for the retry layer and for ``APIStatusError.retry_after``."""

from __future__ import annotations

import datetime as dt
import math
import re

_DELTA_SECONDS = re.compile(r"^[0-9]{1,10}(?:\.[0-9]{1,6})?$")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or None.

    None (the normal backoff applies) also for anything that would mean "retry at once": zero,
    negative, non-numeric, NaN/infinite, or a date that is not in the future. A hostile or broken
    server can never turn the retry loop into a busy loop.
    """
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.match(value):
        seconds = float(value)
        return seconds if seconds > 0 else None
    import email.utils  # an HTTP-date Retry-After is rare: not imported at start-up

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    try:
        seconds = when.timestamp() - now
    except (OverflowError, OSError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None
