"""RedisRateLimiter: batch workers sharing a merchant keep ONE rate together (and one AIMD)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from wxpay_async.batch import AdaptiveTokenBucket, RedisRateLimiter
from wxpay_async.emulator import RunningEmulator, run_emulator

from .redis_server import redis_server
from .test_batch_emulator import APPID, assert_exactly_once, cli_batch, send_batch_argv


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    async with run_emulator(send_rate=0, seed=11) as running:
        yield running


@contextlib.contextmanager
def accepted_times(emu: RunningEmulator) -> Iterator[list[float]]:
    """When the emulator's ledger counts each send ``accepted``, while the block runs."""
    accepted: list[float] = []
    ledger = emu.emulator.ledger
    count = ledger.count

    def counting(kind: str, mchid: str, request_no: str, field: str) -> None:
        if field == "accepted":
            accepted.append(time.monotonic())
        count(kind, mchid, request_no, field)

    ledger.count = counting  # type: ignore[method-assign]
    try:
        yield accepted
    finally:
        ledger.count = count  # type: ignore[method-assign]


def steady_rate(times: list[float]) -> tuple[float, float]:
    """Sends per second between the 10th and the 90th percentile of arrivals (no start-up, no tail)."""
    times = sorted(times)
    lo, hi = times[len(times) // 10], times[len(times) * 9 // 10]
    count = len(times) * 9 // 10 - len(times) // 10
    return count / (hi - lo), hi - lo


async def test_three_limiters_share_one_rate(redis_url: str) -> None:
    limiters = [RedisRateLimiter(redis_url, mchid="1900000001", rate=200) for _ in range(3)]
    stamps: list[float] = []
    stop = time.monotonic() + 2.0

    async def sender(limiter: RedisRateLimiter) -> None:
        while time.monotonic() < stop:
            await limiter.acquire()
            stamps.append(time.monotonic())

    try:
        await asyncio.gather(*(sender(lim) for lim in limiters for _ in range(8)))
    finally:
        for lim in limiters:
            await lim.aclose()
    rate, _ = steady_rate(stamps)
    assert 170 <= rate <= 230, rate


async def test_a_429_in_one_worker_halves_the_rate_of_all(redis_url: str) -> None:
    a = RedisRateLimiter(redis_url, mchid="1900000001", rate=100, cooldown=5.0)
    b = RedisRateLimiter(redis_url, mchid="1900000001", rate=100, cooldown=5.0)
    other = RedisRateLimiter(redis_url, mchid="1900000002", rate=100)
    try:
        await a.acquire()
        a.on_rate_limited()
        b.on_rate_limited()  # within the cooldown: one halving for both
        await asyncio.sleep(0.1)
        await b.acquire()
        assert b.rate == pytest.approx(50, abs=1)
        assert a.decreases + b.decreases == 1
        await other.acquire()
        assert other.rate == 100  # per merchant
    finally:
        for lim in (a, b, other):
            await lim.aclose()


async def test_unreachable_redis_falls_back_to_a_local_share() -> None:
    from .redis_server import _free_port

    lim = RedisRateLimiter(f"redis://127.0.0.1:{_free_port()}/0", mchid="1900000001", rate=300, fallback_share=3)
    await lim.acquire()
    assert lim.rate == 100 and isinstance(lim._fallback, AdaptiveTokenBucket)
    lim.on_rate_limited()
    assert lim.rate == 100 and lim._fallback.rate == 50
    await lim.aclose()


async def test_three_cli_workers_hold_one_shared_rate(emu: RunningEmulator, tmp_path: Path) -> None:
    workers, qps, rows = 3, 150, 1200
    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, "rate", rows)
    with accepted_times(emu) as accepted, redis_server(tmp_path) as url:
        procs = [
            await asyncio.create_subprocess_exec(
                *send_batch_argv(source, keys_dir, stock_id),
                "--redis",
                url,
                "--batch-id",
                "shared-rate",
                "--qps",
                str(qps),
                "--concurrency",
                "16",
                "-q",
                "--result",
                str(tmp_path / f"r{worker}.csv"),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for worker in range(workers)
        ]
        outputs = [await asyncio.wait_for(p.communicate(), timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, (out + err).decode()
    sent = [int(next(x for x in out.decode().splitlines() if "sent now" in x).split()[2]) for out, _ in outputs]
    rate, window = steady_rate([t for t in accepted])
    print(f"\n{workers} processes x --qps {qps} shared: {rate:.1f}/s held over {window:.1f}s (per worker sent {sent})")
    assert sum(sent) == rows
    assert abs(rate - qps) <= 0.15 * qps, rate
    assert_exactly_once(emu, stock_id, openids)


async def test_send_batch_option_paces_with_the_shared_limiter(
    emu: RunningEmulator, redis_url: str, tmp_path: Path
) -> None:
    from wxpay_async import Client
    from wxpay_async.batch import BatchSender, SqliteJournal, send_batch
    from wxpay_async.emulator import create_running_stock

    async with Client(**emu.client_kwargs()) as wx:
        stock_id = await create_running_stock(wx, max_coupons=100)
        sender = BatchSender(wx, batch_id="opt", journal=SqliteJournal(tmp_path / "a.db"), shared_rate_redis=redis_url)
        assert isinstance(sender.limiter, RedisRateLimiter) and sender.limiter.key == f"wxpay:ratelimit:{wx.mchid}"
        await sender.aclose()
        rows = [{"openid": f"o-{i}"} for i in range(30)]
        summary = await send_batch(
            wx,
            rows,
            batch_id="opt",
            journal=tmp_path / "b.db",
            stock_id=stock_id,
            appid=APPID,
            qps=50,
            shared_rate_redis=redis_url,
        )
    assert summary.sent == 30
    assert summary.elapsed >= 0.4  # 30 rows at 50/s after a burst of 5
