"""Signs each attempt over exactly the method, target and bytes the transport will send."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import Executor

from cryptography.hazmat.primitives.asymmetric import rsa

from .._request import Request, Response, with_header
from ..crypto import MERCHANT_SCHEME, AuthScheme, make_nonce, request_message, rsa_sign
from ._base import Handler
from ._batch_signer import BatchSigner


class SigningMiddleware:
    """Adds ``Authorization: WECHATPAY2-SHA256-RSA2048 ...`` (or the brand scheme, ``scheme=BRAND_SCHEME``).

    RSA signing is the one CPU-heavy step per call. With an ``executor`` it runs in a thread
    pool: OpenSSL releases the GIL, so signing scales with cores while the loop stays free.
    With ``batch`` (the default) calls are handed over in batches, one thread job and one loop
    wake-up per batch instead of per call (see :class:`BatchSigner`); ``slots`` is how many
    batches may be signed at once (the executor's thread count; default one per core).
    """

    def __init__(
        self,
        mchid: str,
        merchant_serial: str,
        private_key: rsa.RSAPrivateKey,
        *,
        executor: Executor | None = None,
        batch: bool = True,
        slots: int | None = None,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = make_nonce,
        scheme: AuthScheme = MERCHANT_SCHEME,
    ) -> None:
        self._mchid = mchid
        self._serial = merchant_serial
        self._key = private_key
        self._executor = executor
        #: True when signing runs on the loop itself (no executor): :meth:`sign_now` does it all.
        self.inline = executor is None
        self._batcher = BatchSigner(executor, slots=slots) if executor is not None and batch else None
        self._clock = clock
        self._nonce = nonce
        #: The identity's Authorization scheme (merchant ``mchid=``, or brand ``brand_id=``).
        self._scheme = scheme
        #: The Authorization value from (timestamp, nonce, signature): the scheme's format string with
        #: this signer's id and serial already given (AuthScheme.header's arguments, in its order).
        self._header = functools.partial(scheme.template.format, mchid, merchant_serial)

    def __repr__(self) -> str:
        return f"SigningMiddleware(mchid={self._mchid!r}, merchant_serial={self._serial!r})"

    def close(self) -> None:
        """Fail the calls still waiting for a batched signature; later calls raise."""
        if self._batcher is not None:
            self._batcher.close()

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        return await call_next(await self.sign(request))

    def sign_now(self, request: Request) -> Request:
        """:meth:`sign` on the loop, without a coroutine (only when :attr:`inline`)."""
        if not request.sign:
            return request
        # _message and _signed inlined: the path of every call signed on the loop (~0.2 µs).
        timestamp = str(int(self._clock()))
        nonce = self._nonce()
        payload = request.signed_payload if request.signed_payload is not None else request.content
        message = request_message(request.method, request.target, timestamp, nonce, payload)
        return with_header(request, "Authorization", self._header(timestamp, nonce, rsa_sign(self._key, message)))

    async def sign(self, request: Request) -> Request:
        """A copy of ``request`` with a fresh Authorization header (unchanged if ``sign`` is off)."""
        if self._executor is None or not request.sign:
            return self.sign_now(request)
        timestamp, nonce, message = self._message(request)
        if self._batcher is not None:
            signature = await self._batcher.sign(self._key, message)
        else:
            loop = asyncio.get_running_loop()
            signature = await loop.run_in_executor(self._executor, rsa_sign, self._key, message)
        return self._signed(request, timestamp, nonce, signature)

    def _message(self, request: Request) -> tuple[str, str, bytes]:
        """Timestamp, nonce and the message to sign: method, target, and the signed bytes."""
        timestamp = str(int(self._clock()))
        nonce = self._nonce()
        payload = request.signed_payload if request.signed_payload is not None else request.content
        return timestamp, nonce, request_message(request.method, request.target, timestamp, nonce, payload)

    def _signed(self, request: Request, timestamp: str, nonce: str, signature: str) -> Request:
        return with_header(request, "Authorization", self._header(timestamp, nonce, signature))
