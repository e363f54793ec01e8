"""Attacks on the client side of the SDK, each against a real server on 127.0.0.1.

A hostile aiohttp.web peer (``tests/hostile.py``) sends malformed headers, gzip bombs, endless
and dripping bodies; the scriptable FakeWeChat signs with real RSA keys where a valid signature
is needed. Each test failed before the hardening it guards.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import random
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy

from wxpay_async import Client, Request, Response
from wxpay_async.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    ResponseTooLargeError,
    SignatureVerificationError,
    TransportClosedError,
    ValidationError,
    WxPayError,
)
from wxpay_async.flows import download_flow
from wxpay_async.middleware import NO_RETRY, RetryMiddleware, RetryPolicy, parse_retry_after
from wxpay_async.transports import AiohttpTransport, ByteStream, HttpxTransport, InProcessTransport, Transport

from .conftest import client_kwargs
from .fake_wechat import FakeWeChat, Reply
from .hostile import DRIP_BYTES, DRIP_EVERY, hostile_app

SEND_PATH = "/v3/marketing/favor/users/{openid}/coupons"
SECRET_MARKERS = ("WECHATPAY2-SHA256-RSA2048", "signature=")
TRANSPORTS = ["aiohttp", "httpx"]


@pytest.fixture
async def hostile() -> AsyncIterator[TestServer]:
    srv = TestServer(hostile_app(), host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


def make_transport(kind: str, **options: Any) -> Transport:
    return AiohttpTransport(**options) if kind == "aiohttp" else HttpxTransport(**options)


def hostile_client(fake: FakeWeChat, hostile: TestServer, kind: str, **extra: Any) -> Client:
    """A public-key-mode client (nothing downloaded at start) aimed at the hostile server."""
    extra.setdefault("retry", NO_RETRY)
    timeout = extra.get("timeout", 30.0)
    return Client(
        **client_kwargs(fake, hostile, mode="public_key", transport=make_transport(kind, timeout=timeout), **extra),
        close_transport=True,
    )


def everything_shown(exc: BaseException) -> str:
    """str, repr and the formatted traceback of ``exc`` and of every exception chained to it."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(getattr(current, "args", ()))]
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


def assert_no_secret(text: str, *secrets: str) -> None:
    for marker in (*SECRET_MARKERS, *secrets):
        assert marker not in text, f"{marker!r} leaked into: {text[:2000]}"


# -- 1. no credential in any exception text, repr or log line ------------------------------------


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_malformed_response_header_leaks_no_authorization(
    fake: FakeWeChat, hostile: TestServer, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sent: list[str] = []
    async with hostile_client(fake, hostile, kind) as wx:
        original = wx._signer.sign_now  # signing on the loop: the client's exchange step calls it

        def remember(request: Request) -> Request:
            signed = original(request)
            sent.append(signed.headers["Authorization"])
            return signed

        wx._signer.sign_now = remember  # type: ignore[method-assign]
        with pytest.raises(APIConnectionError) as info:
            await wx.request("POST", "/bad-header", json={"stock_id": "9856000", "out_request_no": "N1"})
    assert sent, "the request was signed and sent"
    signature = sent[0].split('signature="')[1].split('"')[0]
    shown = everything_shown(info.value)
    assert_no_secret(shown, signature)
    assert info.value.__cause__ is None and info.value.__context__ is None  # no aiohttp/httpx exception kept
    assert "/bad-header" in str(info.value)
    logged = "\n".join(
        r.getMessage() + ("".join(traceback.format_exception(*r.exc_info)) if r.exc_info else "")
        for r in caplog.records
    )
    assert_no_secret(logged, signature)


async def test_request_and_response_reprs_redact_signatures_and_bodies(client: Client, fake: FakeWeChat) -> None:
    body = {"stock_id": "9856000", "appid": "wx233544546545989", "openid_secret": "o-PRIVATE-openid"}
    response = await client.request("POST", SEND_PATH, path_params={"openid": "o1"}, json=body)
    auth = fake.received[-1].headers["Authorization"]
    signature = auth.split('signature="')[1].split('"')[0]
    for shown in (
        repr(response.request),
        repr(response),
        str(response.request),
        repr(await client.sign(response.request)),
    ):
        assert_no_secret(shown, signature, response.headers["Wechatpay-Signature"], "o-PRIVATE-openid")
    assert f"<{len(response.request.content)} bytes>" in repr(response.request)
    assert f"<{len(response.content)} bytes>" in repr(response)


# -- 2. bounded answers --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize("route", ["/bomb", "/big?mib=100", "/big?mib=100&announce=1"])
async def test_oversized_answers_are_refused_at_the_cap(
    fake: FakeWeChat, hostile: TestServer, kind: str, route: str
) -> None:
    async with hostile_client(fake, hostile, kind, max_response_bytes=1024 * 1024) as wx:
        with pytest.raises(ResponseTooLargeError) as info:
            await wx.request("POST", route, json={"out_request_no": "N-big"}, idempotency_field="out_request_no")
    assert info.value.limit == 1024 * 1024
    assert "1048576-byte cap" in str(info.value) and "max_response_bytes" in str(info.value)
    assert info.value.idempotency_key == "N-big"


async def test_default_answer_cap_is_ten_mib(fake: FakeWeChat, hostile: TestServer) -> None:
    async with Client(**client_kwargs(fake, hostile, mode="public_key", retry=NO_RETRY)) as wx:
        assert wx.max_response_bytes == 10 * 1024 * 1024
        with pytest.raises(ResponseTooLargeError, match="10485760-byte cap"):
            await wx.request("GET", "/big?mib=100")


MEMORY_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, resource, sys
    import aiohttp
    from aiohttp import web
    from wxpay_async import Request
    from wxpay_async.errors import WxPayError
    from wxpay_async.transports import AiohttpTransport, HttpxTransport
    sys.path.insert(0, ".")
    from tests.hostile import gzip_bomb, hostile_app

    def rss_mib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    async def main():
        gzip_bomb()
        runner = web.AppRunner(hostile_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        results = {}
        own_session = aiohttp.ClientSession()  # a caller's session: aiohttp decompresses itself
        transports = (
            ("aiohttp", AiohttpTransport()),
            ("httpx", HttpxTransport()),
            ("aiohttp caller session", AiohttpTransport(own_session)),
        )
        for name, transport in transports:
            warm = await transport.send(Request(method="GET", base_url=base, target="/flow?bytes=10", sign=False))
            assert warm.status == 200
            for target in ("/bomb", "/big?mib=100"):
                before = rss_mib()
                try:
                    await transport.send(Request(method="GET", base_url=base, target=target, sign=False))
                    outcome = "no error"
                except WxPayError as exc:
                    outcome = type(exc).__name__
                results[f"{name} {target}"] = {"error": outcome, "growth_mib": rss_mib() - before}
            await transport.aclose()
        await own_session.close()
        await runner.cleanup()
        print(json.dumps(results))

    asyncio.run(main())
    """
)


def test_bombs_and_endless_bodies_do_not_grow_memory() -> None:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT], cwd=root, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) == 6
    for case, result in results.items():
        assert result["error"] == "ResponseTooLargeError", (case, result)
        assert result["growth_mib"] < 50, (case, result)


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_flow_downloads_have_their_own_caps(
    fake: FakeWeChat, hostile: TestServer, kind: str, tmp_path: Path
) -> None:
    url = str(hostile.make_url("/flow?bytes=3000000"))
    async with hostile_client(fake, hostile, kind, max_response_bytes=1024 * 1024) as wx:
        # To memory: the answer cap.
        with pytest.raises(ValidationError, match="max_bytes"):
            await download_flow(wx, url, "00")
        # To disk: its own cap (default 512 MiB), so 3 MB passes the hash check...
        data_hash = hashlib.sha1(b"y" * 3_000_000).hexdigest()
        assert (await download_flow(wx, url, data_hash, to=tmp_path / "f.csv")).stat().st_size == 3_000_000
        # ...and a bomb stops at the disk cap, leaving nothing behind.
        with pytest.raises(ValidationError, match="max_bytes"):
            await download_flow(wx, str(hostile.make_url("/bomb")), "00", to=tmp_path / "b.csv", max_bytes=5_000_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv"]


# -- 3. one overall deadline per attempt ---------------------------------------------------------


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_slow_drip_body_cannot_outlive_the_timeout(fake: FakeWeChat, hostile: TestServer, kind: str) -> None:
    timeout = 1.5
    assert 8 * timeout <= DRIP_BYTES * DRIP_EVERY
    async with hostile_client(fake, hostile, kind, timeout=timeout) as wx:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            await wx.request("POST", "/drip", json={"out_request_no": "N-drip"}, idempotency_field="out_request_no")
        elapsed = time.monotonic() - started
        assert elapsed < 3 * timeout, f"a {timeout}s call took {elapsed:.1f}s"
        assert info.value.idempotency_key == "N-drip"
        # Streaming downloads are held to the same deadline.
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            await download_flow(wx, str(hostile.make_url("/drip")), "00")
        assert time.monotonic() - started < 3 * timeout


# -- 4. no raw parser exception from the response path -------------------------------------------


@pytest.mark.parametrize("body", [b"<html>gateway</html>", b"\xff\xfe not utf-8", b"[" * 200_000])
async def test_signed_non_json_answer_is_a_validation_error(client: Client, fake: FakeWeChat, body: bytes) -> None:
    fake.queue(Reply(body=body))
    with pytest.raises(APIResponseValidationError) as info:
        await client.favor.get_stock("9856000", stock_creator_mchid="1900000001")
    assert info.value.body == body and info.value.request_id
    fake.queue(Reply(body=body))
    response = await client.request("GET", "/v3/marketing/favor/stocks/9856000")
    with pytest.raises(APIResponseValidationError):
        response.json()
    with pytest.raises(ValueError):  # still a ValueError for code that caught json's error
        response.json()


@pytest.mark.parametrize("body", [[1, 2], "a string", 42, None])
async def test_json_that_is_not_an_object_is_read_leniently(client: Client, fake: FakeWeChat, body: Any) -> None:
    """Valid JSON of another shape never raises (issue #10): fields None, the JSON kept in .raw."""
    fake.queue(Reply(body=json.dumps(body).encode()))
    coupon = await client.favor.send_coupon("o1", stock_id="9856000", appid="wx1", stock_creator_mchid="1900000001")
    assert coupon.coupon_id is None and coupon.raw == body
    assert coupon.out_request_no  # the request number the call carried is still reported


# -- 5. path parameters cannot change the route; multipart headers cannot be injected ------------

ROUTE_CHANGERS = [
    ".",
    "..",
    "%2e%2e",
    "%2E%2e",
    "%2E.",
    ".%2E",
    "%252e%252e",
    "../coupons",
    "..\\",
    "a/../..",
    "..?x=1",
    "..#frag",
    "..;jsessionid=1",
    " .. ",
    "o1\r\nX-Injected: 1",
    "o1\x00",
    "o1%0d%0a",
    "o1\x7f",
]


@pytest.mark.parametrize("value", ROUTE_CHANGERS)
async def test_route_changing_path_values_are_refused_before_sending(
    fake: FakeWeChat, server: TestServer, value: str
) -> None:
    async with Client(**client_kwargs(fake, server, validate=False)) as wx:
        fake.received.clear()
        with pytest.raises(ValidationError) as info:
            await wx.request("POST", SEND_PATH, path_params={"openid": value}, json={"stock_id": "1"})
        assert info.value.field == "openid" and info.value.rule
        with pytest.raises(ValidationError) as typed:
            await wx.favor.send_coupon(value, stock_id="1", appid="wx1", stock_creator_mchid="1900000001")
        assert typed.value.field == "openid"
    assert fake.received == []


async def test_ordinary_path_values_still_go_through(client: Client, fake: FakeWeChat) -> None:
    for value, wire in [
        ("o-user/1", "o-user%2F1"),
        ("a..b", "a..b"),
        ("...", "..."),
        ("中", "%E4%B8%AD"),
        ("%ff", "%25ff"),
        ("  ", "%20%20"),
    ]:
        await client.request("POST", SEND_PATH, path_params={"openid": value}, json={"stock_id": "1"})
        assert fake.received[-1].target == f"/v3/marketing/favor/users/{wire}/coupons"


@pytest.mark.parametrize(
    "filename", ["a\r\nContent-Type: text/html.png", "a\n.png", "a\r.png", "a\x00.png", "a\t.png", 'a".png', "a\\.png"]
)
async def test_upload_filenames_cannot_inject_multipart_headers(
    client: Client, fake: FakeWeChat, filename: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await client.favor.upload_image(b"\x89PNG fake", filename=filename)
    assert info.value.field == "filename"
    assert fake.received == []


async def test_upload_filename_is_a_quoted_parameter(client: Client, fake: FakeWeChat) -> None:
    fake.queue(Reply(body={"media_url": "https://x/y"}))
    await client.favor.upload_image(b"\x89PNG fake", filename="优惠 券;name=x.png")
    assert b'name="file"; filename="\xe4\xbc\x98\xe6\x83\xa0 \xe5\x88\xb8;name=x.png"\r\n' in fake.received[-1].body


# -- 6. the request number on every error after sending; Retry-After never 0 s -------------------


async def test_signature_failure_after_a_numbered_post_carries_the_number(client: Client, fake: FakeWeChat) -> None:
    fake.queue(Reply(signature="bad"))
    with pytest.raises(SignatureVerificationError) as info:
        await client.favor.send_coupon(
            "o1", stock_id="9856000", appid="wx1", stock_creator_mchid="1900000001", out_request_no="N-sig"
        )
    assert info.value.idempotency_key == "N-sig"
    fake.queue(Reply(signature="none"))
    with pytest.raises(SignatureVerificationError) as generated:
        await client.favor.send_coupon("o1", stock_id="9856000", appid="wx1", stock_creator_mchid="1900000001")
    sent = json.loads(fake.received[-1].body)["out_request_no"]
    assert generated.value.idempotency_key == sent


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_connection_errors_carry_the_number(fake: FakeWeChat, hostile: TestServer, kind: str) -> None:
    async with hostile_client(fake, hostile, kind) as wx:
        with pytest.raises(APIConnectionError) as info:
            await wx.request(
                "POST", "/bad-header", json={"out_request_no": "N-conn"}, idempotency_field="out_request_no"
            )
    assert info.value.idempotency_key == "N-conn"


def test_retry_after_never_means_retry_at_once() -> None:
    now = 1_700_000_000.0
    for value in ["-5", "0", "0.0", "-0", "abc", "nan", "inf", "1e9999", "   ", "5 seconds"]:
        assert parse_retry_after(value, now) is None, value
    for past in (now - 60, now):
        assert parse_retry_after(email.utils.formatdate(past, usegmt=True), now) is None
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 -0000", now) is None
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after(email.utils.formatdate(now + 5, usegmt=True), now) == pytest.approx(5, abs=1)


@pytest.mark.parametrize("header", ["-1", "0", "Sun, 06 Nov 1994 08:49:37 GMT", "soon"])
async def test_bad_retry_after_falls_back_to_backoff(header: str) -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    policy = RetryPolicy(max_attempts=2, backoff_base=1.0, backoff_max=1.0, deadline=None)
    middleware = RetryMiddleware(policy, sleep=sleep, rng=random.Random(7))
    request = Request(method="GET", base_url="https://api.mch.weixin.qq.com", target="/v3/x")

    async def call_next(r: Request) -> Response:
        status = 429 if not sleeps else 200
        return Response(status=status, headers={"Retry-After": header}, content=b"", request=r)

    await middleware(request, call_next)
    assert sleeps == [policy.backoff(0, random.Random(7))] and sleeps[0] > 0


# -- 7. a closed transport opens nothing ----------------------------------------------------------


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_closed_transport_refuses_and_opens_no_session(hostile: TestServer, kind: str) -> None:
    transport = make_transport(kind)
    request = Request(method="GET", base_url=str(hostile.make_url("")).rstrip("/"), target="/flow?bytes=3", sign=False)
    assert (await transport.send(request)).content == b"yyy"
    await transport.aclose()
    with pytest.raises(TransportClosedError, match="closed"):
        await transport.send(request)
    with pytest.raises(TransportClosedError):
        async with transport.stream(request):
            pass
    if isinstance(transport, AiohttpTransport):
        assert transport._session is None or transport._session.closed
    else:
        assert isinstance(transport._client, httpx.AsyncClient) and transport._client.is_closed


async def test_closed_transport_never_created_a_session(hostile: TestServer) -> None:
    transport = AiohttpTransport()
    await transport.aclose()
    request = Request(method="GET", base_url=str(hostile.make_url("")).rstrip("/"), target="/flow", sign=False)
    with pytest.raises(TransportClosedError):
        await transport.send(request)
    assert transport._session is None


async def test_callers_closed_session_is_a_clear_error(hostile: TestServer) -> None:
    session = aiohttp.ClientSession()
    await session.close()
    transport = AiohttpTransport(session)
    request = Request(method="GET", base_url=str(hostile.make_url("")).rstrip("/"), target="/flow", sign=False)
    with pytest.raises(TransportClosedError):
        await transport.send(request)


async def test_closed_inprocess_transport_refuses() -> None:
    transport = InProcessTransport(hostile_app())
    request = Request(method="GET", base_url="http://test", target="/flow?bytes=2", sign=False)
    assert (await transport.send(request)).content == b"yy"
    await transport.aclose()
    with pytest.raises(TransportClosedError):
        await transport.send(request)


async def test_errors_are_all_wxpay_errors(fake: FakeWeChat, hostile: TestServer) -> None:
    """The closed-transport error is not retried (a ConfigurationError, not a connection error)."""
    async with hostile_client(fake, hostile, "aiohttp", retry=RetryPolicy(max_attempts=4)) as wx:
        await wx.transport.aclose()
        with pytest.raises(WxPayError) as info:
            await wx.request("GET", "/flow")
    assert isinstance(info.value, TransportClosedError)


async def test_stream_repr_redacts_signature_headers() -> None:
    async def nothing() -> AsyncIterator[bytes]:
        yield b""

    stream = ByteStream(
        status=200,
        headers=CIMultiDictProxy(CIMultiDict({"Wechatpay-Signature": "c2lnbmF0dXJl", "Set-Cookie": "s=1"})),
        chunks=nothing(),
    )
    assert "c2lnbmF0dXJl" not in repr(stream) and "s=1" not in repr(stream)
