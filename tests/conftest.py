"""Shared fixtures: real keys made once per test session, and a real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from wxpay_async import Client, RetryPolicy
from wxpay_async.crypto import Verifier
from wxpay_async.devkeys import KeyPair, generate_apiv3_key, generate_key_pair, generate_public_key_id
from wxpay_async.notifications import NotificationHandler

from .fake_wechat import FakeWeChat

MCHID = "1900000001"


@pytest.fixture(scope="session")
def merchant_keys() -> KeyPair:
    return generate_key_pair("merchant 1900000001")


@pytest.fixture(scope="session")
def platform_keys() -> KeyPair:
    return generate_key_pair("WeChat Pay platform")


@pytest.fixture(scope="session")
def platform_keys_next() -> KeyPair:
    return generate_key_pair("WeChat Pay platform (next)")


@pytest.fixture(scope="session")
def public_key_pair() -> KeyPair:
    return generate_key_pair("WeChat Pay public key")


@pytest.fixture(scope="session")
def public_key_id() -> str:
    return generate_public_key_id()


@pytest.fixture(scope="session")
def apiv3_key() -> str:
    return generate_apiv3_key()


@pytest.fixture
def handler(
    platform_keys: KeyPair, public_key_pair: KeyPair, public_key_id: str, apiv3_key: str
) -> NotificationHandler:
    """A notification handler that verifies with the platform certificate or the public key."""
    verifier = Verifier([platform_keys.certificate], public_key=public_key_pair.public_key, public_key_id=public_key_id)
    return NotificationHandler(verifier, apiv3_key)


@pytest.fixture
def fake(
    merchant_keys: KeyPair, platform_keys: KeyPair, public_key_pair: KeyPair, public_key_id: str, apiv3_key: str
) -> FakeWeChat:
    return FakeWeChat(
        merchant=merchant_keys,
        mchid=MCHID,
        apiv3_key=apiv3_key,
        platform_certs=[platform_keys],
        public_key=public_key_pair,
        public_key_id=public_key_id,
    )


@pytest.fixture
async def server(fake: FakeWeChat) -> AsyncIterator[TestServer]:
    srv = TestServer(fake.app(), host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


@asynccontextmanager
async def catch_all_server(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[TestServer]:
    """A real server on 127.0.0.1 that sends every method and path to ``handle``.

    The hostile and instrumented servers of the tests differ only in their handler; this starts and
    stops them the one way.
    """
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    try:
        yield srv
    finally:
        await srv.close()


FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05, deadline=10.0)


def client_kwargs(fake: FakeWeChat, server: TestServer, *, mode: str = "certificates", **extra: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "mchid": fake.mchid,
        "merchant_serial": fake.merchant.serial,
        "private_key": fake.merchant.private_pem(),
        "apiv3_key": fake.apiv3_key,
        "base_url": str(server.make_url("")).rstrip("/"),
        "retry": FAST_RETRY,
    }
    if mode in ("public_key", "combined"):
        assert fake.public_key is not None
        kwargs["platform_public_key"] = fake.public_key.public_pem()
        kwargs["platform_public_key_id"] = fake.public_key_id
    if mode == "combined":
        kwargs["download_certificates"] = True
    kwargs.update(extra)
    return kwargs


def public_key_client_kwargs(
    merchant_keys: KeyPair,
    apiv3_key: str,
    public_key_pair: KeyPair,
    public_key_id: str,
    base_url: str,
    **extra: Any,
) -> dict[str, Any]:
    """The merchant of the session fixtures, verifying with the platform public key, against ``base_url``.

    For tests whose server is not the fake (so ``client_kwargs`` cannot read the identity from it).
    """
    kwargs: dict[str, Any] = {
        "mchid": MCHID,
        "merchant_serial": merchant_keys.serial,
        "private_key": merchant_keys.private_pem(),
        "apiv3_key": apiv3_key,
        "platform_public_key": public_key_pair.public_pem(),
        "platform_public_key_id": public_key_id,
        "base_url": base_url,
    }
    kwargs.update(extra)
    return kwargs


#: The brand of brand-mode clients in tests (the official samples' brand_id literal is "120344").
TEST_BRAND_ID = "120344"


def brand_client_kwargs(fake: FakeWeChat, server: TestServer, **extra: Any) -> dict[str, Any]:
    """A brand identity (品牌直连) on the fake: its key pair, the platform public key, a brand API key."""
    assert fake.public_key is not None
    kwargs: dict[str, Any] = {
        "brand_id": TEST_BRAND_ID,
        "brand_serial": fake.merchant.serial,
        "private_key": fake.merchant.private_pem(),
        "brand_api_key": fake.apiv3_key,
        "platform_public_key": fake.public_key.public_pem(),
        "platform_public_key_id": fake.public_key_id,
        "base_url": str(server.make_url("")).rstrip("/"),
        "retry": FAST_RETRY,
    }
    kwargs.update(extra)
    return kwargs


@pytest.fixture
async def client(fake: FakeWeChat, server: TestServer) -> AsyncIterator[Client]:
    async with Client(**client_kwargs(fake, server)) as wx:
        fake.received.clear()  # forget the start-up certificate download
        yield wx
