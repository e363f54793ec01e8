"""A resumable batch worker: send one cash coupon per row of a CSV, safely restartable.

    python examples/batch_worker.py --emulator                     # self-contained demo against the emulator
    python examples/batch_worker.py rows.csv STOCK_ID BATCH_ID     # for real (WXPAY_* variables)

Every row's request number is derived from the batch id and the row key and written to a SQLite
journal before it is sent, so a second run with the same journal (after a crash, Ctrl-C, a
deploy) sends only what is left, and never issues a coupon twice.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from wxpay_async import Client
from wxpay_async.batch import BatchSummary, send_batch

APPID = "wx233544546545989"


async def run_batch(
    wx: Client, rows: Path, stock_id: str, batch_id: str, journal: Path, *, resume: bool = False
) -> BatchSummary:
    summary = await send_batch(
        wx,
        rows,
        batch_id=batch_id,
        journal=journal,
        resume=resume,  # continuing a journal that records this batch must be asked for
        result_csv=journal.with_suffix(".results.csv"),
        stock_id=stock_id,
        appid=APPID,
        stock_creator_mchid=wx.mchid,
        qps=200.0,
        concurrency=16,
    )
    print(
        f"{batch_id}: sent {summary.sent}, already done {summary.already_done}, failed {summary.failed}, "
        f"left {summary.not_sent}"
    )
    return summary


async def main(*, use_emulator: bool = False, argv: list[str] | None = None) -> int:
    if not use_emulator:
        csv_path, stock_id, batch_id = (argv or sys.argv[1:])[:3]
        async with Client.from_env() as wx:
            journal = Path(f"{batch_id}.journal.db")
            # This worker is meant to be restarted: it continues its own journal when one exists.
            resume = await asyncio.to_thread(journal.exists)
            summary = await run_batch(wx, Path(csv_path), stock_id, batch_id, journal, resume=resume)
        return 0 if summary.failed == 0 else 1

    from wxpay_async.emulator import create_running_stock, run_emulator

    with tempfile.TemporaryDirectory() as tmp:
        rows = Path(tmp) / "rows.csv"
        rows.write_text("openid\n" + "".join(f"user-{i:03d}\n" for i in range(30)), encoding="utf-8")
        journal = Path(tmp) / "batch.journal.db"
        async with run_emulator() as emu, Client(**emu.client_kwargs()) as wx:
            stock_id = await create_running_stock(wx, max_coupons=100)
            first = await run_batch(wx, rows, stock_id, "example-batch", journal)
            again = await run_batch(wx, rows, stock_id, "example-batch", journal, resume=True)  # nothing re-sent
            issued = [c for c in emu.ledger()["coupons"] if c["kind"] == "cash"]
    ok = first.sent == 30 and again.sent == 0 and again.already_done == 30 and len(issued) == 30
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(use_emulator="--emulator" in sys.argv)))
