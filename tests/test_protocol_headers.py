"""Malformed Wechatpay-* headers: always the protocol error, never a raw ValueError/UnicodeError.

Hostile aiohttp servers on 127.0.0.1 answer with Unicode digits, fullwidth digits, spaces,
huge and empty values; Hypothesis throws arbitrary header text at the one shared check.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wxpay_async import Client
from wxpay_async._request import Request, Response
from wxpay_async.crypto import SIGNATURE_HEADERS, Verifier, make_nonce, response_message, rsa_sign
from wxpay_async.devkeys import KeyPair
from wxpay_async.errors import SignatureVerificationError
from wxpay_async.middleware import StaticKeySource, VerifyingMiddleware
from wxpay_async.notifications import Notification, NotificationHandler, aiohttp_handler

from .conftest import FAST_RETRY, catch_all_server, public_key_client_kwargs

MALFORMED = [
    ("Wechatpay-Timestamp", "١٧٠٠٠٠٠٠٠٠"),  # Arabic-Indic digits: int() accepts them
    ("Wechatpay-Timestamp", "１７００００００００"),  # fullwidth digits
    ("Wechatpay-Timestamp", " 1700000000 1"),
    ("Wechatpay-Timestamp", "9" * 5000),  # int() refuses >4300 digits, float() overflows earlier
    ("Wechatpay-Timestamp", "1e9"),
    ("Wechatpay-Timestamp", "-5"),
    ("Wechatpay-Nonce", "nönce"),
    ("Wechatpay-Nonce", "a b"),
    ("Wechatpay-Serial", "ＡＢＣ"),
    ("Wechatpay-Serial", "5157F09EFDC0 96DE15EBE81A47057A72"),
    ("Wechatpay-Signature", "c2lnbmF0dXJl\u00e9"),
    ("Wechatpay-Signature", "x" * 5000),
]


def signed_headers(key: KeyPair, serial: str, body: bytes) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), make_nonce()
    return {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": rsa_sign(key.private_key, response_message(timestamp, nonce, body)),
    }


@pytest.fixture
async def hostile(public_key_pair: KeyPair, public_key_id: str) -> AsyncIterator[tuple[TestServer, dict[str, str]]]:
    """Signs genuinely, then overwrites one header with whatever the test put in ``override``."""
    override: dict[str, str] = {}

    async def handle(request: web.Request) -> web.Response:
        body = b'{"ok":true}'
        headers = signed_headers(public_key_pair, public_key_id, body)
        headers.update(override)
        return web.Response(body=body, headers={"Content-Type": "application/json", **headers})

    async with catch_all_server(handle) as srv:
        yield srv, override


@pytest.mark.parametrize(("name", "value"), MALFORMED)
async def test_hostile_response_headers_raise_signature_error(
    hostile: tuple[TestServer, dict[str, str]],
    merchant_keys: KeyPair,
    public_key_pair: KeyPair,
    public_key_id: str,
    apiv3_key: str,
    name: str,
    value: str,
) -> None:
    srv, override = hostile
    async with Client(
        **public_key_client_kwargs(
            merchant_keys,
            apiv3_key,
            public_key_pair,
            public_key_id,
            str(srv.make_url("")).rstrip("/"),
            retry=FAST_RETRY,
        )
    ) as wx:
        assert (await wx.request("GET", "/v3/ok")).verified  # the genuine answer verifies
        override[name] = value
        with pytest.raises(SignatureVerificationError, match="malformed"):
            await wx.request("GET", "/v3/x")


async def _ok(n: Notification) -> None:
    return None


@pytest.mark.parametrize(("name", "value"), MALFORMED)
async def test_hostile_notification_headers_answer_401(
    platform_keys: KeyPair, apiv3_key: str, name: str, value: str
) -> None:
    handler = NotificationHandler(Verifier([platform_keys.certificate]), apiv3_key)
    app = web.Application()
    app.router.add_post("/notify", aiohttp_handler(handler, _ok))
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    try:
        body = json.dumps({"id": "EV-1", "resource": {}}).encode()
        headers = signed_headers(platform_keys, platform_keys.serial, body)
        headers[name] = value
        raw = {k: v.encode("utf-8").decode("latin-1") for k, v in headers.items()}  # UTF-8 bytes on the wire
        async with ClientSession() as session, session.post(srv.make_url("/notify"), data=body, headers=raw) as r:
            assert r.status == 401, await r.text()
    finally:
        await srv.close()


header_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789١٢٣４５ \t+-_.=/", max_size=20),
    st.integers().map(str),
    st.just(""),
)


def _request() -> Request:
    return Request(method="GET", base_url="http://127.0.0.1", target="/v3/x", verify=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.fixed_dictionaries({name: header_text for name in SIGNATURE_HEADERS}))
async def test_any_header_text_gives_only_the_protocol_error(
    values: dict[str, str], public_key_pair: KeyPair, public_key_id: str, apiv3_key: str
) -> None:
    verifier = Verifier(public_key=public_key_pair.public_key, public_key_id=public_key_id)
    middleware = VerifyingMiddleware(StaticKeySource(verifier, public_key_id))
    response = Response(status=200, headers=values, content=b"{}", request=_request())
    with pytest.raises(SignatureVerificationError):
        await middleware.check(response)
    handler = NotificationHandler(verifier, apiv3_key)
    calls: list[Any] = []

    async def callback(n: Notification) -> None:
        calls.append(n)

    status, payload = await handler.respond(values, b'{"id":"x"}', callback)
    assert status == 401 and payload["code"] == "FAIL" and not calls
