"""Notifications: unknown serials refresh once (shared cooldown); once-per-id across processes."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from wxpay_async import Client
from wxpay_async.crypto import Verifier
from wxpay_async.devkeys import KeyPair
from wxpay_async.notifications import (
    InMemoryDedupeStore,
    Notification,
    NotificationHandler,
    RedisDedupeStore,
    aiohttp_handler,
)

from .conftest import client_kwargs
from .fake_wechat import FakeWeChat
from .redis_server import redis_server
from .test_notifications import COUPON_USE, notification

REPO = Path(__file__).resolve().parent.parent


async def _noop(n: Notification) -> None:
    return None


@pytest.fixture
async def notify_url(fake: FakeWeChat, server: TestServer) -> AsyncIterator[tuple[Client, str]]:
    async with Client(**client_kwargs(fake, server)) as wx:
        app = web.Application()
        app.router.add_post("/notify", aiohttp_handler(wx.notification_handler(), _noop))
        srv = TestServer(app, host="127.0.0.1")
        await srv.start_server()
        yield wx, str(srv.make_url("/notify"))
        await srv.close()


async def _deliver(url: str, headers: dict[str, str], body: bytes) -> int:
    async with ClientSession() as session, session.post(url, data=body, headers=headers) as r:
        return r.status


async def test_rotated_certificate_notification_is_accepted_after_exactly_one_download(
    fake: FakeWeChat, notify_url: tuple[Client, str], platform_keys_next: KeyPair, apiv3_key: str
) -> None:
    _, url = notify_url
    served = fake.certificates_served
    fake.platform_certs.append(platform_keys_next)  # WeChat Pay rotates and signs with the new key
    headers, body = notification(platform_keys_next, platform_keys_next.serial, apiv3_key, COUPON_USE, nid="EV-rot")
    assert await _deliver(url, headers, body) == 200
    assert fake.certificates_served == served + 1
    # Known from now on: no further download.
    headers, body = notification(platform_keys_next, platform_keys_next.serial, apiv3_key, COUPON_USE, nid="EV-rot2")
    assert await _deliver(url, headers, body) == 200
    assert fake.certificates_served == served + 1


async def test_forged_serials_answer_401_after_at_most_one_download(
    fake: FakeWeChat, notify_url: tuple[Client, str], platform_keys_next: KeyPair, apiv3_key: str
) -> None:
    _, url = notify_url
    served = fake.certificates_served
    deliveries = []
    for i in range(30):
        forged = secrets.token_hex(20).upper()
        deliveries.append(notification(platform_keys_next, forged, apiv3_key, COUPON_USE, nid=f"EV-forged-{i}"))
    statuses = [await _deliver(url, h, b) for h, b in deliveries[:15]]
    statuses += await asyncio.gather(*(_deliver(url, h, b) for h, b in deliveries[15:]))
    assert statuses == [401] * 30
    assert fake.certificates_served - served <= 1


async def test_notification_and_response_paths_share_one_cooldown(
    fake: FakeWeChat, notify_url: tuple[Client, str], platform_keys_next: KeyPair, apiv3_key: str
) -> None:
    from wxpay_async.errors import SignatureVerificationError

    from .fake_wechat import Reply

    wx, url = notify_url
    served = fake.certificates_served
    headers, body = notification(platform_keys_next, "ABCDEF0123", apiv3_key, COUPON_USE)
    assert await _deliver(url, headers, body) == 401
    fake.queue(Reply(serial="0123ABCDEF"))
    with pytest.raises(SignatureVerificationError):
        await wx.request("GET", "/v3/x")
    assert fake.certificates_served - served == 1


# -- claim → run → done --------------------------------------------------------------------------
async def test_in_memory_claim_released_on_failure_and_expires_after_crash(
    platform_keys: KeyPair, apiv3_key: str
) -> None:
    now = [0.0]
    store = InMemoryDedupeStore(clock=lambda: now[0])
    assert await store.claim("A", "t1", 10) == "claimed"
    assert await store.claim("A", "t2", 10) == "busy"
    await store.release("A", "t2")  # not the holder: no effect
    assert await store.claim("A", "t2", 10) == "busy"
    now[0] = 11  # the holder crashed: its claim expires
    assert await store.claim("A", "t2", 10) == "claimed"
    await store.complete("A", "t2", 100)
    assert await store.claim("A", "t3", 10) == "done"

    handler = NotificationHandler(Verifier([platform_keys.certificate]), apiv3_key, busy_wait=0.1)
    headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE, nid="EV-fail")
    calls: list[int] = []

    async def flaky(n: Notification) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database down")

    assert (await handler.respond(headers, body, flaky))[0] == 500
    assert (await handler.respond(headers, body, flaky))[0] == 200
    assert (await handler.respond(headers, body, flaky))[0] == 200
    assert len(calls) == 2


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


def _job(tmp: Path, name: str, **fields: Any) -> Path:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(fields, ensure_ascii=False), encoding="utf-8")
    return path


def _worker(job: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.notify_worker", str(job)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _base_job(redis_url: str, platform_keys: KeyPair, apiv3_key: str, nid: str) -> dict[str, Any]:
    headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE, nid=nid)
    return {
        "redis": redis_url,
        "cert": platform_keys.certificate_pem().decode(),
        "apiv3_key": apiv3_key,
        "headers": headers,
        "body": body.decode("utf-8"),
        "sleep": 0.5,
        "claim_ttl": 30.0,
        "busy_wait": 20.0,
    }


async def test_four_processes_sharing_redis_run_the_callback_exactly_once(
    tmp_path: Path, redis_url: str, platform_keys: KeyPair, apiv3_key: str
) -> None:
    import redis.asyncio as redis_asyncio

    job = _job(tmp_path, "same", start_at=time.time() + 2.5, **_base_job(redis_url, platform_keys, apiv3_key, "EV-x"))
    procs = [_worker(job) for _ in range(4)]
    outputs = [await asyncio.to_thread(p.communicate, timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1] for o in outputs]
    assert sorted(o[0].strip() for o in outputs) == ["200"] * 4
    r = redis_asyncio.from_url(redis_url)
    try:
        assert await r.llen("test:runs:EV-x") == 1
        assert int(await r.get("test:completed:EV-x")) == 1
        # In one process too: 40 concurrent deliveries through 8 handlers (8 separate lock tables).
        store = RedisDedupeStore(client=r)
        handlers = [
            NotificationHandler(Verifier([platform_keys.certificate]), apiv3_key, dedupe=store) for _ in range(8)
        ]
        runs: list[str] = []

        async def callback(n: Notification) -> None:
            runs.append(n.id)
            await asyncio.sleep(0.05)

        headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE, nid="EV-y")
        results = await asyncio.gather(*(handlers[i % 8].respond(headers, body, callback) for i in range(40)))
        assert [status for status, _ in results] == [200] * 40 and runs == ["EV-y"]
    finally:
        await r.aclose()


async def test_killed_workers_claim_expires_and_the_next_delivery_runs_it(
    tmp_path: Path, redis_url: str, platform_keys: KeyPair, apiv3_key: str
) -> None:
    import redis.asyncio as redis_asyncio

    base = _base_job(redis_url, platform_keys, apiv3_key, "EV-k")
    hanging = _worker(_job(tmp_path, "hang", **{**base, "sleep": 3600, "claim_ttl": 1.5}))
    r = redis_asyncio.from_url(redis_url)
    try:
        for _ in range(600):
            if await r.llen("test:runs:EV-k"):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(hanging.communicate(timeout=5))
        hanging.send_signal(signal.SIGKILL)  # crashed mid-callback: no release, no done marker
        await asyncio.to_thread(hanging.wait, 10)
        killed_at = time.monotonic()
        nxt = _worker(_job(tmp_path, "next", **{**base, "sleep": 0.0}))
        out, err = await asyncio.to_thread(nxt.communicate, timeout=60)
        assert out.strip() == "200", err
        assert time.monotonic() - killed_at < 30
        runs = [int(x) for x in await r.lrange("test:runs:EV-k", 0, -1)]
        assert runs == [hanging.pid, nxt.pid]
        assert int(await r.get("test:completed:EV-k")) == 1
        again = _worker(_job(tmp_path, "again", **{**base, "sleep": 0.0}))
        out, err = await asyncio.to_thread(again.communicate, timeout=60)
        assert out.strip() == "200", err
        assert await r.llen("test:runs:EV-k") == 2  # done: acknowledged without running
    finally:
        if hanging.poll() is None:
            hanging.kill()
        await r.aclose()
