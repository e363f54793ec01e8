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
from typing import Any

from .._request import Request, Response, encode_json
from .._request_numbers import GENERATED
from ..errors import WxPayError
from ._base import Handler

#: What the generated request numbers match: every family's rule (see ``_request_numbers``).
REQUEST_NUMBER_PATTERN = GENERATED.pattern
#: Characters of the time stamp and random part of a generated number.
_FIXED = 14 + 16
_CHINA = dt.timezone(dt.timedelta(hours=8))


def new_request_number(prefix: str = "") -> str:
    """``<prefix><yyyymmddHHMMSS><16 hex>``: sortable by time, unique, and valid for every family.

    The prefix (the client uses its mchid) keeps only ``0-9 A-Z a-z _ -`` and is truncated so
    the whole stays within ``GENERATED.max_length`` (32: merchant coupons' ``use_request_no``):
    the generated number fits the request-number rule of every operation of every family.
    """
    return f"{_safe_prefix(prefix)}{_stamp(int(time.time()))}{secrets.token_hex(8)}"


@functools.lru_cache(maxsize=64)
def _safe_prefix(prefix: str) -> str:
    return re.sub(f"[^{GENERATED.alphabet}]", "", prefix)[: GENERATED.max_length - _FIXED]


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

    def number_for(self, json: Any, field: str) -> tuple[Any, str | None]:
        """``(body, request number)``: the body's own number, or a new one written into a copy.

        The one place a request number is filled: ``Client.build_request`` calls it before the
        body is encoded (so the JSON is encoded once), :meth:`fill` for a request built by hand.
        """
        if not isinstance(json, Mapping):
            return json, None
        value = json.get(field)
        if value is None or value == "":
            value = self._generate()
            json = {**json, field: value}
        return json, str(value)

    def fill(self, request: Request) -> Request:
        """``request`` with its request number (see :meth:`number_for`); unchanged when it has one."""
        field = request.idempotency_field
        if request.idempotency_key is not None or not field:
            return request
        body, key = self.number_for(request.json, field)
        if key is None:
            return request
        if body is request.json:
            return request.replace(idempotency_key=key)
        return request.replace(json=body, content=encode_json(body), idempotency_key=key)

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        request = self.fill(request)
        key = request.idempotency_key
        if key is None:
            return await call_next(request)
        try:
            return await call_next(request)
        except WxPayError as exc:
            raise tagged(exc, key) from exc.__cause__


def tagged(exc: WxPayError, key: str | None) -> WxPayError:
    """``exc`` carrying the call's request number (the one place errors get it).

    Whatever went wrong after sending (no answer, a forged or unreadable answer...), the caller
    needs the number to learn the outcome by re-sending safely.
    """
    if key is not None and exc.idempotency_key is None:
        exc.idempotency_key = key
    return exc
