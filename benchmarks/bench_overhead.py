"""Client CPU per signed+verified call, next to the pure crypto cost, as a ratio.

The server runs in another process on 127.0.0.1, so the client's process CPU time is the
client's alone. Target: ≤ 1.5× the crypto floor (rsa_sign + rsa_verify of the same sizes).

    python benchmarks/bench_overhead.py [--calls 2000] [--concurrency 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import BenchKeys, crypto_floor_us, machine_line, markdown_table, signing_server

from wxpay_async import Client

BODY = {
    "stock_id": "9856000",
    "out_request_no": "89560002019101000121",
    "appid": "wx233544546545989",
    "stock_creator_mchid": "1900000001",
}


async def measure(
    base_url: str, keys: BenchKeys, kind: str, calls: int, concurrency: int, max_seconds: float
) -> dict[str, Any]:
    async with Client(**keys.client_kwargs(base_url)) as wx:

        async def one(i: int) -> None:
            if kind == "send_coupon":
                await wx.request(
                    "POST", "/v3/marketing/favor/users/{openid}/coupons", path_params={"openid": f"o{i}"}, json=BODY
                )
            else:
                await wx.request(
                    "GET",
                    "/v3/marketing/favor/stocks/{stock_id}",
                    path_params={"stock_id": "9856000"},
                    query={"stock_creator_mchid": "1900000001"},
                )

        for i in range(50):  # warm the pool
            await one(i)
        done = 0
        sem = asyncio.Semaphore(concurrency)
        deadline = time.monotonic() + max_seconds

        async def worker(i: int) -> None:
            nonlocal done
            async with sem:
                if time.monotonic() > deadline:
                    return
                await one(i)
                done += 1

        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(calls)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"operation": kind, "calls": done, "calls/s": done / wall, "client CPU µs/call": cpu / done * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    keys = BenchKeys()
    floor = crypto_floor_us(keys, json.dumps(BODY).encode())
    rows = []
    with signing_server(keys) as base_url:
        for kind in ("send_coupon", "get_stock"):
            row = asyncio.run(measure(base_url, keys, kind, args.calls, args.concurrency, args.max_seconds))
            row["crypto floor µs"] = floor
            row["ratio to floor"] = row["client CPU µs/call"] / floor
            rows.append(row)
    print(f"\n{machine_line()}; concurrency {args.concurrency}\n")
    print(
        markdown_table(
            rows, ["operation", "calls", "calls/s", "client CPU µs/call", "crypto floor µs", "ratio to floor"]
        )
    )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_line(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
