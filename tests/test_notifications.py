"""Notifications: real signatures and AES-GCM; the aiohttp adapter over a real server, ASGI directly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from wxpay_async.crypto import Verifier, aead_encrypt, make_nonce, response_message, rsa_sign
from wxpay_async.devkeys import KeyPair
from wxpay_async.errors import DecryptionError, SignatureVerificationError
from wxpay_async.notifications import (
    CouponUseResource,
    MalformedNotificationError,
    Notification,
    NotificationHandler,
    ProductCouponSendResource,
    aiohttp_handler,
    asgi_app,
)

COUPON_USE = {
    "stock_creator_mchid": "1900000001",
    "stock_id": "9856888",
    "coupon_id": "98674556",
    "coupon_name": "微信支付代金券",
    "status": "USED",
    "description": "微信支付营销",
    "create_time": "2025-01-01T13:29:35+08:00",
    "coupon_type": "NORMAL",
    "no_cash": True,
    "singleitem": False,
    "normal_coupon_information": {"coupon_amount": 100, "transaction_minimum": 100},
    "consume_information": {
        "consume_time": "2025-01-02T13:29:35+08:00",
        "consume_mchid": "9856081",
        "transaction_id": "2345234523",
        "goods_detail": [{"goods_id": "a_goods1", "quantity": 7, "price": 1, "discount_amount": 4}],
    },
    "a_new_field": "kept",
}
PRODUCT_SEND = {
    "coupon_code": "Code_123456",
    "coupon_state": "CONFIRMING",
    "openid": "o1",
    "brand_id": "120344",
    "product_coupon_id": "1000000013",
    "stock_id": "1000000013001",
    "send_request_no": "MCHSEND1",
    "receive_time": "2025-08-02T00:00:00+08:00",
}


@contextlib.asynccontextmanager
async def aiohttp_notify_url(
    handler: NotificationHandler, callback: Callable[[Notification], Awaitable[None]]
) -> AsyncIterator[str]:
    """The URL of a real aiohttp server on 127.0.0.1 answering notifications at /notify."""
    app = web.Application()
    app.router.add_post("/notify", aiohttp_handler(handler, callback))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/notify"))
    finally:
        await server.close()


def notification(
    key: KeyPair,
    serial: str,
    apiv3_key: str,
    resource: dict[str, Any],
    *,
    event: str = "COUPON.USE",
    nid: str = "EV-2018022511223320873",
    ts: int | None = None,
    aad: str = "coupon",
) -> tuple[dict[str, str], bytes]:
    nonce = make_nonce(12)
    body = json.dumps(
        {
            "id": nid,
            "create_time": "2025-01-02T13:29:36+08:00",
            "event_type": event,
            "resource_type": "encrypt-resource",
            "summary": "代金券核销通知",
            "resource": {
                "algorithm": "AEAD_AES_256_GCM",
                "nonce": nonce,
                "associated_data": aad,
                "original_type": "coupon",
                "ciphertext": aead_encrypt(apiv3_key, nonce, aad, json.dumps(resource, ensure_ascii=False)),
            },
        },
        ensure_ascii=False,
    ).encode()
    timestamp = str(ts if ts is not None else int(time.time()))
    hnonce = make_nonce()
    headers = {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": hnonce,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": rsa_sign(key.private_key, response_message(timestamp, hnonce, body)),
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    return headers, body


def test_coupon_use_parses_into_the_typed_model(
    handler: NotificationHandler, platform_keys: KeyPair, apiv3_key: str
) -> None:
    headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE)
    n = handler.parse(headers, body)
    assert n.event_type == "COUPON.USE" and n.id == "EV-2018022511223320873"
    model = n.model
    assert isinstance(model, CouponUseResource)
    assert model.coupon_id == "98674556" and model.normal_coupon_information is not None
    assert model.normal_coupon_information.coupon_amount == 100
    assert model.consume_information is not None and model.consume_information.transaction_id == "2345234523"
    assert model.extra == {"a_new_field": "kept"}
    assert apiv3_key not in repr(handler) and "98674556" not in repr(n)


def test_product_coupon_send_in_public_key_mode(
    handler: NotificationHandler, public_key_pair: KeyPair, public_key_id: str, apiv3_key: str
) -> None:
    headers, body = notification(
        public_key_pair, public_key_id, apiv3_key, PRODUCT_SEND, event="PRODUCT_COUPON_SP.SEND", aad="product_coupon"
    )
    model = handler.parse(headers, body).model
    assert isinstance(model, ProductCouponSendResource) and model.coupon_code == "Code_123456"


@pytest.mark.parametrize(
    "mutate",
    [
        "tamper_body",
        "wrong_key",
        "signtest",
        "unknown_serial",
        "skew",
        "missing_header",
    ],
)
def test_bad_signatures_are_refused(
    handler: NotificationHandler, platform_keys: KeyPair, merchant_keys: KeyPair, apiv3_key: str, mutate: str
) -> None:
    key = merchant_keys if mutate == "wrong_key" else platform_keys
    ts = int(time.time()) - 301 if mutate == "skew" else None
    headers, body = notification(key, platform_keys.serial, apiv3_key, COUPON_USE, ts=ts)
    if mutate == "tamper_body":
        body = body.replace(b"EV-2018", b"EV-2019")
    elif mutate == "signtest":
        headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    elif mutate == "unknown_serial":
        headers["Wechatpay-Serial"] = "ABCDEF"
    elif mutate == "missing_header":
        del headers["Wechatpay-Nonce"]
    with pytest.raises(SignatureVerificationError):
        handler.parse(headers, body)


def test_wrong_apiv3_key_and_bad_bodies(handler: NotificationHandler, platform_keys: KeyPair) -> None:
    headers, body = notification(platform_keys, platform_keys.serial, "x" * 32, COUPON_USE)
    with pytest.raises(DecryptionError):
        handler.parse(headers, body)
    big = NotificationHandler(Verifier([platform_keys.certificate]), "x" * 32, max_body_bytes=100)
    with pytest.raises(MalformedNotificationError, match="exceeds"):
        big.parse(headers, body)
    headers2, _ = notification(platform_keys, platform_keys.serial, "x" * 32, COUPON_USE)
    junk = b"not json"
    ts, nonce = headers2["Wechatpay-Timestamp"], headers2["Wechatpay-Nonce"]
    headers2["Wechatpay-Signature"] = rsa_sign(platform_keys.private_key, response_message(ts, nonce, junk))
    with pytest.raises(MalformedNotificationError, match="not JSON"):
        handler.parse(headers2, junk)


async def test_replayed_and_concurrent_deliveries_run_the_callback_once(
    handler: NotificationHandler, platform_keys: KeyPair, apiv3_key: str
) -> None:
    calls: list[str] = []

    async def callback(n: Notification) -> None:
        await asyncio.sleep(0.05)
        calls.append(n.id)

    headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE)
    await asyncio.gather(*(handler.handle(headers, body, callback) for _ in range(5)))
    await handler.handle(headers, body, callback)
    assert calls == ["EV-2018022511223320873"]


async def test_failed_callback_is_retried_on_redelivery(
    handler: NotificationHandler, platform_keys: KeyPair, apiv3_key: str
) -> None:
    attempts: list[int] = []

    async def flaky(n: Notification) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database down")

    headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE, nid="EV-flaky")
    assert (await handler.respond(headers, body, flaky))[0] == 500
    assert (await handler.respond(headers, body, flaky))[0] == 200
    assert (await handler.respond(headers, body, flaky))[0] == 200
    assert len(attempts) == 2


async def test_aiohttp_adapter_over_a_real_server(
    handler: NotificationHandler, platform_keys: KeyPair, apiv3_key: str
) -> None:
    got: list[Notification] = []

    async def callback(n: Notification) -> None:
        got.append(n)

    async with aiohttp_notify_url(handler, callback) as url:
        headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE)
        async with ClientSession() as session:
            async with session.post(url, data=body, headers=headers) as r:
                assert r.status == 200 and (await r.json())["code"] == "SUCCESS"
            async with session.post(url, data=body + b" ", headers=headers) as r:
                assert r.status == 401 and (await r.json())["code"] == "FAIL"
            async with session.post(url, data=b"x" * (70 * 1024), headers=headers) as r:
                assert r.status == 413
    assert len(got) == 1


async def test_asgi_adapter(handler: NotificationHandler, platform_keys: KeyPair, apiv3_key: str) -> None:
    got: list[str] = []

    async def callback(n: Notification) -> None:
        got.append(n.id)

    app = asgi_app(handler, callback)
    headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE)

    async def call(payload: bytes) -> tuple[int, dict[str, Any]]:
        chunks = [payload[:100], payload[100:]]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
        await app(scope, receive, send)
        return sent[0]["status"], json.loads(sent[1]["body"])

    assert await call(body) == (200, {"code": "SUCCESS", "message": "OK"})
    status, payload = await call(body.replace(b"EV", b"XX"))
    assert status == 401 and payload["code"] == "FAIL"
    assert got == ["EV-2018022511223320873"]
