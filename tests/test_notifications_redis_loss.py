"""Notification dedupe when callbacks outlive claim_ttl and when Redis loses its keys (issue 17 part 8).

Real redis-server processes on 127.0.0.1, killed with SIGKILL and started again empty on the same
port; real signatures and AES-GCM. Two handlers with their own lock tables share one store, as two
worker processes would.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from wxpay_async.crypto import Verifier
from wxpay_async.devkeys import KeyPair
from wxpay_async.notifications import (
    DedupeStore,
    InMemoryDedupeStore,
    Notification,
    NotificationHandler,
    RedisDedupeStore,
)

from .test_notifications import COUPON_USE, notification


class RedisProcess:
    """A redis-server without persistence that tests can kill and start again (empty) on one port."""

    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (CI installs Debian's redis-server)")
        self.binary = binary
        self.tmp = tmp
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def restart_empty(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def redis_proc(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def redis_store(redis_proc: RedisProcess) -> AsyncIterator[RedisDedupeStore]:
    store = RedisDedupeStore(redis_proc.url, prefix="t:")
    try:
        yield store
    finally:
        await store.aclose()


class Runs:
    """A callback that records every run and the most runs in flight at once."""

    def __init__(self, seconds: float, during: Any = None) -> None:
        self.seconds = seconds
        self.during = during
        self.started = 0
        self.finished = 0
        self.active = 0
        self.most_at_once = 0
        self.running = asyncio.Event()

    async def __call__(self, n: Notification) -> None:
        self.started += 1
        self.active += 1
        self.most_at_once = max(self.most_at_once, self.active)
        self.running.set()
        try:
            if self.during is not None:
                await self.during()
            await asyncio.sleep(self.seconds)
        finally:
            self.active -= 1
            self.finished += 1


def workers(store: DedupeStore, platform_keys: KeyPair, apiv3_key: str, claim_ttl: float) -> list[NotificationHandler]:
    """Two handlers (two lock tables: two workers) sharing ``store``."""
    verifier = Verifier([platform_keys.certificate])
    return [
        NotificationHandler(verifier, apiv3_key, dedupe=store, claim_ttl=claim_ttl, busy_wait=0.1) for _ in range(2)
    ]


def delivery(platform_keys: KeyPair, apiv3_key: str, nid: str) -> tuple[dict[str, str], bytes]:
    return notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE, nid=nid)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_callback_longer_than_claim_ttl_never_runs_twice_at_once(
    kind: str, tmp_path: Path, platform_keys: KeyPair, apiv3_key: str
) -> None:
    server: RedisProcess | None = None
    store: Any
    if kind == "redis":
        server = RedisProcess(tmp_path)
        server.start()
        store = RedisDedupeStore(server.url, prefix="t:")
    else:
        store = InMemoryDedupeStore()
    try:
        first, second = workers(store, platform_keys, apiv3_key, claim_ttl=0.45)
        headers, body = delivery(platform_keys, apiv3_key, f"EV-long-{kind}")
        runs = Runs(seconds=1.6)  # more than three claim_ttl
        running = asyncio.create_task(first.respond(headers, body, runs))
        await asyncio.wait_for(runs.running.wait(), 5)
        statuses = []
        while not running.done():  # re-deliveries to the other worker all through the callback
            statuses.append((await second.respond(headers, body, runs))[0])
            await asyncio.sleep(0.1)
        assert (await running)[0] == 200
        # 503 (busy) while the callback runs; the last one may wait until it is done (then 200).
        assert statuses.count(503) >= 5 and set(statuses[:-1]) == {503}, statuses
        assert (runs.started, runs.most_at_once) == (1, 1)
        assert (await second.respond(headers, body, runs))[0] == 200  # done: acknowledged, not run
        assert runs.started == 1
    finally:
        if kind == "redis":
            await store.aclose()
        if server is not None:
            server.stop()


async def test_redis_restarted_empty_mid_callback_the_heartbeat_takes_the_claim_again(
    redis_proc: RedisProcess, redis_store: RedisDedupeStore, platform_keys: KeyPair, apiv3_key: str, caplog: Any
) -> None:
    import redis.asyncio as redis_asyncio

    first, second = workers(redis_store, platform_keys, apiv3_key, claim_ttl=0.6)
    headers, body = delivery(platform_keys, apiv3_key, "EV-restart")
    runs = Runs(seconds=2.0)
    with caplog.at_level(logging.WARNING, logger="wxpay_async.notifications"):
        running = asyncio.create_task(first.respond(headers, body, runs))
        await asyncio.wait_for(runs.running.wait(), 5)
        await asyncio.to_thread(redis_proc.restart_empty)  # every key gone: the claim too
        probe = redis_asyncio.from_url(redis_proc.url)
        try:
            for _ in range(100):  # the next heartbeat (every 0.2 s) takes the claim again
                if await probe.exists("t:{EV-restart}:claim"):
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the running callback's claim was not taken again")
            assert (await second.respond(headers, body, runs))[0] == 503
            assert (await running)[0] == 200
            assert await probe.exists("t:{EV-restart}:done")
        finally:
            await probe.aclose()
    assert (runs.started, runs.most_at_once) == (1, 1)
    assert (await second.respond(headers, body, runs))[0] == 200
    assert runs.started == 1
    assert "had vanished from the dedupe store" in caplog.text


async def test_redis_restarted_empty_after_success_runs_the_callback_again_at_least_once(
    redis_proc: RedisProcess, redis_store: RedisDedupeStore, platform_keys: KeyPair, apiv3_key: str
) -> None:
    first, second = workers(redis_store, platform_keys, apiv3_key, claim_ttl=5.0)
    headers, body = delivery(platform_keys, apiv3_key, "EV-forgotten")
    runs = Runs(seconds=0.0)
    assert (await first.respond(headers, body, runs))[0] == 200
    assert (await second.respond(headers, body, runs))[0] == 200 and runs.started == 1
    await asyncio.to_thread(redis_proc.restart_empty)  # the done marker is lost
    assert (await second.respond(headers, body, runs))[0] == 200
    assert runs.started == 2  # the documented guarantee: at least once


async def test_redis_killed_mid_callback_the_delivery_is_acknowledged_and_runs_again_after_restart(
    redis_proc: RedisProcess, redis_store: RedisDedupeStore, platform_keys: KeyPair, apiv3_key: str, caplog: Any
) -> None:
    first, second = workers(redis_store, platform_keys, apiv3_key, claim_ttl=0.6)
    headers, body = delivery(platform_keys, apiv3_key, "EV-killed")

    async def kill_redis() -> None:
        await asyncio.to_thread(redis_proc.kill)

    runs = Runs(seconds=0.5, during=kill_redis)
    with caplog.at_level(logging.WARNING, logger="wxpay_async.notifications"):
        status, payload = await first.respond(headers, body, runs)
    # The callback did its work: acknowledge (a 500 would only make WeChat Pay repeat it).
    assert (status, payload["code"]) == (200, "SUCCESS")
    assert "done marker could not be written" in caplog.text
    assert "could not renew the claim" in caplog.text
    # Redis still down: a delivery cannot claim, so it does not run, and asks for a re-delivery.
    assert (await second.respond(headers, body, runs))[0] == 500
    assert runs.started == 1
    await asyncio.to_thread(redis_proc.start)  # back, empty
    assert (await second.respond(headers, body, runs))[0] == 200
    assert runs.started == 2 and runs.most_at_once == 1  # at least once, never at once


async def test_in_memory_store_renews_and_reports(platform_keys: KeyPair, apiv3_key: str) -> None:
    clock = [0.0]
    store = InMemoryDedupeStore(clock=lambda: clock[0])
    assert await store.claim("n", "a", 1.0) == "claimed"
    clock[0] = 0.9
    assert await store.renew("n", "a", 1.0) == "renewed"
    clock[0] = 1.5  # past the first lease, within the renewed one
    assert await store.claim("n", "b", 1.0) == "busy"
    assert await store.renew("n", "b", 1.0) == "lost"
    clock[0] = 5.0  # expired: gone
    assert await store.renew("n", "a", 1.0) == "reclaimed"
    await store.complete("n", "a", 10.0)
    assert await store.renew("n", "a", 1.0) == "lost"


def test_claim_ttl_must_be_positive(platform_keys: KeyPair, apiv3_key: str) -> None:
    from wxpay_async.errors import ValidationError

    for bad in (0.0, -1.0):
        with pytest.raises(ValidationError, match="claim_ttl"):
            NotificationHandler(Verifier([platform_keys.certificate]), apiv3_key, claim_ttl=bad)
