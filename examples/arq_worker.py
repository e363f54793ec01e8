"""Send coupons exactly once from arq workers (asyncio jobs in Redis).

    arq examples.arq_worker.WorkerSettings      # a worker (WXPAY_* credentials, WXPAY_REDIS_URL)
    python examples/arq_worker.py --emulator    # self-contained: emulator, redis-server, a real arq worker

One job per row: ``send_coupon(batch_id, row, stock_id)``. arq runs a job at least once (a worker
killed mid-job, a retry), so the job calls :func:`wxpay_async.batch.send_row`, which sends with the
request number derived from (batch id, row key): every run of a job for one row gets the one
original coupon. A Redis journal (optional) answers rows already sent without a call. A transient
error (connection, 429, 5xx) is raised and arq retries the job: same request number, still once.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from typing import Any, ClassVar

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Retry, Worker

from wxpay_async import Client
from wxpay_async.batch import RedisJournal, send_row
from wxpay_async.errors import APIConnectionError, APIStatusError

APPID = "wx233544546545989"
#: Client settings for the demo's worker (the emulator's); a real worker reads WXPAY_* variables.
CLIENT_KWARGS: dict[str, Any] = {}


async def startup(ctx: dict[str, Any]) -> None:
    wx = Client(**CLIENT_KWARGS) if CLIENT_KWARGS else Client.from_env()
    ctx["wx"] = await wx.__aenter__()
    ctx["journals"] = {}


async def shutdown(ctx: dict[str, Any]) -> None:
    for journal in ctx["journals"].values():
        await journal.close()
    await ctx["wx"].aclose()


async def send_coupon(ctx: dict[str, Any], batch_id: str, row: dict[str, str], stock_id: str) -> dict[str, Any]:
    journals: dict[str, RedisJournal] = ctx["journals"]
    if batch_id not in journals:
        journal = RedisJournal(client=ctx["redis"])  # arq's own connection; never closed by the journal
        await journal.open(batch_id)
        journals[batch_id] = journal
    try:
        outcome = await send_row(
            ctx["wx"], row, batch_id=batch_id, stock_id=stock_id, appid=APPID, journal=journals[batch_id]
        )
    except (APIConnectionError, APIStatusError) as exc:  # transient: arq runs the job again, same number
        raise Retry(defer=ctx["job_try"] * 2) from exc
    return {"state": outcome.state, "coupon_id": outcome.coupon_id, "code": outcome.code}


def redis_settings() -> RedisSettings:
    return RedisSettings.from_dsn(os.environ.get("WXPAY_REDIS_URL", "redis://127.0.0.1:6379/0"))


class WorkerSettings:
    functions: ClassVar[list[Any]] = [send_coupon]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    max_tries = 5


async def main(*, use_emulator: bool = False) -> int:
    if not use_emulator:
        print(__doc__)
        return 2
    from wxpay_async.emulator import create_running_stock, run_emulator
    from wxpay_async.testing.redis_server import throwaway_redis

    with throwaway_redis() as url:
        async with run_emulator(send_rate=0) as emu:
            async with Client(**emu.client_kwargs()) as wx:
                stock_id = await create_running_stock(wx, max_coupons=100)
            settings = RedisSettings.from_dsn(url)
            pool = await create_pool(settings)
            rows = [{"openid": f"arq-user-{i:03d}"} for i in range(20)]
            jobs = [await pool.enqueue_job("send_coupon", "arq-demo", row, stock_id) for row in rows]
            # At-least-once delivery, played: five rows enqueued a second time (a retry, a redelivery).
            jobs += [await pool.enqueue_job("send_coupon", "arq-demo", row, stock_id) for row in rows[:5]]
            CLIENT_KWARGS.update(emu.client_kwargs())
            worker = Worker(
                functions=[send_coupon],
                on_startup=startup,
                on_shutdown=shutdown,
                redis_settings=settings,
                burst=True,
                max_jobs=8,
                handle_signals=False,
                poll_delay=0.05,
            )
            try:
                await worker.main()
            finally:
                await worker.close()
                CLIENT_KWARGS.clear()
            results = [await job.result(timeout=30) for job in jobs if job is not None]
            await pool.aclose()
            coupons = [c for c in emu.ledger()["coupons"] if c["stock_id"] == stock_id]
    per_user = Counter(c["openid"] for c in coupons)
    ok = (
        len(results) == 25
        and all(r["state"] == "sent" for r in results)
        and sorted(per_user) == sorted(r["openid"] for r in rows)
        and set(per_user.values()) == {1}
    )
    print(f"arq: {len(results)} jobs for {len(rows)} rows -> {len(coupons)} coupons, each user once: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(use_emulator="--emulator" in sys.argv)))
