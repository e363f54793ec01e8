"""send_row: one row exactly once from any task queue; the arq and Celery recipes run a real worker."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wxpay_async import Client, RetryPolicy
from wxpay_async.batch import SqliteJournal, request_number, send_row
from wxpay_async.emulator import RunningEmulator, create_running_stock, run_emulator
from wxpay_async.errors import APIStatusError

from .test_batch_emulator import APPID
from .test_examples import _load

NO_RETRY = RetryPolicy(max_attempts=1)


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    async with run_emulator(send_rate=0, seed=3) as running:
        yield running


async def test_concurrent_and_repeated_runs_of_one_row_issue_one_coupon(emu: RunningEmulator) -> None:
    async with Client(**emu.client_kwargs()) as wx:
        stock_id = await create_running_stock(wx, max_coupons=10)
        row = {"openid": "o-1"}
        outcomes = await asyncio.gather(
            *[send_row(wx, row, batch_id="tq", stock_id=stock_id, appid=APPID) for _ in range(4)]
        )
        later = await send_row(wx, row, batch_id="tq", stock_id=stock_id, appid=APPID)
    assert {o.coupon_id for o in [*outcomes, later]} == {outcomes[0].coupon_id}
    assert all(o.state == "sent" for o in outcomes)
    assert later.request_no == request_number("tq", f"{stock_id}:o-1")
    coupons = [c for c in emu.ledger()["coupons"] if c["stock_id"] == stock_id]
    assert len(coupons) == 1


async def test_journal_answers_a_sent_row_without_a_call(emu: RunningEmulator, tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.db")
    await journal.open("tq-journal")
    async with Client(**emu.client_kwargs()) as wx:
        stock_id = await create_running_stock(wx, max_coupons=10)
        first = await send_row(
            wx, {"openid": "o-2"}, batch_id="tq-journal", stock_id=stock_id, appid=APPID, journal=journal
        )
        calls = len(emu.ledger()["requests"])
        again = await send_row(
            wx, {"openid": "o-2"}, batch_id="tq-journal", stock_id=stock_id, appid=APPID, journal=journal
        )
        assert len(emu.ledger()["requests"]) == calls  # answered from the journal
    await journal.close()
    assert again == first and first.state == "sent"


async def test_a_rule_failure_is_an_outcome_a_transient_one_is_raised(emu: RunningEmulator) -> None:
    async with Client(**emu.client_kwargs(), retry=NO_RETRY) as wx:
        stock_id = await create_running_stock(wx, max_coupons=1)
        assert (await send_row(wx, {"openid": "a"}, batch_id="tq3", stock_id=stock_id, appid=APPID)).state == "sent"
        spent = await send_row(wx, {"openid": "b"}, batch_id="tq3", stock_id=stock_id, appid=APPID)
        assert spent.state == "failed" and spent.code == "NOT_ENOUGH" and not spent.retryable
        emu.set_fault_rates({"kind": "system_error", "probability": 1.0, "path_prefix": "/v3/marketing/favor/users/"})
        with pytest.raises(APIStatusError) as caught:
            await send_row(wx, {"openid": "c"}, batch_id="tq3", stock_id=stock_id, appid=APPID)
        emu.clear_faults()
    assert caught.value.status >= 500


@pytest.mark.parametrize("name", ["arq_worker", "celery_worker"])
async def test_task_queue_recipe_runs_a_real_worker(name: str) -> None:
    pytest.importorskip(name.split("_")[0], reason=f"examples/{name}.py needs it (scripts/bootstrap.sh installs it)")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (CI installs Debian's redis-server)")
    module = _load(name)
    assert await asyncio.wait_for(module.main(use_emulator=True), 120) == 0
