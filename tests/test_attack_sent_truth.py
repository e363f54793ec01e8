"""``sent`` truth for the batch callers: a row whose call reached the wire is never recorded "not sent".

The emulator issues the coupon and drops the answer (``drop_after``); then the server is gone
(a forwarder in front of it closes its port), so every later attempt cannot connect. send_row must
raise the outcome-unknown error (the task queue retries it); the batch sender (and the fleet, which
sends rows through the same code) must record the row as retryable with an outcome-unknown code,
never as ``NotSentError``; sending the row again answers with the one coupon already issued.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from wxpay_async import Client, Request, Response
from wxpay_async.batch import BatchSender, SqliteJournal, send_row
from wxpay_async.emulator import RunningEmulator, create_running_stock, run_emulator
from wxpay_async.errors import NotSentError, OutcomeUnknownError

from .test_batch_emulator import APPID
from .test_call_outcome import TWO_TRIES, Forwarder


def _vanishing(
    forwarder: Forwarder,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    seen: list[Request] = []

    async def vanish(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if seen:  # every attempt after the first (retries and re-sends): the server is gone
            await forwarder.disappear()
        seen.append(request)
        return await call_next(request)

    return vanish


async def _setup(running: RunningEmulator) -> tuple[str, Forwarder, dict[str, Any]]:
    async with Client(**running.client_kwargs()) as setup:
        stock = await create_running_stock(setup, max_coupons=10)
    forwarder = Forwarder(running.port)
    await forwarder.listen()
    kwargs = {
        **running.client_kwargs(),
        "base_url": f"http://127.0.0.1:{forwarder.port}",
        "retry": TWO_TRIES,
        "middleware": [_vanishing(forwarder)],
    }
    running.push_faults({"kind": "drop_after", "method": "POST", "path_prefix": "/v3/marketing/favor/users/"})
    return stock, forwarder, kwargs


async def test_send_row_raises_outcome_unknown_and_records_nothing_final(tmp_path: Path) -> None:
    async with run_emulator(send_rate=0) as running:
        stock, forwarder, kwargs = await _setup(running)
        journal = SqliteJournal(tmp_path / "j.db")
        await journal.open("truth")
        try:
            async with Client(**kwargs) as wx:
                with pytest.raises(OutcomeUnknownError) as caught:
                    await send_row(
                        wx, {"openid": "o-1"}, batch_id="truth", stock_id=stock, appid=APPID, journal=journal
                    )
            assert not isinstance(caught.value, NotSentError) and caught.value.sent is not False
            known = await journal.lookup([f"{stock}:o-1"])
            assert not known or known[f"{stock}:o-1"].retryable  # never a final "failed"
            async with Client(**running.client_kwargs()) as wx:  # the task queue's retry
                again = await send_row(
                    wx, {"openid": "o-1"}, batch_id="truth", stock_id=stock, appid=APPID, journal=journal
                )
        finally:
            await journal.close()
            await forwarder.disappear()
        coupons = [c for c in running.ledger()["coupons"] if c["stock_id"] == stock]
    assert again.state == "sent" and [c["coupon_id"] for c in coupons] == [again.coupon_id]
    assert again.request_no == caught.value.idempotency_key


async def test_batch_sender_records_a_row_that_reached_the_wire_as_outcome_unknown(tmp_path: Path) -> None:
    async with run_emulator(send_rate=0) as running:
        stock, forwarder, kwargs = await _setup(running)
        try:
            async with Client(**kwargs) as wx:
                sender = BatchSender(
                    wx,
                    batch_id="truth-batch",
                    journal=SqliteJournal(tmp_path / "b.db"),
                    stock_id=stock,
                    appid=APPID,
                    concurrency=1,
                    progress=None,
                )
                try:
                    summary = await sender.run([{"openid": "o-2"}])
                    outcomes = [o async for o in sender.journal.outcomes()]
                    await sender.write_results(tmp_path / "result.csv")
                finally:
                    await sender.aclose()
        finally:
            await forwarder.disappear()
        issued = [r for r in running.ledger()["requests"] if r["issued"]]
    assert summary.failed == 1 and len(issued) == 1  # the coupon exists
    [row] = outcomes
    assert row.state == "failed" and row.retryable
    # Re-sends of the row could not connect, but its first call reached the wire: not "NotSentError".
    assert row.code == "OutcomeUnknownError", (row.code, row.message)
    assert "may have" in row.message
    result = (tmp_path / "result.csv").read_text()
    assert "NotSentError" not in result and "OutcomeUnknownError" in result
