"""A small, scriptable WeChat Pay server for core tests: real signatures, real AES-GCM.

It checks the SDK's Authorization header with the merchant certificate exactly as WeChat Pay
does (over the raw target and body bytes it received) and signs its answers with a platform
key. Tests queue ``Reply`` objects to script faults; the full emulator lives in
``wxpay_async.emulator``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs
from aiohttp import web

from wxpay_async.crypto import (
    SIGNTEST_PREFIX,
    aead_encrypt,
    make_nonce,
    parse_any_authorization,
    request_message,
    response_message,
    rsa_sign,
    rsa_verify,
)
from wxpay_async.devkeys import KeyPair


@attrs.define
class Reply:
    status: int = 200
    body: Any = attrs.field(factory=lambda: {"ok": True})
    headers: dict[str, str] = attrs.field(factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without answering
    signature: str = "ok"  # ok | none | bad | signtest | wrong_key
    skew: int = 0
    serial: str | None = None  # sign naming this serial (defaults to the request's choice)
    certificates: bool = False  # True: this reply is for GET /v3/certificates, not for API calls


@attrs.define
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    auth: dict[str, str]


@attrs.define
class FakeWeChat:
    merchant: KeyPair
    mchid: str
    apiv3_key: str
    platform_certs: list[KeyPair]
    public_key: KeyPair | None = None
    public_key_id: str | None = None
    clock: Callable[[], float] = time.time
    script: deque[Reply] = attrs.field(factory=deque)
    received: list[Received] = attrs.field(factory=list)
    handlers: dict[tuple[str, str], Callable[[web.Request, bytes], Reply]] = attrs.field(factory=dict)
    certificates_served: int = 0
    certificates_fail: bool = False

    def _handler_for(self, method: str, path: str) -> Callable[[web.Request, bytes], Reply] | None:
        """Exact (method, path) first; a key whose path ends in ``*`` matches by prefix."""
        exact = self.handlers.get((method, path))
        if exact is not None:
            return exact
        for (m, pattern), handler in self.handlers.items():
            if m == method and pattern.endswith("*") and path.startswith(pattern[:-1]):
                return handler
        return None

    def queue(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def platform_key_for(self, serial: str | None) -> tuple[str, KeyPair]:
        if serial and self.public_key_id and serial == self.public_key_id and self.public_key:
            return serial, self.public_key
        for cert in self.platform_certs:
            if cert.serial == serial:
                return serial, cert
        if self.platform_certs:
            return self.platform_certs[0].serial, self.platform_certs[0]
        assert self.public_key and self.public_key_id
        return self.public_key_id, self.public_key

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def certificates_body(self) -> dict[str, Any]:
        data = []
        for cert in self.platform_certs:
            nonce = make_nonce(12)
            data.append(
                {
                    "serial_no": cert.serial,
                    "effective_time": cert.certificate.not_valid_before_utc.isoformat(),
                    "expire_time": cert.certificate.not_valid_after_utc.isoformat(),
                    "encrypt_certificate": {
                        "algorithm": "AEAD_AES_256_GCM",
                        "nonce": nonce,
                        "associated_data": "certificate",
                        "ciphertext": aead_encrypt(self.apiv3_key, nonce, "certificate", cert.certificate_pem()),
                    },
                }
            )
        return {"data": data}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            # Merchant or brand (品牌直连) scheme: both sign the same message with the same key here.
            auth = parse_any_authorization(request.headers.get("Authorization", ""))[1]
        except ValueError as exc:
            return self._error(401, "SIGN_ERROR", str(exc), request)
        self.received.append(Received(request.method, request.raw_path, dict(request.headers), body, auth))
        message = request_message(request.method, request.raw_path, auth["timestamp"], auth["nonce_str"], body)
        if request.content_type.startswith("multipart/"):
            message = None  # the meta part is checked by tests that use it
        if message is not None and not rsa_verify(self.merchant.certificate, message, auth["signature"]):
            return self._error(401, "SIGN_ERROR", "signature mismatch", request)
        if abs(self.clock() - int(auth["timestamp"])) > 300:
            return self._error(401, "SIGN_ERROR", "timestamp expired", request)

        reply = None
        if self.script and self.script[0].certificates == (request.path == "/v3/certificates"):
            reply = self.script.popleft()
        if reply is None:
            if request.path == "/v3/certificates":
                self.certificates_served += 1
                if self.certificates_fail:
                    reply = Reply(status=500, body={"code": "SYSTEM_ERROR", "message": "down"})
                else:
                    reply = Reply(body=self.certificates_body())
            elif (handler := self._handler_for(request.method, request.path)) is not None:
                reply = handler(request, body)
            else:
                reply = Reply(body={"method": request.method, "target": request.raw_path, "echo": _loads(body)})
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.drop:
            assert request.transport is not None
            request.transport.close()
            raise asyncio.CancelledError
        return self._respond(reply, request)

    def _error(self, status: int, code: str, message: str, request: web.Request) -> web.Response:
        return self._respond(Reply(status=status, body={"code": code, "message": message}), request)

    def _respond(self, reply: Reply, request: web.Request) -> web.Response:
        content = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        headers = {"Content-Type": "application/json", "Request-ID": make_nonce(16), **reply.headers}
        if reply.signature != "none":
            serial, key = self.platform_key_for(reply.serial or request.headers.get("Wechatpay-Serial"))
            if reply.serial:
                serial = reply.serial  # may name a key the client has never seen
            timestamp = str(int(self.clock()) + reply.skew)
            nonce = make_nonce()
            signer = key
            if reply.signature == "wrong_key":
                signer = self.merchant
            signature = rsa_sign(signer.private_key, response_message(timestamp, nonce, content))
            if reply.signature == "bad":
                content = content + b" "
            elif reply.signature == "signtest":
                signature = SIGNTEST_PREFIX + signature
            headers.update(
                {
                    "Wechatpay-Timestamp": timestamp,
                    "Wechatpay-Nonce": nonce,
                    "Wechatpay-Signature": signature,
                    "Wechatpay-Serial": serial,
                    "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
                }
            )
        return web.Response(status=reply.status, body=content, headers=headers)


def _loads(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
