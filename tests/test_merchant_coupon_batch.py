"""Merchant-coupon rows in the batch sender: exactly once under faults and restarts (the emulator's ledger)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wxpay_async import Client, RetryPolicy
from wxpay_async.batch import send_batch
from wxpay_async.emulator import RunningEmulator, run_emulator

from .test_merchant_coupon import APPID, stock_args

RETRY = RetryPolicy(max_attempts=6, backoff_base=0.01, backoff_max=0.1, deadline=20)


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    async with run_emulator() as running:
        yield running


def merchant_ledger(emu: RunningEmulator) -> tuple[list[dict[str, str]], list[dict[str, int]]]:
    ledger = emu.ledger()
    return (
        [c for c in ledger["coupons"] if c["kind"] == "merchant"],
        [r for r in ledger["requests"] if r["kind"] == "merchant"],
    )


async def test_merchant_rows_exactly_once_under_faults_and_a_rerun(emu: RunningEmulator, tmp_path: Path) -> None:
    async with Client(**emu.client_kwargs(), retry=RETRY) as wx:
        stock_id = (
            await wx.merchant_coupon.create_stock(**stock_args(max_coupons=500, max_coupons_per_user=1))
        ).stock_id
        emu.set_fault_rates(
            {"kind": "system_error", "probability": 0.05, "path_prefix": "/v3/marketing/busifavor/coupons/send"},
            {"kind": "drop_after", "probability": 0.05, "path_prefix": "/v3/marketing/busifavor/coupons/send"},
            seed=7,
        )
        openids = [f"mc-{i:04d}" for i in range(120)]
        rows = [{"openid": o} for o in openids]
        options = {"batch_id": "merchant", "journal": tmp_path / "j.db", "kind": "merchant", "stock_id": stock_id}
        first = await send_batch(wx, rows, appid=APPID, qps=2000, concurrency=8, **options)  # type: ignore[arg-type]
        emu.clear_faults()
        again = await send_batch(wx, rows, appid=APPID, qps=2000, concurrency=8, resume=True, **options)  # type: ignore[arg-type]
        # A lost journal: the deterministic request numbers still make WeChat Pay answer the first coupon.
        options["journal"] = tmp_path / "fresh.db"
        lost = await send_batch(wx, rows, appid=APPID, qps=2000, concurrency=8, **options)  # type: ignore[arg-type]
    assert first.sent == 120 and first.failed == 0, first.describe()
    assert again.sent == 0 and again.already_done == 120
    assert lost.sent == 120 and lost.failed == 0  # re-sent, answered with the original coupons
    issued, requests = merchant_ledger(emu)
    assert sorted(c["openid"] for c in issued) == openids  # one coupon per row, none twice
    assert all(r["issued"] == 1 for r in requests) and len(requests) == 120
    assert Counter(c["stock_id"] for c in issued) == {stock_id: 120}


async def test_upload_mode_rows_take_the_codes_in_order_and_stop_when_they_run_out(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    async with Client(**emu.client_kwargs(), retry=RETRY) as wx:
        mc = wx.merchant_coupon
        stock_id = (await mc.create_stock(**stock_args("MERCHANT_UPLOAD", max_coupons=100))).stock_id
        codes = [f"UP{i:03d}" for i in range(5)]
        await mc.upload_coupon_codes(stock_id, coupon_code_list=codes)
        summary = await send_batch(
            wx,
            [{"openid": f"u-{i}"} for i in range(8)],
            batch_id="upload",
            journal=tmp_path / "j.db",
            kind="merchant",
            stock_id=stock_id,
            appid=APPID,
            concurrency=1,
        )
    assert summary.sent == 5 and summary.stopped_early and "NOT_ENOUGH" in summary.stopped_early
    issued, _ = merchant_ledger(emu)
    assert [c["coupon_code"] for c in sorted(issued, key=lambda c: c["openid"])] == codes


async def test_a_row_without_appid_is_refused_before_sending(emu: RunningEmulator, tmp_path: Path) -> None:
    async with Client(**emu.client_kwargs()) as wx:
        summary = await send_batch(
            wx, [{"openid": "o1"}], batch_id="noappid", journal=tmp_path / "j.db", kind="merchant", stock_id="1"
        )
    assert summary.failed == 1 and summary.sent == 0, summary.describe()
    assert merchant_ledger(emu) == ([], [])
