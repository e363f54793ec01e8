"""proxy= and trust_env= on the default transport, through a real forwarding proxy on 127.0.0.1."""

from __future__ import annotations

import logging
import traceback

import pytest
from aiohttp.test_utils import TestServer

from wxpay_async import Client
from wxpay_async.errors import APIConnectionError, ConfigurationError
from wxpay_async.transports import AiohttpTransport

from .conftest import client_kwargs
from .fake_wechat import FakeWeChat
from .forward_proxy import forward_proxy
from .redis_server import _free_port

SECRET = "s3cret-Pa55"
PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)


async def _call(fake: FakeWeChat, server: TestServer, **options: object) -> int:
    async with Client(**client_kwargs(fake, server, mode="public_key"), **options) as wx:  # type: ignore[arg-type]
        r = await wx.request("GET", "/v3/marketing/favor/stocks/1", query={"a": "b c"})
        assert r.verified  # the signature over the target survived the hop
        return r.status


async def test_proxy_argument_sends_through_the_proxy(fake: FakeWeChat, server: TestServer) -> None:
    async with forward_proxy() as proxy:
        assert await _call(fake, server, proxy=proxy.url) == 200
    assert len(proxy.forwarded) == 1
    assert proxy.forwarded[0].startswith(f"http://127.0.0.1:{server.port}/v3/marketing/favor/stocks/1?a=b%20c")
    assert fake.received[-1].target == "/v3/marketing/favor/stocks/1?a=b%20c"


#: Stands for the running proxy's URL in the environment cases below.
PROXY_URL = "<the proxy>"


@pytest.mark.parametrize(
    ("env", "options", "forwarded"),
    [
        pytest.param({"HTTP_PROXY": PROXY_URL, "HTTPS_PROXY": PROXY_URL}, {}, 0, id="ignored-without-trust_env"),
        pytest.param(
            {"HTTP_PROXY": PROXY_URL, "HTTPS_PROXY": PROXY_URL},
            {"trust_env": True},
            1,
            id="trust_env-follows-HTTP_PROXY",
        ),
        pytest.param(
            {"HTTP_PROXY": PROXY_URL, "NO_PROXY": "127.0.0.1"}, {"trust_env": True}, 0, id="trust_env-honours-NO_PROXY"
        ),
    ],
)
async def test_environment_proxy_is_used_only_with_trust_env_and_not_for_no_proxy(
    fake: FakeWeChat,
    server: TestServer,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    options: dict[str, object],
    forwarded: int,
) -> None:
    async with forward_proxy() as proxy:
        for name, value in env.items():
            monkeypatch.setenv(name, proxy.url if value == PROXY_URL else value)
        assert await _call(fake, server, **options) == 200
    assert len(proxy.forwarded) == forwarded


async def test_proxy_credentials_are_sent_but_never_shown(
    fake: FakeWeChat, server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with forward_proxy(credentials=("alice", SECRET)) as proxy:
        url = f"http://alice:{SECRET}@127.0.0.1:{proxy.port}"
        assert await _call(fake, server, proxy=url) == 200
        assert proxy.proxy_auth[-1] is not None and proxy.proxy_auth[-1].startswith("Basic ")
        transport = AiohttpTransport(proxy=url)
        assert repr(transport) == f"AiohttpTransport(proxy='http://***@127.0.0.1:{proxy.port}', trust_env=False)"
        await transport.aclose()

    dead = f"http://alice:{SECRET}@127.0.0.1:{_free_port()}"  # nobody listens: a connection error
    async with Client(**client_kwargs(fake, server, mode="public_key", retry=_no_retry()), proxy=dead) as wx:
        with pytest.raises(APIConnectionError) as info:
            await wx.request("GET", "/v3/x")
        shown = [repr(wx), repr(wx.transport), str(info.value), repr(info.value)]
    shown.append("".join(traceback.format_exception(info.value)))
    shown.extend(r.getMessage() + repr(r.args) for r in caplog.records)
    for text in shown:
        assert SECRET not in text and "alice:" not in text, text
    assert "Cannot connect" in str(info.value) or "proxy" in str(info.value).lower()


async def test_proxy_with_environment_variables_credentials_never_shown(
    fake: FakeWeChat, server: TestServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HTTP_PROXY", f"http://bob:{SECRET}@127.0.0.1:{_free_port()}")
    async with Client(**client_kwargs(fake, server, mode="public_key", retry=_no_retry()), trust_env=True) as wx:
        with pytest.raises(APIConnectionError) as info:
            await wx.request("GET", "/v3/x")
    texts = [str(info.value), "".join(traceback.format_exception(info.value))]
    texts.extend(r.getMessage() for r in caplog.records)
    assert all(SECRET not in t for t in texts)


def test_proxy_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="proxy must be") as info:
        AiohttpTransport(proxy=f"socks5://u:{SECRET}@127.0.0.1:1080")
    assert SECRET not in str(info.value)


async def test_proxy_on_a_client_with_its_own_transport_is_refused(fake: FakeWeChat, server: TestServer) -> None:
    with pytest.raises(ConfigurationError, match="default transport"):
        Client(
            **client_kwargs(fake, server, mode="public_key"), transport=AiohttpTransport(), proxy="http://127.0.0.1:1"
        )


def _no_retry():  # type: ignore[no-untyped-def]
    from wxpay_async import RetryPolicy

    return RetryPolicy(max_attempts=1)
