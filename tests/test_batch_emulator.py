"""Batch proofs against the emulator on 127.0.0.1: faults, crashes (SIGKILL), exhaustion.

"Exactly once" is read from the emulator's ledger: one issued coupon per input row, none twice.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from wxpay_async import Client, RetryPolicy
from wxpay_async.batch import BatchRow, BatchSummary, StockStatusFn, cash_stock_status, send_batch
from wxpay_async.emulator import RunningEmulator, create_running_stock, run_emulator, write_keys_dir

from .emulator_helpers import STOCK_DISPLAY, product_display, product_stock

APPID = "wx233544546545989"
RETRY = RetryPolicy(max_attempts=5, backoff_base=0.01, backoff_max=0.1, deadline=20)


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    async with run_emulator(send_rate=0, seed=7) as running:
        yield running


async def make_stock(wx: Client, max_coupons: int) -> str:
    return await create_running_stock(wx, max_coupons=max_coupons)


async def cli_batch(emu: RunningEmulator, tmp_path: Path, prefix: str, rows: int) -> tuple[Path, str, list[str], Path]:
    """Keys dir for the CLI, a running stock, and an input CSV: what every subprocess test needs."""
    keys_dir = tmp_path / "keys"
    write_keys_dir(keys_dir, emu.base_url, keys=emu.keys)
    async with Client(**emu.client_kwargs(), retry=RETRY) as wx:
        stock_id = await make_stock(wx, 10_000)
    openids = [f"{prefix}-{i:05d}" for i in range(rows)]
    source = tmp_path / "users.csv"
    source.write_text("openid\n" + "\n".join(openids) + "\n")
    return keys_dir, stock_id, openids, source


def send_batch_argv(source: Path, keys_dir: Path, stock_id: str, *extra: str) -> list[str]:
    """The ``wxpay-async send-batch`` command line every subprocess test runs (plus its own flags)."""
    return [sys.executable, "-m", "wxpay_async.cli", *send_batch_args(source, keys_dir, stock_id, *extra)]


async def start_send_batch(
    source: Path, keys_dir: Path, stock_id: str, result: Path, *extra: str, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """``wxpay-async send-batch`` in a subprocess, 8 rows at a time, quiet, writing ``result``, plus ``extra``.

    The shared-journal tests (several workers, several hosts in test_fleet) all start their processes
    this way; ``env`` is the child's whole environment (this one's when None).
    """
    return await asyncio.create_subprocess_exec(
        *send_batch_argv(source, keys_dir, stock_id),
        "--concurrency",
        "8",
        "-q",
        "--result",
        str(result),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


def send_batch_args(source: Path, keys_dir: Path, stock_id: str, *extra: str) -> list[str]:
    """``send-batch`` and its arguments, for the CLI in a subprocess or in this process (run_cli)."""
    return [
        "send-batch",
        str(source),
        "--keys-dir",
        str(keys_dir),
        "--stock-id",
        stock_id,
        "--appid",
        APPID,
        *extra,
    ]


def issued_for(emu: RunningEmulator, stock_id: str) -> list[dict[str, Any]]:
    return [c for c in emu.ledger()["coupons"] if c["kind"] == "cash" and c["stock_id"] == stock_id]


def assert_exactly_once(emu: RunningEmulator, stock_id: str, openids: list[str]) -> None:
    coupons = issued_for(emu, stock_id)
    per_user = Counter(c["openid"] for c in coupons)
    assert sorted(per_user) == sorted(openids), "a row was lost or a stranger got a coupon"
    assert set(per_user.values()) == {1}, f"sent twice: {[u for u, n in per_user.items() if n > 1]}"
    numbers = [
        r
        for r in emu.ledger()["requests"]
        if r["kind"] == "cash" and r.get("coupon_id") in {c["coupon_id"] for c in coupons}
    ]
    assert all(r["issued"] == 1 for r in numbers)


async def test_faults_every_row_exactly_once(emu: RunningEmulator, tmp_path: Path) -> None:
    async with Client(**emu.client_kwargs(), retry=RETRY) as wx:
        stock_id = await make_stock(wx, 1000)
        prefix = "/v3/marketing/favor/users/"
        emu.set_fault_rates(
            {"kind": "system_error", "probability": 0.05, "path_prefix": prefix},
            {"kind": "rate_limit", "probability": 0.05, "path_prefix": prefix},
            {"kind": "drop_after", "probability": 0.02, "path_prefix": prefix},
            {"kind": "drop_before", "probability": 0.02, "path_prefix": prefix},
            seed=11,
        )
        openids = [f"user-{i:05d}" for i in range(300)]
        summary = await send_batch(
            wx,
            [{"openid": o} for o in openids],
            batch_id="faulty",
            journal=tmp_path / "j.db",
            stock_id=stock_id,
            appid=APPID,
            qps=2000,
            concurrency=16,
        )
        emu.clear_faults()
    assert summary.sent == 300 and summary.failed == 0, summary.describe()
    assert_exactly_once(emu, stock_id, openids)
    injected = Counter(h["kind"] for h in emu.emulator.faults.history)
    assert injected["system_error"] > 0 and injected["rate_limit"] > 0 and injected["drop_after"] > 0


async def test_stock_exhausted_mid_batch_stops_early(emu: RunningEmulator, tmp_path: Path) -> None:
    async with Client(**emu.client_kwargs(), retry=RETRY) as wx:
        stock_id = await make_stock(wx, 40)
        summary = await send_batch(
            wx,
            [{"openid": f"u{i}"} for i in range(200)],
            batch_id="exhaust",
            journal=tmp_path / "j.db",
            stock_id=stock_id,
            appid=APPID,
            qps=2000,
            concurrency=8,
        )
    assert summary.sent == 40
    assert summary.stopped_early and "NOT_ENOUGH" in summary.stopped_early
    assert summary.not_sent > 100
    assert len(issued_for(emu, stock_id)) == 40


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
async def test_sigkill_at_random_moments_then_resume(emu: RunningEmulator, tmp_path: Path) -> None:
    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, "crash", 1200)
    journal = tmp_path / "batch.db"
    args = send_batch_argv(
        source,
        keys_dir,
        stock_id,
        "--journal",
        str(journal),
        "--batch-id",
        "crash",
        "--qps",
        "300",
        "--concurrency",
        "16",
        "-q",
        "--resume",
    )
    rng = random.Random(5)
    kills = 0
    for _ in range(8):
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ}
        )
        try:
            await asyncio.wait_for(proc.wait(), timeout=rng.uniform(1.0, 2.2))
        except TimeoutError:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            kills += 1
            continue
        out, err = await proc.communicate()
        assert proc.returncode == 0, (out + err).decode()
        break
    else:
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, (out + err).decode()
    assert kills >= 2, "the batch finished before it could be killed twice; raise the row count"
    assert_exactly_once(emu, stock_id, openids)


def counting_status(wx: Client, calls: list[str]) -> StockStatusFn:
    probe = cash_stock_status(wx)

    async def status(row: BatchRow) -> str | None:
        calls.append(row.stock_id)
        return await probe(row)

    return status


async def test_paused_stock_stops_the_batch_via_a_status_query_and_resume_sends_everything(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    async with Client(**emu.client_kwargs(), retry=RETRY) as wx:
        stock_id = await make_stock(wx, 1000)
        await wx.favor.pause_stock(stock_id, stock_creator_mchid=wx.mchid)
        openids = [f"p{i:04d}" for i in range(120)]
        calls: list[str] = []
        opts: dict[str, Any] = {"stock_id": stock_id, "appid": APPID, "qps": 2000, "concurrency": 4}
        first = await send_batch(
            wx,
            [{"openid": o} for o in openids],
            batch_id="paused",
            journal=tmp_path / "j.db",
            stock_status=counting_status(wx, calls),
            **opts,
        )
        # A paused stock answers 400 INVALID_REQUEST; after 5 in a row the sender asked once for the
        # stock's status (favor.get_stock: "paused", not "running") and stopped.
        assert first.sent == 0 and first.stopped_early, first.describe()
        assert f"stock {stock_id} is paused" in first.stopped_early
        assert "consecutive INVALID_REQUEST" in first.stopped_early
        assert calls == [stock_id]
        assert 5 <= first.failed < 5 + 2 * 4 and first.not_sent > 100
        await wx.favor.restart_stock(stock_id, stock_creator_mchid=wx.mchid)
        second = await send_batch(
            wx, [{"openid": o} for o in openids], batch_id="paused", journal=tmp_path / "j.db", resume=True, **opts
        )
    # The rows that failed before the stop were re-recorded retryable: the resume sends all 120.
    assert second.sent == 120 and second.failed == 0, second.describe()
    assert_exactly_once(emu, stock_id, openids)


async def test_invalid_requests_on_a_running_stock_do_not_stop_the_batch(emu: RunningEmulator, tmp_path: Path) -> None:
    """INVALID_REQUEST answers while the stock still runs (row-specific causes): the status query
    says "running", those rows stay failed, the rest of the batch is sent."""
    async with Client(**emu.client_kwargs(), retry=RETRY) as wx:
        stock_id = await make_stock(wx, 1000)
        emu.push_faults(
            *[
                {
                    "kind": "system_error",
                    "status": 400,
                    "code": "INVALID_REQUEST",
                    "path_prefix": "/v3/marketing/favor/users/",
                }
                for _ in range(8)
            ]
        )
        calls: list[str] = []
        summary = await send_batch(
            wx,
            [{"openid": f"g{i:03d}"} for i in range(38)],
            batch_id="badrows",
            journal=tmp_path / "j.db",
            stock_id=stock_id,
            appid=APPID,
            qps=2000,
            concurrency=1,
            stock_status=counting_status(wx, calls),
        )
    assert summary.stopped_early is None, summary.describe()
    assert summary.sent == 30 and summary.failures_by_code == {"INVALID_REQUEST": 8}
    assert calls == [stock_id], "one status query after the first 5, none for the 3 that followed"


async def test_user_limit_rule_limit_fails_just_that_row(emu: RunningEmulator, tmp_path: Path) -> None:
    """403 RULE_LIMIT (max_coupons_per_user reached) is about one user: the row fails, the batch goes on."""
    async with Client(**emu.client_kwargs(), retry=RETRY) as wx:
        stock_id = await make_stock(wx, 1000)
        await wx.favor.send_coupon("u-limited", stock_id=stock_id, appid=APPID, stock_creator_mchid=wx.mchid)
        openids = [f"u{i:03d}" for i in range(40)]
        rows = [{"openid": o} for o in openids[:20]] + [{"openid": "u-limited"}] + [{"openid": o} for o in openids[20:]]
        out = tmp_path / "result.csv"
        summary = await send_batch(
            wx,
            rows,
            batch_id="limit",
            journal=tmp_path / "j.db",
            result_csv=out,
            stock_id=stock_id,
            appid=APPID,
            qps=2000,
            concurrency=4,
        )
    assert summary.stopped_early is None, summary.describe()
    assert summary.sent == 40 and summary.failed == 1
    assert summary.failures_by_code == {"RULE_LIMIT": 1}
    limited = [line for line in out.read_text().splitlines() if "RULE_LIMIT" in line]
    assert len(limited) == 1 and ",failed," in limited[0]
    coupons = issued_for(emu, stock_id)
    assert sorted(c["openid"] for c in coupons) == sorted([*openids, "u-limited"])


async def test_two_worker_processes_share_one_redis_journal(emu: RunningEmulator, tmp_path: Path) -> None:
    from .redis_server import redis_server

    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, "shared", 600)
    with redis_server(tmp_path) as url:
        procs = []
        for worker in range(2):
            procs.append(
                await start_send_batch(
                    source,
                    keys_dir,
                    stock_id,
                    tmp_path / f"r{worker}.csv",
                    "--redis",
                    url,
                    "--batch-id",
                    "two-workers",
                    "--qps",
                    "250",
                )
            )
        outputs = [await asyncio.wait_for(p.communicate(), timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, (out + err).decode()
    sent = [
        int(next(line for line in out.decode().splitlines() if "sent now" in line).split()[2]) for out, _ in outputs
    ]
    assert sum(sent) == 600 and min(sent) > 0, sent
    assert_exactly_once(emu, stock_id, openids)


async def send_product_batch_through_faults(
    emu: RunningEmulator,
    wx: Client,
    journal: Path,
    *,
    path_prefix: str,
    drop_probability: float,
    seed: int,
    openids: list[str],
    batch_id: str,
    stock_id: str,
    defaults: dict[str, str],
) -> BatchSummary:
    """A product-coupon batch, one row per openid, sent while 5 % of calls under ``path_prefix`` fail
    with 500 and ``drop_probability`` of them lose their answer; the faults are cleared afterwards.

    The partner (merchant) and brand product-coupon batch tests differ only in paths, rates and ids.
    """
    emu.set_fault_rates(
        {"kind": "system_error", "probability": 0.05, "path_prefix": path_prefix},
        {"kind": "drop_after", "probability": drop_probability, "path_prefix": path_prefix},
        seed=seed,
    )
    summary = await send_batch(
        wx,
        [{"openid": o} for o in openids],
        batch_id=batch_id,
        journal=journal,
        kind="product",
        stock_id=stock_id,
        appid=APPID,
        qps=2000,
        concurrency=8,
        defaults=defaults,
    )
    emu.clear_faults()
    return summary


async def test_product_coupon_batch_through_typed_endpoints(emu: RunningEmulator, tmp_path: Path) -> None:
    async with Client(**emu.client_kwargs(), retry=RETRY) as wx:
        product = await wx.product_coupon.create_product_coupon(
            brand_id="120344",
            scope="ALL",
            type="NORMAL",
            usage_mode="SINGLE",
            single_usage_info={"normal_coupon": {"threshold": 10000, "discount_amount": 1000}},
            display_info=product_display(),
            stock=product_stock(
                "batch",
                {"max_count": 500},
                {"normal_coupon": {"threshold": 10000, "discount_amount": 1000}},
                **STOCK_DISPLAY,
            ),
        )
        assert product.out_request_no  # the request number the SDK filled
        assert product.stock is not None
        openids = [f"pc-{i:04d}" for i in range(150)]
        summary = await send_product_batch_through_faults(
            emu,
            wx,
            tmp_path / "j.db",
            path_prefix="/v3/marketing/partner",
            drop_probability=0.03,
            seed=3,
            openids=openids,
            batch_id="product",
            stock_id=str(product.stock.stock_id),
            defaults={"product_coupon_id": product.product_coupon_id, "brand_id": "120344"},
        )
    assert summary.sent == 150 and summary.failed == 0, summary.describe()
    issued = [c for c in emu.ledger()["coupons"] if c["kind"] == "product"]
    assert sorted(c["openid"] for c in issued) == openids


async def test_sigint_finishes_in_flight_rows_flushes_and_resumes(emu: RunningEmulator, tmp_path: Path) -> None:
    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, "int", 800)
    args = send_batch_argv(
        source,
        keys_dir,
        stock_id,
        "--journal",
        str(tmp_path / "j.db"),
        "--qps",
        "200",
        "-q",
        "--resume",
    )
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    # Interrupt once the batch is under way (a loaded machine may take seconds to start it).
    for _ in range(300):
        await asyncio.sleep(0.1)
        if any(c["stock_id"] == stock_id for c in emu.ledger()["coupons"]) or proc.returncode is not None:
            break
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    text = out.decode()
    assert proc.returncode == 1, (text, err.decode())  # interrupted, not crashed
    assert "interrupted:      yes" in text
    sent_first = int(next(line for line in text.splitlines() if "sent now" in line).split()[2])
    assert 0 < sent_first < 800
    # Everything the first run sent is in the journal: the resume sends exactly the rest.
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    second = out.decode()
    assert f"done before:      {sent_first}" in second
    assert_exactly_once(emu, stock_id, openids)


async def test_send_batch_workers_n_processes_exactly_once(emu: RunningEmulator, tmp_path: Path) -> None:
    """``send-batch --workers 3`` through the real CLI: 3 processes, one Redis journal, one result file."""
    import csv

    from .redis_server import redis_server

    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, "workers", 450)
    result = tmp_path / "result.csv"
    with redis_server(tmp_path) as url:
        proc = await start_send_batch(
            source, keys_dir, stock_id, result, "--redis", url, "--workers", "3", "--qps", "600"
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    text = out.decode()
    assert proc.returncode == 0, text + err.decode()
    assert "3 workers:" in text
    assert "sent now:         450" in text, text
    assert "not sent yet:     0" in text, text
    assert_exactly_once(emu, stock_id, openids)
    with result.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 450 and {r["state"] for r in rows} == {"sent"}
    assert sorted(r["key"].rsplit(":", 1)[-1] for r in rows) == sorted(openids)


async def test_send_batch_workers_needs_a_shared_journal(tmp_path: Path) -> None:
    source = tmp_path / "users.csv"
    source.write_text("openid\nu1\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wxpay_async.cli",
        "send-batch",
        str(source),
        "--workers",
        "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2 and b"--redis" in err
