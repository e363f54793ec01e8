"""Batch sends at scale against the emulator in another process (its rate limit off).

    python benchmarks/bench_batch.py [--rows 100000] [--qps 5000] [--concurrency 64] [--json out.json]

Reports rows/s, the client's peak RSS after 10k rows and at the end (target: < 150 MB and
within 10 % of each other: memory must not grow with the batch), and, in a second run
throttled to 500/s, the share of wall time the rate limiter held sends back.
The emulator runs in benchmark mode (it reuses signatures and skips request RSA checks) so that
the client is what gets measured; every loop is bounded by a row count and a time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import free_port, machine_line, markdown_table, rss_mb, wait_port

from wxpay_async import Client
from wxpay_async.batch import BatchSender, SqliteJournal
from wxpay_async.emulator import create_running_stock, load_keys_dir, write_keys_dir

SERVER = """
import asyncio, sys
from wxpay_async.emulator import serve
asyncio.run(serve("127.0.0.1", int(sys.argv[1]), sys.argv[2], benchmark=True, verify_signatures=False,
                  send_rate=0, db_path=None))
"""


async def rows(n: int) -> AsyncIterator[dict[str, str]]:
    for i in range(n):
        yield {"openid": f"bench-user-{i:08d}"}


async def run_batch(
    client_kwargs: dict[str, Any], n: int, qps: float, concurrency: int, journal: Path, max_seconds: float
) -> dict[str, Any]:
    async with Client(**client_kwargs, sign_in_thread=True) as wx:
        stock_id = await create_running_stock(wx, max_coupons=n + 10)
        sender = BatchSender(
            wx,
            batch_id=f"bench-{n}-{qps}",
            journal=SqliteJournal(journal),
            stock_id=stock_id,
            appid="wx233544546545989",
            qps=qps,
            concurrency=concurrency,
        )
        peak = {"10k": 0.0, "end": 0.0}

        async def sample() -> None:
            while True:
                current = rss_mb()
                key = "10k" if sender.summary.rows_read <= 10_000 else "end"
                peak[key] = max(peak[key], current)
                await asyncio.sleep(0.05)

        async def stop_after() -> None:
            await asyncio.sleep(max_seconds)
            sender.stop("time limit")

        sampler = asyncio.create_task(sample())
        limit = asyncio.create_task(stop_after())
        t0 = time.perf_counter()
        summary = await sender.run(rows(n))
        elapsed = time.perf_counter() - t0
        sampler.cancel()
        limit.cancel()
        await sender.aclose()
    return {
        "rows": n,
        "qps limit": qps,
        "sent": summary.sent,
        "failed": summary.failed,
        "rows/s": summary.sent / elapsed,
        "elapsed s": elapsed,
        "peak RSS MB @10k": peak["10k"],
        "peak RSS MB @end": max(peak["end"], peak["10k"]),
        "limiter share": summary.limiter_wait / elapsed,
        "stopped": summary.stopped_early or "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--qps", type=float, default=5000.0, help="client-side limit for the throughput run")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--limiter-rows", type=int, default=5000, help="rows for the 500/s limiter run")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keys_dir = Path(tmp) / "keys"
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        write_keys_dir(keys_dir, base_url)
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(keys_dir)], stdout=subprocess.DEVNULL)
        try:
            wait_port(port, server)
            kwargs = load_keys_dir(keys_dir).client_kwargs(base_url)
            results = [
                asyncio.run(
                    run_batch(kwargs, args.rows, args.qps, args.concurrency, Path(tmp) / "a.db", args.max_seconds)
                ),
                asyncio.run(
                    run_batch(kwargs, args.limiter_rows, 500.0, args.concurrency, Path(tmp) / "b.db", args.max_seconds)
                ),
            ]
        finally:
            server.terminate()
            server.wait(timeout=10)
    columns = [
        "rows",
        "qps limit",
        "sent",
        "failed",
        "rows/s",
        "elapsed s",
        "peak RSS MB @10k",
        "peak RSS MB @end",
        "limiter share",
        "stopped",
    ]
    print(f"\n{machine_line()}\n")
    print(markdown_table(results, columns))
    first = results[0]
    growth = first["peak RSS MB @end"] / first["peak RSS MB @10k"] - 1
    print(f"\nRSS growth from 10k rows to {first['rows']} rows: {growth:+.1%} (target within 10 %, under 150 MB)")
    if args.json:
        args.json.write_text(
            json.dumps({"machine": machine_line(), "results": results, "rss_growth": growth}, indent=2)
        )


if __name__ == "__main__":
    main()
