"""Batch sends on a fleet: hosts (real processes) share a batch through real redis-server processes.

Hosts are SIGKILLed, Redis is SIGKILLed and restarted (with its AOF, and empty), and the emulator's
ledger must show every row issued exactly once: no duplicate, no loss.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from wxpay_async.emulator import RunningEmulator, run_emulator

from .redis_procs import RedisProc, redis_proc
from .test_batch_emulator import (
    assert_exactly_once,
    cli_batch,
    issued_for,
    send_batch_args,
    start_send_batch,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL, /proc")


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    async with run_emulator(send_rate=0, seed=5) as running:
        yield running


async def start_host(
    source: Path, keys_dir: Path, stock_id: str, result: Path, env: dict[str, str], *extra: str
) -> asyncio.subprocess.Process:
    """``wxpay-async send-batch`` as a host runs it; the Redis URL comes from the environment."""
    return await start_send_batch(source, keys_dir, stock_id, result, *extra, env=env)


async def finish(proc: asyncio.subprocess.Process, timeout: float) -> tuple[bytes, bytes]:
    """``communicate()`` bounded by ``timeout``; a host still running then is killed and its output shown."""
    try:
        return await asyncio.wait_for(proc.communicate(), timeout=timeout)
    except TimeoutError:
        proc.send_signal(signal.SIGKILL)
        out, err = await proc.communicate()
        raise AssertionError(f"host still running after {timeout}s:\n{(out + err).decode()[-4000:]}") from None


def field(text: str, label: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(label)).split(":", 1)[1].strip()


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def redis_sync(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, decode_responses=True)


async def test_four_hosts_one_sigkilled_for_good_its_rows_finish_through_the_others(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, "fleet", 1200)
    with redis_proc(tmp_path) as server:
        env = {**os.environ, "WXPAY_REDIS_URL": server.url}
        opts = ("--batch-id", "fleet", "--qps", "300", "--chunk-rows", "100", "--lease", "4")
        hosts = [await start_host(source, keys_dir, stock_id, tmp_path / f"r{i}.csv", env, *opts) for i in range(4)]
        r = redis_sync(server.url)
        stream = "wxpay:batch:{fleet}:stream"
        victim = f":{hosts[0].pid}:"

        def victim_holds_rows() -> bool:
            if not r.exists(stream):
                return False
            info = r.xpending(stream, "senders")
            return any(victim in c["name"] and int(c["pending"]) > 0 for c in info.get("consumers") or [])

        await wait_for(victim_holds_rows, 40, "the victim host to hold a chunk")
        hosts[0].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.wait_for(hosts[0].communicate(), timeout=10)
        outputs = [await finish(h, 60) for h in hosts[1:]]
        finished = time.monotonic() - killed
        chunks = r.xlen(stream)
        r.close()
    texts = [(out + err).decode() for out, err in outputs]
    for host, text in zip(hosts[1:], texts, strict=True):
        assert host.returncode == 0, text
        assert field(text, "batch rows done").startswith("1200/1200"), text
    taken = sum(int(field(t, "chunks worked").split("(")[1].split()[0]) for t in texts)
    assert taken >= 1, texts  # the killed host's chunk was taken over, with no outside action
    assert chunks == 12, "the input was loaded more than once (or not at all)"
    assert finished < 30, f"the others needed {finished:.1f}s after the kill"
    assert_exactly_once(emu, stock_id, openids)
    with (tmp_path / "r1.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1200 and {r["state"] for r in rows} == {"sent"}


async def test_a_host_waits_while_a_live_host_holds_rows(emu: RunningEmulator, tmp_path: Path) -> None:
    """A second host that finds nothing to read does not report success while rows are held."""
    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, "wait", 200)
    with redis_proc(tmp_path) as server:
        env = {**os.environ, "WXPAY_REDIS_URL": server.url}
        opts = ("--batch-id", "wait", "--qps", "40", "--chunk-rows", "200")
        slow = await start_host(source, keys_dir, stock_id, tmp_path / "a.csv", env, *opts)
        await wait_for(lambda: len(issued_for(emu, stock_id)) > 0, 40, "the first host to send")
        second = await start_host(source, keys_dir, stock_id, tmp_path / "b.csv", env, *opts)
        out2, err2 = await asyncio.wait_for(second.communicate(), timeout=60)
        sent_when_second_ended = len(issued_for(emu, stock_id))
        out1, err1 = await asyncio.wait_for(slow.communicate(), timeout=60)
    assert second.returncode == 0 and slow.returncode == 0, (out2 + err2 + out1 + err1).decode()
    assert sent_when_second_ended == 200, "the second host ended before every row had an outcome"
    assert "waiting: " in err2.decode() and "held by" in err2.decode()
    assert field(out2.decode(), "sent now").startswith("0"), out2.decode()
    assert_exactly_once(emu, stock_id, openids)


@pytest.mark.parametrize("empty", [False, True], ids=["restart-with-aof", "restart-empty"])
async def test_redis_restart_is_waited_out_and_the_batch_resumes(
    emu: RunningEmulator, tmp_path: Path, empty: bool
) -> None:
    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, "blip", 600)
    server = RedisProc(tmp_path, aof=True)
    server.start()
    try:
        env = {**os.environ, "WXPAY_REDIS_URL": server.url}
        opts = ("--batch-id", "blip", "--qps", "150", "--chunk-rows", "50", "--lease", "4", "--redis-wait", "30")
        host = await start_host(source, keys_dir, stock_id, tmp_path / "r.csv", env, *opts)
        await wait_for(lambda: len(issued_for(emu, stock_id)) >= 100, 40, "the batch to be under way")
        server.kill()
        await asyncio.sleep(3)
        server.start(wipe=empty)
        out, err = await finish(host, 60)
    finally:
        server.stop()
    text = (out + err).decode()
    assert host.returncode == 0, text
    assert "Traceback" not in text
    assert "waiting up to 30s" in text and "answers again" in text, text
    assert field(out.decode(), "batch rows done").startswith("600/600"), text
    if empty:
        assert "Redis lost the state of batch blip" in text, text
        assert "redis lost state: 1x" in text
    assert_exactly_once(emu, stock_id, openids)


async def test_redis_gone_past_the_limit_one_line_and_exit_75(emu: RunningEmulator, tmp_path: Path) -> None:
    keys_dir, stock_id, _openids, source = await cli_batch(emu, tmp_path, "gone", 600)
    server = RedisProc(tmp_path, extra=("--requirepass", "s3cret-pw"))
    server.start()
    url_file = tmp_path / "redis-url"
    url_file.write_text(f"redis://:s3cret-pw@127.0.0.1:{server.port}/0\n")
    try:
        opts = ("--batch-id", "gone", "--qps", "100", "--redis-url-file", str(url_file), "--redis-wait", "2")
        host = await start_host(source, keys_dir, stock_id, tmp_path / "r.csv", dict(os.environ), *opts)
        await wait_for(lambda: len(issued_for(emu, stock_id)) >= 50, 40, "the batch to be under way")
        server.kill()
        out, err = await asyncio.wait_for(host.communicate(), timeout=40)
    finally:
        server.stop()
    text = err.decode()
    assert host.returncode == 75, (out + err).decode()
    assert "Traceback" not in text and "s3cret-pw" not in (out + err).decode()
    last = text.strip().splitlines()[-1]
    assert last.startswith("wxpay-async: Redis redis://:***@127.0.0.1") and "unreachable for more than 2s" in last
    coupons = issued_for(emu, stock_id)
    assert len({c["openid"] for c in coupons}) == len(coupons), "a row was sent twice"


async def test_content_batch_id_status_expiry_cleanup(emu: RunningEmulator, tmp_path: Path) -> None:
    from wxpay_async.batch import file_sha256

    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, "life", 120)
    copy = tmp_path / "another-name.csv"
    copy.write_bytes(source.read_bytes())
    batch_id = f"input-{file_sha256(source)[:24]}"
    with redis_proc(tmp_path) as server:
        env = {**os.environ, "WXPAY_REDIS_URL": server.url}
        first = await start_host(source, keys_dir, stock_id, tmp_path / "a.csv", env, "--expire-days", "1")
        out, err = await asyncio.wait_for(first.communicate(), timeout=60)
        assert first.returncode == 0, (out + err).decode()
        r = redis_sync(server.url)
        prefix = "wxpay:batch:{" + batch_id + "}:"
        ttl = r.ttl(prefix + "rows")
        assert 0 < ttl <= 86400, ttl  # finished: expires after --expire-days
        # A differently named copy of the list is the same batch: nothing is sent again.
        again = await start_host(copy, keys_dir, stock_id, tmp_path / "b.csv", env)
        out2, err2 = await asyncio.wait_for(again.communicate(), timeout=60)
        assert again.returncode == 0, (out2 + err2).decode()
        assert field(out2.decode(), "sent now").startswith("0") and field(out2.decode(), "done before") == "120"
        cli = [sys.executable, "-m", "wxpay_async.cli", "batch"]
        status = await asyncio.create_subprocess_exec(*cli, "status", batch_id, stdout=asyncio.subprocess.PIPE, env=env)
        text = (await status.communicate())[0].decode()
        assert f"batch {batch_id}: finished" in text and "120/120" in text, text
        assert "outcomes:             sent 120, failed 0, duplicate 0" in text, text
        clean = await asyncio.create_subprocess_exec(*cli, "cleanup", batch_id, stdout=asyncio.subprocess.PIPE, env=env)
        assert "deleted" in (await clean.communicate())[0].decode()
        assert not r.keys(prefix + "*")
        r.close()
    assert_exactly_once(emu, stock_id, openids)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_workers_die_with_their_sigkilled_parent(emu: RunningEmulator, tmp_path: Path) -> None:
    keys_dir, stock_id, _openids, source = await cli_batch(emu, tmp_path, "orphan", 2000)
    with redis_proc(tmp_path) as server:
        env = {**os.environ, "WXPAY_REDIS_URL": server.url}
        parent = await start_host(source, keys_dir, stock_id, tmp_path / "r.csv", env, "--workers", "2", "--qps", "20")
        await wait_for(lambda: len(issued_for(emu, stock_id)) > 0, 40, "the workers to send")
        kids = children_of(parent.pid)
        assert len(kids) == 2
        for kid in kids:
            assert b"WXPAY_REDIS_URL" in Path(f"/proc/{kid}/environ").read_bytes()
            assert server.url.encode() not in Path(f"/proc/{kid}/cmdline").read_bytes()
        parent.send_signal(signal.SIGKILL)
        await parent.wait()
        await wait_for(lambda: not any(alive(k) for k in kids), 20, "the orphaned workers to exit")
        await asyncio.wait_for(parent.communicate(), timeout=10)


async def test_workers_qps_is_the_merchants_total(emu: RunningEmulator, tmp_path: Path) -> None:
    """``--workers 2 --qps 200``: 200/s together (each worker used to get 100 and take it as the total)."""
    from .test_shared_rate import accepted_times, steady_rate

    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, "total", 800)
    with accepted_times(emu) as accepted, redis_proc(tmp_path) as server:
        env = {**os.environ, "WXPAY_REDIS_URL": server.url}
        opts = ("--workers", "2", "--qps", "200", "--chunk-rows", "50")
        proc = await start_host(source, keys_dir, stock_id, tmp_path / "r.csv", env, *opts)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, (out + err).decode()
    rate, window = steady_rate(accepted)
    assert abs(rate - 200) <= 0.15 * 200, f"{rate:.0f}/s over {window:.1f}s"
    assert_exactly_once(emu, stock_id, openids)


async def test_rate_falls_back_to_a_share_while_redis_is_away_and_returns(tmp_path: Path) -> None:
    from wxpay_async.batch import RedisRateLimiter

    server = RedisProc(tmp_path)
    server.start()
    try:
        limiter = RedisRateLimiter(server.url, mchid="1900000001", rate=200, probe_interval=0.3, batch=10)
        limiter.fallback_share = 4  # a fleet sender keeps this at the live hosts it last saw
        for _ in range(20):
            await limiter.acquire()
        assert not limiter.in_fallback and limiter.evals == 2  # 20 tokens, reserved 10 at a time
        server.kill()
        started = time.monotonic()
        for _ in range(30):
            await limiter.acquire()
        took = time.monotonic() - started
        assert limiter.in_fallback and limiter.rate == 50  # 200 / 4 hosts
        assert took >= (30 - 5) / 50 * 0.9, took  # paced at the share (after its burst of 5)
        server.start()
        await asyncio.sleep(0.4)
        for _ in range(3):
            await limiter.acquire()
        assert not limiter.in_fallback, "did not return to the shared bucket once Redis answered"
        await limiter.aclose()
    finally:
        server.stop()


async def two_senders(emu: RunningEmulator, url: str, rows: list[dict[str, str]], stock_id: str, batch_id: str) -> Any:
    from wxpay_async import Client
    from wxpay_async.batch import FleetSender

    from .test_batch_emulator import APPID

    async def host() -> Any:
        async with Client(**emu.client_kwargs()) as wx:
            sender = FleetSender(
                wx,
                batch_id=batch_id,
                redis_url=url,
                stock_id=stock_id,
                appid=APPID,
                qps=2000,
                concurrency=8,
                chunk_rows=20,
                lease=3,
            )
            try:
                return await sender.run(rows), sender
            finally:
                await sender.aclose()

    return await asyncio.gather(host(), host())


async def run_single_try_sender(
    emu: RunningEmulator, url: str, batch_id: str, stock_id: str, rows: list[dict[str, str]], *, resume: bool
) -> Any:
    """One in-process fleet host, one try per call, one row at a time; returns its summary.

    The resume tests run it twice (a first pass that leaves retryable failures, then ``resume``) and
    compare the summaries, so the sender is built the same way for both passes.
    """
    from wxpay_async import Client, RetryPolicy
    from wxpay_async.batch import FleetSender

    from .test_batch_emulator import APPID

    async with Client(**emu.client_kwargs(), retry=RetryPolicy(max_attempts=1)) as wx:
        sender = FleetSender(
            wx, batch_id=batch_id, redis_url=url, stock_id=stock_id, appid=APPID, concurrency=1, resume=resume
        )
        try:
            return await sender.run(rows)
        finally:
            await sender.aclose()


async def test_duplicate_rows_are_found_once_across_the_fleet(emu: RunningEmulator, tmp_path: Path) -> None:
    from wxpay_async import Client
    from wxpay_async.emulator import create_running_stock

    async with Client(**emu.client_kwargs()) as wx:
        stock_id = await create_running_stock(wx, max_coupons=1000)
    openids = [f"dup-{i:03d}" for i in range(100)]
    rows = [{"openid": o} for o in [*openids, "dup-005", "dup-017"]]
    with redis_proc(tmp_path) as server:
        (a, sender), (b, _) = await two_senders(emu, server.url, rows, stock_id, "dups")
        result = tmp_path / "r.csv"
        assert await sender.write_results(result) == 102
        r = redis_sync(server.url)
        stored = r.hgetall("wxpay:batch:{dups}:rows")
        r.close()
    assert a.sent + b.sent == 100 and a.duplicates + b.duplicates == 2, (a.describe(), b.describe())
    assert a.batch_done == b.batch_done == 102
    dup_messages = sorted(v for k, v in stored.items() if "#dup" in k)
    assert len(dup_messages) == 2 and "same key as row 6" in dup_messages[0]
    assert_exactly_once(emu, stock_id, openids)


async def test_an_exhausted_stock_stops_every_host(emu: RunningEmulator, tmp_path: Path) -> None:
    from wxpay_async import Client
    from wxpay_async.emulator import create_running_stock

    async with Client(**emu.client_kwargs()) as wx:
        stock_id = await create_running_stock(wx, max_coupons=40)
    rows = [{"openid": f"ex-{i:03d}"} for i in range(400)]
    with redis_proc(tmp_path) as server:
        (a, _), (b, _) = await two_senders(emu, server.url, rows, stock_id, "exhausted")
    assert a.stopped_early and b.stopped_early and "NOT_ENOUGH" in (a.stopped_early + b.stopped_early)
    assert a.sent + b.sent == 40
    assert a.batch_done < 400
    assert len(issued_for(emu, stock_id)) == 40


async def test_resume_sends_the_retryable_failures_again(emu: RunningEmulator, tmp_path: Path) -> None:
    from wxpay_async import Client
    from wxpay_async.emulator import create_running_stock

    async with Client(**emu.client_kwargs()) as wx:
        stock_id = await create_running_stock(wx, max_coupons=100)
    openids = [f"re-{i:02d}" for i in range(30)]
    rows = [{"openid": o} for o in openids]

    with redis_proc(tmp_path) as server:
        # One row meets 500 SYSTEM_ERROR on each of its 3 tries: failed, retryable.
        emu.push_faults(*[{"kind": "system_error", "path_prefix": "/v3/marketing/favor/users/"}] * 3)
        first = await run_single_try_sender(emu, server.url, "again", stock_id, rows, resume=False)
        assert first.sent == 29 and first.failed == 1 and first.batch_done == 30, first.describe()
        # Without --resume: the batch is complete, nothing is sent.
        rerun = await run_single_try_sender(emu, server.url, "again", stock_id, rows, resume=False)
        assert rerun.sent == 0
        resumed = await run_single_try_sender(emu, server.url, "again", stock_id, rows, resume=True)
    assert resumed.sent == 1 and resumed.failed == 0 and resumed.batch_done == 30, resumed.describe()
    assert_exactly_once(emu, stock_id, openids)


async def test_resume_without_batch_id_uses_the_journals_batch(emu: RunningEmulator, tmp_path: Path) -> None:
    """A SQLite journal made when the default id was the file's stem still resumes without --batch-id."""
    from .test_cli import run_cli

    keys_dir, stock_id, _, source = await cli_batch(emu, tmp_path, "stem", 30)
    args = send_batch_args(source, keys_dir, stock_id, "--journal", str(tmp_path / "old.db"), "-q")
    code, _, err = await run_cli(*args, "--batch-id", source.stem)  # what the old default wrote
    assert code == 0, err
    before = len(emu.ledger()["requests"])
    code, out, err = await run_cli(*args, "--resume")
    assert code == 0 and "done before:      30" in out, out + err
    assert len(emu.ledger()["requests"]) == before


async def test_a_key_held_in_two_chunks_clears_both() -> None:
    """--resume re-queues a retryable row while its first chunk may still be pending: one outcome
    must clear the key from both chunks, or the host would wait for it forever."""
    from wxpay_async.batch import Fleet, FleetJournal, RowOutcome

    fleet = Fleet("redis://127.0.0.1:9/0", batch_id="two-chunks")  # never contacted here
    journal = FleetJournal(fleet)
    journal.hold("1-1", ["a", "b"])
    journal.hold("9-1", ["a"])
    await journal.record(RowOutcome(key="a", index=1, request_no="B1", state="sent", coupon_id="c"))
    assert journal.held == {"1-1": {"b"}}
    await journal.record(RowOutcome(key="b", index=2, request_no="B2", state="sent", coupon_id="d"))
    assert journal.held == {}
    assert sorted(journal._acks) == ["1-1", "9-1"]
    await fleet.aclose()


async def test_a_host_stopped_with_sigterm_hands_its_chunks_over_at_once(emu: RunningEmulator, tmp_path: Path) -> None:
    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, "term", 600)
    with redis_proc(tmp_path) as server:
        env = {**os.environ, "WXPAY_REDIS_URL": server.url}
        # A lease of 30s: a takeover by idle time alone would not finish within this test's bounds.
        opts = ("--batch-id", "term", "--qps", "200", "--chunk-rows", "100", "--lease", "30")
        a = await start_host(source, keys_dir, stock_id, tmp_path / "a.csv", env, *opts)
        b = await start_host(source, keys_dir, stock_id, tmp_path / "b.csv", env, *opts)
        r = redis_sync(server.url)

        def a_holds_rows() -> bool:
            if not r.exists("wxpay:batch:{term}:stream"):
                return False
            info = r.xpending("wxpay:batch:{term}:stream", "senders")
            return any(f":{a.pid}:" in c["name"] for c in info.get("consumers") or [])

        await wait_for(a_holds_rows, 40, "host a to hold a chunk")
        a.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        out_a, err_a = await finish(a, 30)
        out_b, err_b = await finish(b, 25)
        after = time.monotonic() - stopped
        r.close()
    assert a.returncode == 1 and "interrupted:      yes" in out_a.decode(), (out_a + err_a).decode()
    assert b.returncode == 0, (out_b + err_b).decode()
    assert field(out_b.decode(), "batch rows done").startswith("600/600")
    assert after < 20, f"{after:.1f}s: the chunks were not handed over at once"
    assert_exactly_once(emu, stock_id, openids)


@pytest.mark.parametrize("steps", [0, 1, 2, 3])
async def test_the_flusher_stops_when_cancelled_as_it_is_woken(steps: int) -> None:
    """A cancel that arrives as the flusher's wake-up completes must end it (no Redis needed).

    With ``asyncio.wait_for`` (Python 3.11, python/cpython#86296) the cancel was swallowed in that
    race and ``FleetSender.run`` waited for the flusher forever (redis-py 8's timing hit it every
    run of the exhausted-stock test). ``steps`` loop turns between the wake-up and the cancel.
    """
    from wxpay_async.batch import Fleet, FleetJournal

    fleet = Fleet("redis://127.0.0.1:1/0", batch_id="cancel-race")  # never contacted: nothing to write
    try:
        journal = FleetJournal(fleet, commit_interval=30)
        task = asyncio.create_task(journal.flusher())
        await asyncio.sleep(0)  # the flusher waits for its wake-up
        journal.wake.set()
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done == {task} and task.cancelled()
    finally:
        await fleet.aclose()
