"""``sent`` describes the whole call: NotSentError only when no attempt of it reached the wire.

A real server on 127.0.0.1 plays each attempt of one call: it reads the request and then drops
the connection, hangs, answers 503/429, or is gone (port closed: connection refused); the pool
case holds the transport's only connection with a real call to a hanging server. Every pair of
the failures the retry layer tells apart is played, and the call's error must tell the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from wxpay_async import Client, Request, Response, RetryPolicy
from wxpay_async.devkeys import KeyPair
from wxpay_async.emulator import create_running_stock, run_emulator
from wxpay_async.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    Attempt,
    InternalServerError,
    NotSentError,
    OutcomeUnknownError,
    PoolTimeoutError,
    RateLimitError,
    TransportClosedError,
    WxPayError,
)

from .conftest import MCHID, public_key_client_kwargs

REACHED = ("drop", "hang", "503", "429")  # the request went on the wire
NOT_SENT = ("refuse", "pool")  # it did not
ATTEMPT_TIMEOUT = 0.4
TWO_TRIES = RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.002, deadline=30.0)


class VanishingListener:
    """A TCP listener on 127.0.0.1 that can disappear (connecting refused) and listen again on its port.

    The scripted server and the forwarder both stand in for a server that goes away; they differ only
    in what ``_handle`` does with a connection.
    """

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None

    async def listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]

    async def disappear(self) -> None:
        """Close the listening socket: connecting is refused from now on."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class ScriptedServer(VanishingListener):
    """A raw HTTP/1.1 server: each connection reads one whole request, then does ``self.kind``."""

    def __init__(self) -> None:
        super().__init__()
        self.kind = "drop"
        self.requests: list[bytes] = []
        self._hanging: list[asyncio.StreamWriter] = []

    async def aclose(self) -> None:
        await self.disappear()
        for writer in self._hanging:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            await self._play(reader, writer)

    async def _play(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        kind = self.kind
        if kind == "hang":
            self._hanging.append(writer)
            await reader.read()  # until the client gives up and closes
        elif kind in ("503", "429"):
            payload = json.dumps({"code": "SYSTEM_ERROR" if kind == "503" else "FREQUENCY_LIMITED"}).encode()
            writer.write(
                f"HTTP/1.1 {kind} X\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                f"Connection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        writer.close()  # "drop": the request was read, no answer is written


@contextlib.asynccontextmanager
async def scripted_client(
    merchant_keys: KeyPair, public_key_pair: KeyPair, public_key_id: str, apiv3_key: str, script: list[str]
) -> AsyncIterator[tuple[Client, ScriptedServer]]:
    """A client whose every attempt is played by ``script`` (one kind per attempt)."""
    server, blocker_server = ScriptedServer(), ScriptedServer()
    await server.listen()
    await blocker_server.listen()
    blocker_server.kind = "hang"
    attempts = iter(script)
    client: Client

    async def play(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        kind = next(attempts)
        blocker: asyncio.Task[Response] | None = None
        if kind == "refuse":
            await server.disappear()
        elif kind == "closed":
            await client.transport.aclose()
        else:
            await server.listen()
            server.kind = kind
        if kind == "pool":  # a real call holds the pool's only connection for this attempt
            held = request.replace(base_url=f"http://127.0.0.1:{blocker_server.port}", timeout=30.0)
            blocker = asyncio.create_task(client.transport.send(held))
            await asyncio.sleep(0.05)
        try:
            return await call_next(request)
        finally:
            if blocker is not None:
                blocker.cancel()
                with contextlib.suppress(BaseException):
                    await blocker

    client = Client(
        **public_key_client_kwargs(
            merchant_keys,
            apiv3_key,
            public_key_pair,
            public_key_id,
            f"http://127.0.0.1:{server.port}",
            retry=TWO_TRIES,
            pool_size=1,
            timeout=ATTEMPT_TIMEOUT,
            middleware=[play],
        )
    )
    try:
        async with client:
            yield client, server
    finally:
        await server.aclose()
        await blocker_server.aclose()


async def send(client: Client) -> None:
    await client.favor.send_coupon(
        "oUser1", appid="wx233544546545989", stock_creator_mchid=MCHID, stock_id="9856000", out_request_no="n-1"
    )


def expected_class(first: str, last: str) -> type[WxPayError]:
    if last in NOT_SENT:
        if first in REACHED:
            return OutcomeUnknownError
        return PoolTimeoutError if last == "pool" else NotSentError
    return {"drop": APIConnectionError, "hang": APITimeoutError, "503": InternalServerError, "429": RateLimitError}[
        last
    ]


@pytest.mark.parametrize("last", REACHED + NOT_SENT)
@pytest.mark.parametrize("first", REACHED + NOT_SENT)
async def test_every_pair_of_attempts_reports_the_whole_call(
    merchant_keys: KeyPair, public_key_pair: KeyPair, public_key_id: str, apiv3_key: str, first: str, last: str
) -> None:
    async with scripted_client(merchant_keys, public_key_pair, public_key_id, apiv3_key, [first, last]) as (
        client,
        server,
    ):
        with pytest.raises(WxPayError) as caught:
            await send(client)
    error = caught.value
    assert type(error) is expected_class(first, last), repr(error)
    reached = [first in REACHED, last in REACHED]
    # The server saw exactly the attempts that reached the wire.
    assert len(server.requests) == sum(reached)
    assert error.idempotency_key == "n-1"
    if isinstance(error, APIConnectionError):
        if any(reached):
            assert error.sent is not False
            assert not isinstance(error, NotSentError)
            assert "nothing was sent" not in str(error)
        else:
            assert error.sent is False
        assert [a.reached_wire for a in error.attempts] == reached
        assert [a.number for a in error.attempts] == [1, 2]
        assert all(isinstance(a, Attempt) and a.outcome for a in error.attempts)
    else:
        assert isinstance(error, APIStatusError)
    if isinstance(error, OutcomeUnknownError):
        assert error.sent is (True if first in ("503", "429") else None)
        assert "n-1" in str(error) and "outcome unknown" in str(error)
        assert error.attempts[0].outcome.startswith("HTTP" if first in ("503", "429") else "API")


async def test_dropped_answer_then_gone_is_not_reported_as_not_sent(
    merchant_keys: KeyPair, public_key_pair: KeyPair, public_key_id: str, apiv3_key: str
) -> None:
    """The issue's case: attempt 1 read and dropped, the server then gone (port closed)."""
    async with scripted_client(merchant_keys, public_key_pair, public_key_id, apiv3_key, ["drop", "refuse"]) as (
        client,
        server,
    ):
        with pytest.raises(APIConnectionError) as caught:
            await send(client)
    assert not isinstance(caught.value, NotSentError)
    assert caught.value.sent is None
    assert b'"out_request_no":"n-1"' in server.requests[0]


async def test_transport_closed_after_a_dropped_attempt_is_outcome_unknown(
    merchant_keys: KeyPair, public_key_pair: KeyPair, public_key_id: str, apiv3_key: str
) -> None:
    async with scripted_client(merchant_keys, public_key_pair, public_key_id, apiv3_key, ["drop", "closed"]) as (
        client,
        _,
    ):
        with pytest.raises(OutcomeUnknownError) as caught:
            await send(client)
    assert isinstance(caught.value.__cause__, TransportClosedError)
    assert [a.reached_wire for a in caught.value.attempts] == [True, False]


async def test_single_attempt_errors_carry_their_attempt(
    merchant_keys: KeyPair, public_key_pair: KeyPair, public_key_id: str, apiv3_key: str
) -> None:
    async with scripted_client(merchant_keys, public_key_pair, public_key_id, apiv3_key, ["refuse"]) as (client, _):
        with pytest.raises(NotSentError) as caught:
            await client.with_options(retry=RetryPolicy(max_attempts=1)).favor.send_coupon(
                "oUser1", appid="wx233544546545989", stock_creator_mchid=MCHID, stock_id="9856000"
            )
    assert [(a.number, a.reached_wire) for a in caught.value.attempts] == [(1, False)]
    assert caught.value.idempotency_key  # the generated request number


class Forwarder(VanishingListener):
    """A TCP forwarder on 127.0.0.1 in front of the emulator, which can disappear (port closed)."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._target = port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


async def test_emulator_ledger_shows_the_coupon_the_error_does_not_deny() -> None:
    """drop_after: the emulator issues the coupon and drops the answer; then it is gone."""
    async with run_emulator() as running:
        async with Client(**running.client_kwargs()) as setup:
            stock = await create_running_stock(setup, max_coupons=10)
        forwarder = Forwarder(running.port)
        await forwarder.listen()
        seen: list[Request] = []

        async def vanish(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            if seen:  # attempt 2 and later: the server is gone
                await forwarder.disappear()
            seen.append(request)
            return await call_next(request)

        kwargs = {**running.client_kwargs(), "base_url": f"http://127.0.0.1:{forwarder.port}"}
        async with Client(**kwargs, retry=TWO_TRIES, middleware=[vanish]) as wx:
            running.push_faults({"kind": "drop_after", "method": "POST", "path_prefix": "/v3/marketing/favor/users/"})
            with pytest.raises(WxPayError) as caught:
                await wx.favor.send_coupon(
                    "oUser1", appid="wx233544546545989", stock_creator_mchid=running.mchid, stock_id=stock
                )
        await forwarder.disappear()
        ledger = running.ledger()
    error = caught.value
    assert isinstance(error, OutcomeUnknownError) and not isinstance(error, NotSentError), repr(error)
    issued = [r for r in ledger["requests"] if r["issued"]]
    assert [r["request_no"] for r in issued] == [error.idempotency_key]
    assert len(ledger["coupons"]) == 1
    assert [a.reached_wire for a in error.attempts] == [True, False]
