"""Fills a missing request number once per call, before the first attempt.

WeChat Pay deduplicates on the request number (``out_request_no``, ``send_request_no``): the
same number with the same body returns the original result. Filling it *before* the retry
layer is what makes every retry, and any later manual re-send, safe.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable, Mapping

from .._request import Request, Response
from ..errors import WxPayError
from ._base import Handler

#: What WeChat Pay accepts in request numbers: digits, letters, ``_ - | *``.
REQUEST_NUMBER_PATTERN = re.compile(r"^[0-9A-Za-z_\-|*]{1,64}$")
_CHINA = dt.timezone(dt.timedelta(hours=8))


def new_request_number(prefix: str = "") -> str:
    """``<prefix><yyyymmddHHMMSS><16 hex>``: sortable by time, unique, ≤ 64 chars, WeChat charset.

    The prefix (the client uses its mchid) is truncated so the whole stays within 64 characters,
    the tightest limit among the operations this SDK covers.
    """
    stamp = dt.datetime.now(_CHINA).strftime("%Y%m%d%H%M%S")
    safe_prefix = re.sub(r"[^0-9A-Za-z_\-|*]", "", prefix)[:32]
    return f"{safe_prefix}{stamp}{secrets.token_hex(8)}"


class IdempotencyMiddleware:
    def __init__(self, generate: Callable[[], str] = new_request_number) -> None:
        self._generate = generate

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        field = request.idempotency_field
        if not field or not isinstance(request.json, Mapping):
            return await call_next(request)
        value = request.json.get(field)
        if value is None or value == "":
            value = self._generate()
            request = request.with_json({**request.json, field: value})
        key = str(value)
        request = request.replace(idempotency_key=key)
        try:
            return await call_next(request)
        except WxPayError as exc:
            # Whatever went wrong after sending (no answer, a forged or unreadable answer...),
            # the caller needs the number to learn the outcome by re-sending safely.
            if exc.idempotency_key is None:
                exc.idempotency_key = key
            raise
