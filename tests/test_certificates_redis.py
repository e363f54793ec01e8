"""RedisCertificateStore: N worker processes make ONE /v3/certificates download per refresh round."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from wxpay_async import Client, RedisCertificateStore
from wxpay_async.certificates import CertificateError, PlatformCertificate
from wxpay_async.devkeys import KeyPair

from .conftest import catch_all_server, client_kwargs
from .fake_wechat import FakeWeChat
from .redis_server import redis_server

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture
async def slow_server(fake: FakeWeChat) -> AsyncIterator[TestServer]:
    """The fake, with /v3/certificates taking 0.3 s: downloads of concurrent workers overlap."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/v3/certificates":
            await asyncio.sleep(0.3)
        return await fake.handle(request)

    async with catch_all_server(handle) as srv:
        yield srv


def _cert(keys: KeyPair) -> PlatformCertificate:
    c = keys.certificate
    return PlatformCertificate(
        serial_no=keys.serial,
        effective_time=c.not_valid_before_utc,
        expire_time=c.not_valid_after_utc,
        pem=keys.certificate_pem().decode(),
    )


async def test_three_worker_processes_make_one_download_per_refresh_round(
    tmp_path: Path, redis_url: str, fake: FakeWeChat, slow_server: TestServer, platform_keys_next: KeyPair
) -> None:
    workers = 3
    t0 = time.time()
    rounds = [t0 + 4.0, t0 + 7.0, t0 + 10.0]  # start-up, refresh after a rotation, refresh again
    job = tmp_path / "job.json"
    kwargs = client_kwargs(fake, slow_server)
    job.write_text(
        json.dumps(
            {
                "redis": redis_url,
                "mchid": fake.mchid,
                "merchant_serial": fake.merchant.serial,
                "private_key": fake.merchant.private_pem().decode(),
                "apiv3_key": fake.apiv3_key,
                "base_url": kwargs["base_url"],
                "rounds": rounds,
                "reuse_within": 1.0,
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.cert_worker",
            str(job),
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(workers)
    ]
    served: list[int] = []
    try:
        for moment, rotate in ((rounds[0] + 2.0, True), (rounds[1] + 2.0, False)):
            await asyncio.sleep(max(0.0, moment - time.time()))
            served.append(fake.certificates_served)
            if rotate:  # WeChat Pay lists the next certificate ahead of its use
                fake.platform_certs.append(platform_keys_next)
        outputs = [await asyncio.wait_for(p.communicate(), timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
    served.append(fake.certificates_served)
    reports = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, (out + err).decode()
        reports.append([json.loads(line) for line in out.decode().splitlines()])
    per_round = [served[0], served[1] - served[0], served[2] - served[1]]
    print(f"\n{workers} worker processes, downloads per refresh round: {per_round} (total {served[-1]})")
    assert per_round == [1, 1, 1]
    assert sum(r[-1]["downloads"] for r in reports) == 3
    old, new = sorted([fake.platform_certs[0].serial, platform_keys_next.serial])
    for report in reports:
        assert [r["round"] for r in report] == [0, 1, 2]
        assert report[0]["serials"] == [fake.platform_certs[0].serial]
        assert report[1]["serials"] == report[2]["serials"] == [old, new]  # every worker saw the rotation


class CountingDownload:
    """A certificate download that counts its calls, after ``delay`` seconds: answers ``certificates``,
    or raises CertificateError("down") when given that class.

    The single-flight tests assert how many workers really downloaded; each wrote this counter itself.
    """

    def __init__(self, certificates: list[PlatformCertificate] | type[CertificateError], *, delay: float = 0.0) -> None:
        self.certificates = certificates
        self.delay = delay
        self.calls = 0

    async def __call__(self) -> Sequence[PlatformCertificate]:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if not isinstance(self.certificates, list):
            raise self.certificates("down")
        return list(self.certificates)  # a fresh list per download, as a real one answers


async def test_waiters_take_the_lock_holders_result(redis_url: str, platform_keys: KeyPair) -> None:
    stores = [RedisCertificateStore(redis_url, mchid="1900000001", poll_interval=0.01) for _ in range(5)]
    download = CountingDownload([_cert(platform_keys)], delay=0.2)

    try:
        results = await asyncio.gather(*(s.single_flight(download, 0.0) for s in stores))
        assert download.calls == 1
        assert all([c.serial_no for c in r] == [platform_keys.serial] for r in results)
        assert [c.serial_no for c in await stores[0].load()] == [platform_keys.serial]
        # A scheduled refresh within max_age reuses it; a later explicit one downloads again.
        await stores[1].single_flight(download, 3600.0)
        assert download.calls == 1
        stores[2].reuse_within = 0.0
        await stores[2].single_flight(download, 0.0)
        assert download.calls == 2
    finally:
        for s in stores:
            await s.aclose()


async def test_a_dead_lock_holder_bounds_the_wait_then_each_downloads(redis_url: str, platform_keys: KeyPair) -> None:
    import redis.asyncio as redis_asyncio

    r = redis_asyncio.from_url(redis_url)
    await r.set("wxpay:certificates:1900000001:lock", "someone-else", px=60_000)  # crashed holder
    store = RedisCertificateStore(client=r, mchid="1900000001", wait=0.3, poll_interval=0.02)
    download = CountingDownload([_cert(platform_keys)])

    started = time.monotonic()
    result = await store.single_flight(download, 0.0)
    assert 0.3 <= time.monotonic() - started < 5
    assert download.calls == 1 and [c.serial_no for c in result] == [platform_keys.serial]
    assert await r.get("wxpay:certificates:1900000001:lock") == b"someone-else"  # not ours: never deleted
    await store.aclose()
    assert await r.ping()  # the caller's client is not closed
    await r.aclose()


async def test_a_failed_download_fails_the_waiters_instead_of_a_herd(redis_url: str) -> None:
    stores = [RedisCertificateStore(redis_url, mchid="1900000001", poll_interval=0.01) for _ in range(4)]
    download = CountingDownload(CertificateError, delay=0.2)

    try:
        results = await asyncio.gather(*(s.single_flight(download, 0.0) for s in stores), return_exceptions=True)
        assert download.calls == 1
        assert all(isinstance(r, CertificateError) for r in results)
        assert any("another worker" in str(r) for r in results)
    finally:
        for s in stores:
            await s.aclose()


async def test_unreachable_redis_downloads_without_it(platform_keys: KeyPair) -> None:
    from .redis_server import _free_port

    store = RedisCertificateStore(f"redis://127.0.0.1:{_free_port()}/0", mchid="1900000001")

    async def download() -> Sequence[PlatformCertificate]:
        return [_cert(platform_keys)]

    assert [c.serial_no for c in await store.single_flight(download, 0.0)] == [platform_keys.serial]
    await store.aclose()


async def test_client_with_redis_store_downloads_once_for_two_clients(
    redis_url: str, fake: FakeWeChat, server: TestServer
) -> None:
    stores = [RedisCertificateStore(redis_url, mchid=fake.mchid) for _ in range(2)]
    kwargs: dict[str, Any] = client_kwargs(fake, server)
    try:
        async with (
            Client(**kwargs, certificate_store=stores[0]) as a,
            Client(**kwargs, certificate_store=stores[1]) as b,
        ):
            assert fake.certificates_served == 1  # b loaded what a stored
            await asyncio.gather(a.favor.get_stock("1", stock_creator_mchid=fake.mchid), b.request("GET", "/v3/x"))
            assert a.certificate_manager is not None and b.certificate_manager is not None
            assert a.certificate_manager.certificates == b.certificate_manager.certificates
        assert repr(stores[0]) == f"RedisCertificateStore(key={'wxpay:certificates:' + fake.mchid!r})"
    finally:
        for s in stores:
            await s.aclose()
