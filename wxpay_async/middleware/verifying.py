"""Checks WeChat Pay's signature on every response before anyone reads it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from multidict import istr

from .._request import Request, Response, verified
from ..crypto import MAX_SKEW_SECONDS, Verifier, missing_signature_headers, validate_signed_message
from ..errors import SignatureVerificationError, UnknownSerialError, acted_hint
from ._base import Handler

logger = logging.getLogger("wxpay_async.verify")

_SERIAL = istr("Wechatpay-Serial")  # an istr name: the faster case-insensitive lookup


class KeySource(Protocol):
    """Where the current platform keys come from (static keys or a CertificateManager)."""

    def current_verifier(self) -> Verifier: ...

    async def refresh_for(self, serial: str) -> Verifier:
        """A verifier that may know ``serial`` after at most one (shared) refresh."""
        ...

    def preferred_serial(self) -> str | None:
        """The key id to name in ``Wechatpay-Serial`` so WeChat Pay signs with a key we hold."""
        ...


class VerifyingMiddleware:
    """Certificate, public-key and combined verification, chosen by ``Wechatpay-Serial``.

    A 2xx answer without a valid signature is refused. A non-2xx answer without signature
    headers (a gateway's 502, say) is passed on unverified so the caller gets the status
    error; if it does carry a signature, that signature must be valid.
    """

    def __init__(
        self, keys: KeySource, *, clock: Callable[[], float] = time.time, max_skew: int = MAX_SKEW_SECONDS
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._max_skew = max_skew

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        request = self.prepare(request)
        response = await call_next(request)
        if not request.verify:
            return response
        return await self.check(response)

    def prepare(self, request: Request) -> Request:
        """Name the platform key WeChat Pay should sign the answer with, when the request does not."""
        if request.verify and _SERIAL not in request.headers:
            serial = self._keys.preferred_serial()
            if serial:
                request = request.with_headers(Wechatpay_Serial=serial)
        return request

    def check_now(self, response: Response, verifier: Verifier | None = None) -> Response:
        """``response`` marked verified, or :class:`SignatureVerificationError` saying why not.

        One check for every signed message (:func:`~wxpay_async.crypto.validate_signed_message`),
        on the loop, without a coroutine. An :class:`UnknownSerialError` is raised as it is, for
        :meth:`check` to refresh the platform keys and try again.
        """
        headers = response.headers
        if verifier is None:
            verifier = self._keys.current_verifier()
        try:
            validate_signed_message(headers, response.content, verifier, self._clock(), self._max_skew, "the answer")
        except UnknownSerialError:
            raise
        except SignatureVerificationError as exc:
            if not response.is_success and missing_signature_headers(headers):
                return response  # a gateway's unsigned error page: the caller gets the status error
            raise self._refused(response, str(exc), exc.serial or headers.get(_SERIAL), verifier) from None
        return verified(response)

    async def check(self, response: Response) -> Response:
        """:meth:`check_now`; an unknown serial first refreshes the platform keys once (shared)."""
        try:
            return self.check_now(response)
        except UnknownSerialError as exc:
            logger.info("unknown platform serial %s; refreshing platform keys", exc.serial)
            verifier = await self._keys.refresh_for(exc.serial or "")
        try:
            return self.check_now(response, verifier)
        except UnknownSerialError as exc:
            raise self._refused(response, str(exc), exc.serial, verifier) from None

    def _refused(
        self, response: Response, reason: str, serial: str | None = None, verifier: Verifier | None = None
    ) -> SignatureVerificationError:
        """The error for an answer that cannot be trusted: which keys, which serial, what to do now."""
        request = response.request
        held = (verifier or self._keys.current_verifier()).serials
        named = f"the answer named platform key {serial[:64]}" if serial else "the answer named no platform key"
        holds = f"this client holds {', '.join(sorted(held))}" if held else "this client holds no platform key"
        return SignatureVerificationError(
            f"{_where(response)}: {reason} ({named}; {holds}). {acted_hint(request.method, request.idempotency_key)}",
            serial=serial,
            known_serials=held,
            idempotency_key=request.idempotency_key,
        )


def _where(response: Response) -> str:
    """The call an error message is about (built only when there is an error to report)."""
    request = response.request
    return f"{request.method} {request.target} (HTTP {response.status}, Request-ID {response.request_id})"


class StaticKeySource:
    """Fixed keys: public-key mode, or certificates the caller manages."""

    def __init__(self, verifier: Verifier, preferred_serial: str | None = None) -> None:
        self._verifier = verifier
        self._preferred = preferred_serial

    def current_verifier(self) -> Verifier:
        return self._verifier

    async def refresh_for(self, serial: str) -> Verifier:
        return self._verifier

    def preferred_serial(self) -> str | None:
        return self._preferred
