"""Send coupons exactly once from Celery workers (Redis broker; sync workers, async client).

    celery -A celery_worker worker --pool prefork -c 4     # in examples/ (WXPAY_* credentials, WXPAY_REDIS_URL)
    python examples/celery_worker.py --emulator            # self-contained: emulator, redis-server, a real worker

Celery tasks are synchronous; the SDK is asyncio. Each worker process keeps ONE event loop and ONE
``Client`` on it, made on first use in that process (a prefork child builds its own after the
fork) and reused by every task: ``loop.run_until_complete(send_row(...))``. Never
``asyncio.run()`` per task: that would build a new loop, a new connection pool and a new client
each time.

Celery delivers a task at least once (``acks_late``: a worker killed mid-task has its task run
again), so the task calls :func:`wxpay_async.batch.send_row`, which sends with the request number
derived from (batch id, row key): every run for one row gets the one original coupon. Transient
errors are retried by Celery (``autoretry_for``) with that same number.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from celery import Celery  # type: ignore[import-untyped]

from wxpay_async import Client
from wxpay_async.batch import send_row
from wxpay_async.errors import APIConnectionError, APIStatusError

APPID = "wx233544546545989"
REDIS_URL = os.environ.get("WXPAY_REDIS_URL", "redis://127.0.0.1:6379/0")

#: Celery ships no type information: the app is Any to type checkers (mypy and pyright alike).
app: Any = Celery("wxpay_coupons", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=4)

HERE = Path(__file__).resolve().parent
WORKER_ARGV = [
    *[sys.executable, "-m", "celery", "--quiet", "-A", "celery_worker", "worker", "--pool", "prefork"],
    *["-c", "2", "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
]

_process: dict[str, Any] = {}  # this worker process's loop and client (made after any fork)


def _runtime() -> tuple[asyncio.AbstractEventLoop, Client]:
    if _process.get("pid") != os.getpid():
        loop = asyncio.new_event_loop()
        keys_dir = os.environ.get("WXPAY_DEMO_KEYS_DIR")
        if keys_dir:  # the demo: the emulator's keys; a real worker reads WXPAY_* variables
            from wxpay_async.emulator import load_keys_dir

            meta = json.loads((Path(keys_dir) / "merchant.json").read_text())
            client = Client(**load_keys_dir(keys_dir).client_kwargs(meta["base_url"]))
        else:
            client = Client.from_env()
        loop.run_until_complete(client.__aenter__())
        _process.update(pid=os.getpid(), loop=loop, client=client)
    return _process["loop"], _process["client"]


@app.task(  # type: ignore[untyped-decorator,misc,unused-ignore]
    autoretry_for=(APIConnectionError, APIStatusError), retry_backoff=True, max_retries=5, name="send_coupon"
)
def send_coupon(batch_id: str, row: dict[str, str], stock_id: str) -> dict[str, Any]:
    """One row, exactly once by its request number, however often Celery delivers the task."""
    loop, client = _runtime()
    outcome = loop.run_until_complete(send_row(client, row, batch_id=batch_id, stock_id=stock_id, appid=APPID))
    return {"state": outcome.state, "coupon_id": outcome.coupon_id, "code": outcome.code, "pid": os.getpid()}


async def main(*, use_emulator: bool = False) -> int:
    if not use_emulator:
        print(__doc__)
        return 2
    from wxpay_async.emulator import create_running_stock, run_emulator, write_keys_dir
    from wxpay_async.testing.redis_server import throwaway_redis

    with throwaway_redis() as url, tempfile.TemporaryDirectory() as tmp:
        async with run_emulator(send_rate=0) as emu:
            async with Client(**emu.client_kwargs()) as wx:
                stock_id = await create_running_stock(wx, max_coupons=100)
            write_keys_dir(Path(tmp) / "keys", emu.base_url, keys=emu.keys)
            env = {**os.environ, "WXPAY_REDIS_URL": url, "WXPAY_DEMO_KEYS_DIR": str(Path(tmp) / "keys")}
            worker = subprocess.Popen(WORKER_ARGV, cwd=HERE, env=env)  # noqa: ASYNC220 (a demo's one start)
            app.conf.update(broker_url=url, result_backend=url)
            rows = [{"openid": f"celery-user-{i:03d}"} for i in range(20)]
            try:
                # At-least-once delivery, played: five rows sent as a task a second time.
                celery_task: Any = send_coupon  # a Celery task object (untyped)
                sent = [celery_task.apply_async(("celery-demo", row, stock_id)) for row in [*rows, *rows[:5]]]
                deadline = time.monotonic() + 60
                results: list[dict[str, Any]] = []
                for task in sent:
                    while not task.ready():
                        if time.monotonic() > deadline or worker.poll() is not None:
                            raise RuntimeError("the Celery worker did not run the tasks")
                        await asyncio.sleep(0.05)
                    results.append(task.get(timeout=1))
                sent.clear()  # AsyncResult.__del__ talks to Redis: drop them while it still runs
                gc.collect()
            finally:
                worker.terminate()
                worker.wait(timeout=30)
            coupons = [c for c in emu.ledger()["coupons"] if c["stock_id"] == stock_id]
    per_user = Counter(c["openid"] for c in coupons)
    ok = (
        len(results) == 25
        and all(r["state"] == "sent" for r in results)
        and sorted(per_user) == sorted(r["openid"] for r in rows)
        and set(per_user.values()) == {1}
    )
    pids = len({r["pid"] for r in results})
    print(f"celery: {len(results)} tasks in {pids} worker process(es) -> {len(coupons)} coupons, each once: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(use_emulator="--emulator" in sys.argv)))
