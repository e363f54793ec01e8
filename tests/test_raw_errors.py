"""Every error a call can raise is a WxPayError: inputs aiohttp, json or urllib would refuse with
their own ValueError/TypeError/UnicodeError are refused first, naming the field and the rule.

Each case was found raising a foreign exception before the fix (aiohttp's ``Cannot combine
AUTHORIZATION header with ... credentials encoded in URL``, json's ``TypeError``, ``quote()``'s
``UnicodeEncodeError``...). The calls run against a real server on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from wxpay_async import Client
from wxpay_async.errors import ConfigurationError, ValidationError, WxPayError
from wxpay_async.flows import download_flow

from .conftest import MCHID, client_kwargs
from .fake_wechat import FakeWeChat

Call = Callable[[Client], Coroutine[Any, Any, Any]]


def _circular() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


REFUSED: dict[str, tuple[str, Call]] = {
    "header with CR LF": ("headers", lambda wx: wx.request("GET", "/v3/x", headers={"X-A": "a\r\nInjected: 1"})),
    "header name not a token": ("headers", lambda wx: wx.request("GET", "/v3/x", headers={"X A:": "a"})),
    "header value not str": ("headers", lambda wx: wx.request("GET", "/v3/x", headers={"X-A": 1})),  # type: ignore[dict-item]
    "content type with LF": (
        "content_type",
        lambda wx: wx.request("POST", "/v3/x", content=b"a", content_type="text/plain\nX: 1"),
    ),
    "timeout as text": ("timeout", lambda wx: wx.request("GET", "/v3/x", timeout="1")),  # type: ignore[arg-type]
    "json set": ("json", lambda wx: wx.request("POST", "/v3/x", json={"a": {1}})),
    "json Decimal": ("json", lambda wx: wx.request("POST", "/v3/x", json={"a": decimal.Decimal("1")})),
    "json datetime": ("json", lambda wx: wx.request("POST", "/v3/x", json={"a": dt.datetime.now(dt.UTC)})),
    "json NaN": ("json", lambda wx: wx.request("POST", "/v3/x", json={"a": math.nan})),
    "json circular": ("json", lambda wx: wx.request("POST", "/v3/x", json=_circular())),
    "json lone surrogate": ("json", lambda wx: wx.request("POST", "/v3/x", json={"a": "\ud800"})),
    "json tuple key": ("json", lambda wx: wx.request("POST", "/v3/x", json={(1,): "a"})),
    "content str": ("content", lambda wx: wx.request("POST", "/v3/x", content="abc")),  # type: ignore[arg-type]
    "signed_payload str": (
        "signed_payload",
        lambda wx: wx.request("POST", "/v3/x", content=b"a", signed_payload="x"),  # type: ignore[arg-type]
    ),
    "method with space": ("method", lambda wx: wx.request("GE T", "/v3/x")),
    "method not ASCII": ("method", lambda wx: wx.request("获取", "/v3/x")),
    "path without slash": ("path", lambda wx: wx.request("GET", "v3/x")),
    "path not ASCII": ("path", lambda wx: wx.request("GET", "/v3/中文")),
    "path with space": ("path", lambda wx: wx.request("GET", "/v3/a b")),
    "path with CR LF": ("path", lambda wx: wx.request("GET", "/v3/a\r\nb")),
    "path param surrogate": ("a", lambda wx: wx.request("GET", "/v3/{a}", path_params={"a": "\ud800"})),
    "query value surrogate": ("query", lambda wx: wx.request("GET", "/v3/x", query={"a": "\ud800"})),
    "query key surrogate": ("query", lambda wx: wx.request("GET", "/v3/x", query={"\ud800": "a"})),
    "query not a mapping": ("query", lambda wx: wx.request("GET", "/v3/x", query=[("a", "b")])),  # type: ignore[arg-type]
    "typed openid surrogate": (
        "openid",
        lambda wx: wx.favor.send_coupon(
            "o\ud800", appid="wx233544546545989", stock_creator_mchid=MCHID, stock_id="9856000"
        ),
    ),
    "extra_headers with LF": (
        "extra_headers",
        lambda wx: wx.with_options(extra_headers={"X-A": "a\nb"}).request("GET", "/v3/x"),
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_bad_inputs_are_refused_before_sending(fake: FakeWeChat, client: Client, case: str) -> None:
    field, call = REFUSED[case]
    with pytest.raises(ValidationError) as caught:
        await call(client)
    assert caught.value.field.startswith(field), caught.value
    assert fake.received == []  # nothing went on the wire


@pytest.mark.parametrize(
    ("base_url", "rule"),
    [
        ("http://user:secret@127.0.0.1:8080", "credentials"),
        ("https://user@api.mch.weixin.qq.com", "credentials"),
        ("http://127.0.0.1:99999", "valid URL"),
        ("http://127.0.0.1:port", "valid URL"),
        ("http://[::1", "valid URL"),
        ("http://a b", "spaces"),
        ("http://中文.com", "ASCII"),
        ("http://127.0.0.1:0", "port"),
        ("ftp://host", "http(s)"),
        ("http://host/v3", "without a path"),
    ],
)
def test_base_url_is_refused_at_construction(fake: FakeWeChat, server: TestServer, base_url: str, rule: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Client(**client_kwargs(fake, server, base_url=base_url))
    assert rule in str(caught.value) and "base_url" in str(caught.value)
    assert "secret" not in str(caught.value)


async def test_flow_url_with_credentials_is_refused_before_sending(
    fake: FakeWeChat, server: TestServer, client: Client
) -> None:
    url = str(server.make_url("/v3/billdownload/file?token=1")).replace("http://", "http://user:secret@")
    with pytest.raises(ValidationError) as caught:
        await download_flow(client, url, "00")
    assert caught.value.field == "url" and "credentials" in caught.value.rule
    assert "secret" not in str(caught.value)
    assert fake.received == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/f", "http://[::1/f", "http://h/中文"])
async def test_malformed_flow_urls_are_refused(client: Client, url: str) -> None:
    with pytest.raises(ValidationError):
        await download_flow(client, url, "00")


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
@pytest.mark.parametrize(
    "change",
    [
        {"headers": {"X-A": "a\r\nb"}},
        {"base_url": "http://127.0.0.1:99999"},
        {"method": "GE T"},
    ],
)
async def test_a_hand_built_request_the_library_refuses_is_still_a_wxpay_error(
    fake: FakeWeChat, server: TestServer, kind: str, change: dict[str, Any]
) -> None:
    """The transports' last line: whatever aiohttp or httpx raise for a request they cannot send."""
    from wxpay_async.transports import HttpxTransport

    transport = HttpxTransport() if kind == "httpx" else None
    async with Client(
        **client_kwargs(fake, server, mode="public_key", transport=transport, close_transport=True)
    ) as wx:
        built = wx.build_request("GET", "/v3/x")
        if "headers" in change:
            change = {"headers": {**built.headers, **change["headers"]}}
        with pytest.raises(WxPayError):
            await wx.send(built.replace(**change))
