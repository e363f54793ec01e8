"""CertificateManager: download, verification, rotation, failure handling, shared store."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer

from wxpay_async import Client, InMemoryCertificateStore, RefreshSchedule
from wxpay_async.certificates import (
    CertificateManager,
    PlatformCertificate,
    certificates_from_json,
    certificates_to_json,
)
from wxpay_async.devkeys import KeyPair, generate_key_pair
from wxpay_async.errors import InternalServerError
from wxpay_async.transports import AiohttpTransport

from .conftest import client_kwargs
from .fake_wechat import FakeWeChat, Reply


class ManualSleep:
    """Our own seam: lets a test step the background loop one sleep at a time."""

    def __init__(self) -> None:
        self.requested: list[float] = []
        self._wake: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, delay: float) -> None:
        self.requested.append(delay)
        await self._wake.get()

    async def step(self) -> None:
        self._wake.put_nowait(None)
        await self.settle()

    async def settle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0.01)


async def make_manager(wx: Client, sleep: Callable[[float], Awaitable[None]], **kwargs: object) -> CertificateManager:
    return CertificateManager(wx._fetch_certificates, wx.credentials.apiv3_key, sleep=sleep, **kwargs)  # type: ignore[arg-type]


async def test_refresh_failure_keeps_cache_and_backs_off(
    fake: FakeWeChat, server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with Client(**client_kwargs(fake, server, mode="public_key")) as wx:
        sleep = ManualSleep()
        manager = await make_manager(wx, sleep)
        await manager.start()
        await sleep.settle()
        assert [c.serial_no for c in manager.certificates] == [fake.platform_certs[0].serial]
        assert sleep.requested and sleep.requested[0] <= 12 * 3600 * 1.1
        fake.certificates_fail = True
        caplog.set_level(logging.WARNING, logger="wxpay_async.certificates")
        await sleep.step()
        assert manager.consecutive_failures == 1
        assert "refresh failed" in caplog.text
        # Cache intact: a response signed by the cached certificate still verifies.
        assert manager.current_verifier().knows(fake.platform_certs[0].serial)
        retry_delay = sleep.requested[-1]
        assert 30 * 0.8 <= retry_delay <= 30 * 1.2
        await sleep.step()
        assert manager.consecutive_failures == 2 and sleep.requested[-1] > retry_delay
        fake.certificates_fail = False
        await sleep.step()
        assert manager.consecutive_failures == 0
        await manager.aclose()
        assert manager._task is None


async def test_start_fails_clearly_when_no_certificate_can_be_had(fake: FakeWeChat, server: TestServer) -> None:
    fake.certificates_fail = True
    with pytest.raises(InternalServerError):
        async with Client(**client_kwargs(fake, server)):
            pass


async def test_background_task_cancelled_on_aclose(fake: FakeWeChat, server: TestServer) -> None:
    wx = Client(**client_kwargs(fake, server))
    await wx.start()
    manager = wx.certificate_manager
    assert manager is not None and manager._task is not None
    task = manager._task
    await wx.aclose()
    assert task.cancelled() or task.done()


async def test_shared_store_avoids_second_download(fake: FakeWeChat, server: TestServer) -> None:
    store = InMemoryCertificateStore()
    async with Client(**client_kwargs(fake, server, certificate_store=store)):
        pass
    async with Client(**client_kwargs(fake, server, certificate_store=store)) as wx:
        assert (await wx.request("GET", "/v3/x")).verified
    assert fake.certificates_served == 1


async def test_rotation_keeps_previous_until_expiry(
    fake: FakeWeChat, server: TestServer, platform_keys_next: KeyPair
) -> None:
    async with Client(**client_kwargs(fake, server)) as wx:
        manager = wx.certificate_manager
        assert manager is not None
        old = fake.platform_certs[0]
        fake.platform_certs[:] = [platform_keys_next]  # the new list no longer has the old one
        await manager.refresh()
        assert {c.serial_no for c in manager.certificates} == {old.serial, platform_keys_next.serial}
        fake.platform_certs.append(old)  # unlisted, but WeChat Pay may still sign with it
        fake.queue(Reply(serial=old.serial))
        assert (await wx.request("GET", "/v3/x")).verified


async def test_expired_certificates_are_dropped_and_schedule_tightens(fake: FakeWeChat, server: TestServer) -> None:
    now = dt.datetime.now(dt.UTC)
    soon = generate_key_pair(
        "expiring", not_before=now - dt.timedelta(days=30), valid_for=dt.timedelta(days=30, hours=2)
    )
    fake.platform_certs[:] = [soon]
    async with Client(**client_kwargs(fake, server)) as wx:
        manager = wx.certificate_manager
        assert manager is not None
        # Expires in ~2 h, inside the 24 h margin: the next refresh is at the retry floor, not 12 h.
        assert manager.next_refresh_in() == RefreshSchedule().retry_min
        late = CertificateManager(wx._fetch_certificates, fake.apiv3_key, clock=lambda: now.timestamp() + 3 * 3600)
        late._install(manager.certificates)
        assert late.certificates == ()


async def test_concurrent_unknown_serials_share_one_download(
    fake: FakeWeChat, server: TestServer, platform_keys_next: KeyPair
) -> None:
    async with Client(**client_kwargs(fake, server)) as wx:
        fake.platform_certs.append(platform_keys_next)
        fake.queue(*[Reply(serial=platform_keys_next.serial) for _ in range(10)])
        results = await asyncio.gather(*(wx.request("GET", f"/v3/x/{i}") for i in range(10)))
        assert all(r.verified for r in results)
        assert fake.certificates_served == 2


def test_store_json_round_trip(platform_keys: KeyPair) -> None:
    from cryptography.hazmat.primitives import serialization

    cert = PlatformCertificate(
        serial_no=platform_keys.serial,
        effective_time=platform_keys.certificate.not_valid_before_utc,
        expire_time=platform_keys.certificate.not_valid_after_utc,
        pem=platform_keys.certificate.public_bytes(serialization.Encoding.PEM).decode(),
    )
    assert certificates_from_json(certificates_to_json([cert])) == [cert]
    assert "PRIVATE" not in certificates_to_json([cert]) and cert.pem not in repr(cert)


async def test_failed_start_releases_the_session(fake: FakeWeChat, server: TestServer) -> None:
    fake.certificates_fail = True
    wx = Client(**client_kwargs(fake, server))
    with pytest.raises(InternalServerError):
        async with wx:
            pass
    transport = wx.transport
    assert isinstance(transport, AiohttpTransport)
    assert transport._session is None or transport._session.closed
