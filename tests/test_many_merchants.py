"""Many merchants in one process: 100 Clients on one shared transport and one signing pool.

Closing a client closes only what it created: the shared transport and pool stay usable for the
others. Memory per idle client is measured (tracemalloc) and printed, not asserted.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from wxpay_async import Client, RetryPolicy
from wxpay_async.crypto import parse_authorization, request_message, rsa_verify
from wxpay_async.devkeys import KeyPair, generate_key_pair
from wxpay_async.transports import AiohttpTransport

from .conftest import catch_all_server
from .fake_wechat import FakeWeChat, Reply

MERCHANTS = 100


@pytest.fixture(scope="module")
def merchant_key_set() -> list[KeyPair]:
    """A handful of keys for 100 merchant ids: generating 100 RSA keys would be slow."""
    return [generate_key_pair(f"merchant key {i}") for i in range(4)]


def mchid_of(i: int) -> str:
    return f"19{i:08d}"


@pytest.fixture
async def many_server(
    fake: FakeWeChat, merchant_key_set: list[KeyPair]
) -> AsyncIterator[tuple[TestServer, Counter[str]]]:
    """One fake WeChat Pay knowing 100 merchants: checks each call against that merchant's key."""
    keys = {mchid_of(i): merchant_key_set[i % len(merchant_key_set)] for i in range(MERCHANTS)}
    seen: Counter[str] = Counter()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        auth = parse_authorization(request.headers.get("Authorization", ""))
        pair = keys.get(auth["mchid"])
        message = request_message(request.method, request.raw_path, auth["timestamp"], auth["nonce_str"], body)
        if (
            pair is None
            or auth["serial_no"] != pair.serial
            or not rsa_verify(pair.certificate, message, auth["signature"])
        ):
            return fake._respond(Reply(status=401, body={"code": "SIGN_ERROR", "message": "bad"}), request)
        seen[auth["mchid"]] += 1
        return fake._respond(Reply(body={"mchid": auth["mchid"]}), request)

    async with catch_all_server(handle) as srv:
        yield srv, seen


def _client(fake: FakeWeChat, srv: TestServer, i: int, keys: list[KeyPair], **shared: object) -> Client:
    assert fake.public_key is not None
    pair = keys[i % len(keys)]
    return Client(
        mchid=mchid_of(i),
        merchant_serial=pair.serial,
        private_key=pair.private_key,
        apiv3_key=fake.apiv3_key,
        platform_public_key=fake.public_key.public_key,
        platform_public_key_id=fake.public_key_id,
        base_url=str(srv.make_url("")).rstrip("/"),
        retry=RetryPolicy(max_attempts=2, backoff_base=0.01, deadline=10),
        **shared,  # type: ignore[arg-type]
    )


async def test_100_merchants_share_one_transport_and_close_one_by_one(
    fake: FakeWeChat, many_server: tuple[TestServer, Counter[str]], merchant_key_set: list[KeyPair]
) -> None:
    srv, seen = many_server
    transport = AiohttpTransport(limit=32)
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="shared-sign")
    try:
        warm = _client(fake, srv, 0, merchant_key_set, transport=transport, sign_in_thread=pool)
        await warm.aclose()  # first-use imports and caches are not per-client memory
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        clients = [
            _client(fake, srv, i, merchant_key_set, transport=transport, sign_in_thread=pool) for i in range(MERCHANTS)
        ]
        gc.collect()
        built = tracemalloc.take_snapshot()
        answers = await asyncio.gather(*(wx.request("GET", "/v3/marketing/favor/stocks/1") for wx in clients))
        gc.collect()
        used = tracemalloc.take_snapshot()
        tracemalloc.stop()
        per_built = sum(s.size_diff for s in built.compare_to(before, "filename")) / MERCHANTS
        per_used = sum(s.size_diff for s in used.compare_to(before, "filename")) / MERCHANTS
        print(
            f"\n{MERCHANTS} clients on one transport: {per_built / 1024:.1f} KiB per idle client "
            f"(built), {per_used / 1024:.1f} KiB per client after one call each (pool and answers included)"
        )
        assert [a.json()["mchid"] for a in answers] == [mchid_of(i) for i in range(MERCHANTS)]
        assert all(a.verified for a in answers)
        assert sorted(seen) == sorted(mchid_of(i) for i in range(MERCHANTS))
        session = transport._session
        assert session is not None

        for n, wx in enumerate(clients):  # closing one by one: the others keep working
            await wx.aclose()
            if n % 10 == 9 and n + 1 < MERCHANTS:
                survivor = clients[n + 1]
                assert (await survivor.request("GET", "/v3/x")).json()["mchid"] == survivor.mchid
        assert transport._session is session and not session.closed
        async with _client(fake, srv, 7, merchant_key_set, transport=transport, sign_in_thread=pool) as late:
            assert (await late.request("GET", "/v3/x")).status == 200
        assert pool.submit(lambda: 42).result() == 42  # the shared pool was never shut down
    finally:
        await transport.aclose()
        pool.shutdown()
    assert session.closed  # the owner (this test) closes it


async def test_a_client_closes_what_it_created(fake: FakeWeChat, server: TestServer) -> None:
    from .conftest import client_kwargs

    async with Client(**client_kwargs(fake, server, mode="public_key"), sign_in_thread=True) as wx:
        await wx.request("GET", "/v3/x")
        own_transport = wx.transport
        own_pool = wx._own_executor
    assert isinstance(own_transport, AiohttpTransport) and own_transport._session is not None
    assert own_transport._session.closed
    assert own_pool is not None and own_pool._shutdown
    handed = AiohttpTransport()
    async with Client(**client_kwargs(fake, server, mode="public_key"), transport=handed, close_transport=True) as wx:
        await wx.request("GET", "/v3/x")
    assert handed._closed  # ownership handed over explicitly
