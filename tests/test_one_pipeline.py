"""Each pipeline step lives once: the client's fused exchange runs the middleware classes' own methods."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from wxpay_async import Client, Request
from wxpay_async._request import RequestOptions
from wxpay_async.middleware import (
    IdempotencyMiddleware,
    LoggingMiddleware,
    SigningMiddleware,
    VerifyingMiddleware,
    build_chain,
)

from .conftest import client_kwargs
from .fake_wechat import FakeWeChat


def _hints(function: Any) -> dict[str, Any]:
    return typing.get_type_hints(function, globalns=vars(__import__("wxpay_async._client", fromlist=["x"])))


def test_the_request_options_are_declared_alike_everywhere() -> None:
    """RequestOptions, request()'s keywords and _build's parameters: the same names and types."""
    options = typing.get_type_hints(RequestOptions)
    request = {k: v for k, v in _hints(Client.request).items() if k not in ("method", "path", "return")}
    build = {k: v for k, v in _hints(Client._build).items() if k not in ("method", "path", "return")}
    assert {k: v for k, v in request.items() if k not in ("raise_for_status", "retry")} == options
    assert {k: v for k, v in build.items() if k not in ("verify", "base_url")} == options
    build_request = inspect.signature(Client.build_request).parameters
    assert set(build_request) == {"self", "method", "path", "verify", "base_url", "options"}


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Which middleware-class methods a call ran (the classes themselves are patched)."""
    calls: list[str] = []
    for cls, name in (
        (SigningMiddleware, "sign_now"),
        (VerifyingMiddleware, "prepare"),
        (VerifyingMiddleware, "check_now"),
        (IdempotencyMiddleware, "number_for"),
    ):
        original = getattr(cls, name)

        def spy(self: Any, *args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, spy)
    yield calls


async def test_the_client_runs_the_middleware_classes_own_steps(
    fake: FakeWeChat, server: TestServer, seen: list[str]
) -> None:
    async with Client(**client_kwargs(fake, server, mode="public_key")) as wx:
        seen.clear()
        await wx.request("POST", "/v3/x", json={"a": 1}, idempotency_field="out_request_no")
    assert seen == ["number_for", "sign_now", "prepare", "check_now"]


async def test_a_hand_built_chain_signs_and_verifies_like_the_client(fake: FakeWeChat, server: TestServer) -> None:
    """The same steps in class form, over the client's own signer and verifier, give the same answer."""
    async with Client(**client_kwargs(fake, server, mode="public_key", clock=lambda: 1_700_000_000.0)) as wx:
        fake.clock = lambda: 1_700_000_000.0
        request = wx.build_request("GET", "/v3/marketing/favor/stocks/{s}", path_params={"s": "1"})
        chain = build_chain([LoggingMiddleware(), wx._signer, wx._verifier], wx.transport.send)
        by_hand = await chain(request)
        by_client = await wx.send(request)
    assert by_hand.verified and by_client.verified
    assert fake.received[-1].auth["mchid"] == fake.received[-2].auth["mchid"] == wx.mchid
    assert by_hand.json()["target"] == by_client.json()["target"]


def test_one_place_fills_request_numbers() -> None:
    numbers = iter(["N-1", "N-2"])
    idem = IdempotencyMiddleware(lambda: next(numbers))
    body, key = idem.number_for({"a": 1}, "out_request_no")
    assert (body, key) == ({"a": 1, "out_request_no": "N-1"}, "N-1")
    assert idem.number_for({"out_request_no": "mine"}, "out_request_no") == ({"out_request_no": "mine"}, "mine")
    by_hand = Request(
        method="POST", base_url="http://x", target="/v3/x", json={"a": 1}, idempotency_field="out_request_no"
    )
    filled = idem.fill(by_hand)
    assert filled.idempotency_key == "N-2" and filled.content == b'{"a":1,"out_request_no":"N-2"}'
