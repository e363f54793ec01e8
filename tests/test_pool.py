"""The connection pool: a call that waited for a connection in vain was never sent, and says so."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from wxpay_async import Client, Request, Response, RetryPolicy
from wxpay_async.devkeys import KeyPair
from wxpay_async.errors import APIConnectionError, APITimeoutError, ConfigurationError, NotSentError, PoolTimeoutError
from wxpay_async.middleware import RetryMiddleware
from wxpay_async.transports import DEFAULT_POOL_SIZE, AiohttpTransport, HttpxTransport

from .test_retry import Recorder, req, resp


@pytest.fixture
async def slow_server() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """/slow answers once ``release`` is set; /fast at once."""
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"ok": True})

    async def fast(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/slow", slow)
    app.router.add_get("/fast", fast)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", release
    finally:
        release.set()
        await runner.cleanup()


def get(base_url: str, target: str, timeout: float) -> Request:
    return Request(method="GET", base_url=base_url, target=target, timeout=timeout)


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_waiting_for_a_pool_connection_in_vain_is_not_a_timeout_on_the_wire(
    slow_server: tuple[str, asyncio.Event], kind: str
) -> None:
    base_url, release = slow_server
    transport = AiohttpTransport(limit=1) if kind == "aiohttp" else HttpxTransport(limit=1)
    try:
        holder = asyncio.create_task(transport.send(get(base_url, "/slow", 5.0)))
        await asyncio.sleep(0.2)  # the one connection is taken
        with pytest.raises(PoolTimeoutError) as caught:
            await transport.send(get(base_url, "/fast", 0.3))
        error = caught.value
        assert error.sent is False and isinstance(error, NotSentError) and isinstance(error, APIConnectionError)
        assert not isinstance(error, APITimeoutError)
        assert "nothing was sent" in str(error) and "pool of 1" in str(error)
        release.set()
        assert (await holder).status == 200
        # The slot came back: the next call goes through.
        assert (await transport.send(get(base_url, "/fast", 5.0))).status == 200
    finally:
        release.set()
        await transport.aclose()


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_a_timeout_after_sending_stays_an_api_timeout(slow_server: tuple[str, asyncio.Event], kind: str) -> None:
    base_url, _ = slow_server
    transport = AiohttpTransport(limit=1) if kind == "aiohttp" else HttpxTransport(limit=1)
    try:
        with pytest.raises(APITimeoutError) as caught:
            await transport.send(get(base_url, "/slow", 0.3))
        assert caught.value.sent is None  # the outcome is unknown
        assert not isinstance(caught.value, NotSentError)
    finally:
        await transport.aclose()


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_a_refused_connection_was_not_sent(kind: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    transport = AiohttpTransport() if kind == "aiohttp" else HttpxTransport()
    try:
        with pytest.raises(NotSentError) as caught:
            await transport.send(get(f"http://127.0.0.1:{port}", "/fast", 5.0))
        assert caught.value.sent is False
    finally:
        await transport.aclose()


async def test_not_sent_errors_are_retried_even_without_a_request_number() -> None:
    sleep = Recorder()
    mw = RetryMiddleware(RetryPolicy(max_attempts=3), sleep=sleep)
    post = Request(method="POST", base_url="http://127.0.0.1", target="/v3/x", timeout=5.0)
    assert not post.retry_safe
    seen: list[Request] = []

    async def call_next(r: Request) -> Response:
        seen.append(r)
        if len(seen) == 1:
            raise PoolTimeoutError("no connection")
        return resp(r, 200)

    assert (await mw(post, call_next)).status == 200
    assert len(seen) == 2 and len(sleep.sleeps) == 1
    assert seen[0] is post and seen[1] is post  # the same bytes, nothing changed


async def test_unknown_outcomes_of_unsafe_calls_are_still_not_retried() -> None:
    sleep = Recorder()
    mw = RetryMiddleware(RetryPolicy(max_attempts=3), sleep=sleep)
    post = Request(method="POST", base_url="http://127.0.0.1", target="/v3/x", timeout=5.0)
    calls = 0

    async def timeout(r: Request) -> Response:
        nonlocal calls
        calls += 1
        raise APITimeoutError("no answer")

    with pytest.raises(APITimeoutError):
        await mw(post, timeout)
    assert calls == 1 and sleep.sleeps == []

    async def server_error(r: Request) -> Response:
        nonlocal calls
        calls += 1
        return resp(r, 503)

    calls = 0
    assert (await mw(post, server_error)).status == 503  # an answer: never re-sent for unsafe calls
    assert calls == 1


async def test_not_sent_retries_keep_the_request_number_and_body() -> None:
    """Every attempt of a numbered call carries the same number and bytes."""
    sleep = Recorder()
    mw = RetryMiddleware(RetryPolicy(max_attempts=4), sleep=sleep)
    request = req("POST", key="N1").replace(content=b'{"out_request_no":"N1"}')
    seen: list[bytes] = []

    async def call_next(r: Request) -> Response:
        seen.append(r.content)
        if len(seen) < 3:
            raise PoolTimeoutError("no connection")
        return resp(r, 200)

    assert (await mw(request, call_next)).status == 200
    assert seen == [b'{"out_request_no":"N1"}'] * 3


def test_pool_size_is_a_client_option(merchant_keys: KeyPair, public_key_pair: KeyPair, public_key_id: str) -> None:
    kwargs = {
        "mchid": "1900000001",
        "merchant_serial": merchant_keys.serial,
        "private_key": merchant_keys.private_key,
        "apiv3_key": "a" * 32,
        "platform_public_key": public_key_pair.public_key,
        "platform_public_key_id": public_key_id,
    }
    transport = Client(**kwargs, pool_size=8).transport
    assert isinstance(transport, AiohttpTransport) and transport._limit == 8
    default = Client(**kwargs).transport
    assert isinstance(default, AiohttpTransport) and default._limit == DEFAULT_POOL_SIZE == 256
    with pytest.raises(ConfigurationError, match="limit="):
        Client(**kwargs, pool_size=8, transport=AiohttpTransport())
    with pytest.raises(ConfigurationError, match="positive"):
        Client(**kwargs, pool_size=0)


async def test_pool_gate_is_first_come_first_served_and_cancellation_safe() -> None:
    from wxpay_async.transports._base import PoolGate

    gate = PoolGate(1)
    assert gate.try_acquire() and gate.locked() and not gate.try_acquire()
    order: list[str] = []

    async def waiter(name: str) -> None:
        await gate.acquire()
        order.append(name)

    first, cancelled, last = (asyncio.create_task(waiter(n)) for n in ("first", "cancelled", "last"))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    assert not gate.try_acquire()  # others wait: no overtaking, even with a slot about to free
    gate.release()  # straight to the longest waiter
    await first
    gate.release()  # the cancelled waiter is skipped
    await last
    assert order == ["first", "last"] and cancelled.cancelled()

    # Handed a slot just as it is cancelled: the slot passes on, none is lost.
    handed = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    gate.release()
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert not gate.locked() and gate.try_acquire()
    gate.release()
    assert gate.try_acquire() and not gate.try_acquire()
