"""Fills a missing request number once per call, before the first attempt.

WeChat Pay deduplicates on the request number (``out_request_no``, ``send_request_no``): the
same number with the same body returns the original result. Filling it *before* the retry
layer is what makes every retry, and any later manual re-send, safe.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
import time
from collections.abc import Callable, Mapping

from .._request import Request, Response, encode_json
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
    return f"{_safe_prefix(prefix)}{_stamp(int(time.time()))}{secrets.token_hex(8)}"


@functools.lru_cache(maxsize=64)
def _safe_prefix(prefix: str) -> str:
    return re.sub(r"[^0-9A-Za-z_\-|*]", "", prefix)[:32]


@functools.lru_cache(maxsize=4)
def _stamp(second: int) -> str:
    """``yyyymmddHHMMSS`` in China time, formatted once per second rather than once per call."""
    return dt.datetime.fromtimestamp(second, _CHINA).strftime("%Y%m%d%H%M%S")


class IdempotencyMiddleware:
    def __init__(self, generate: Callable[[], str] = new_request_number) -> None:
        self._generate = generate

    def generate(self) -> str:
        """A new request number from the configured generator."""
        return self._generate()

    def fill(self, request: Request) -> Request:
        """``request`` with its request number: the body's, or a new one written into the body.

        ``Client.build_request`` calls this before the body is encoded, so the JSON is encoded
        once; a request built by hand gets its number here, in the middleware.
        """
        field = request.idempotency_field
        if request.idempotency_key is not None or not field or not isinstance(request.json, Mapping):
            return request
        value = request.json.get(field)
        if value is None or value == "":
            value = self.generate()
            body = {**request.json, field: value}
            return request.replace(json=body, content=encode_json(body), idempotency_key=str(value))
        return request.replace(idempotency_key=str(value))

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        request = self.fill(request)
        key = request.idempotency_key
        if key is None:
            return await call_next(request)
        try:
            return await call_next(request)
        except WxPayError as exc:
            # Whatever went wrong after sending (no answer, a forged or unreadable answer...),
            # the caller needs the number to learn the outcome by re-sending safely.
            if exc.idempotency_key is None:
                exc.idempotency_key = key
            raise
