"""One command: wxpay_async vs the community wechatpayv3 vs the crypto floor, side by side.

    python benchmarks/run.py [--quick] [--calls N] [--max-seconds S] [--concurrency 1,16,64,256]

A benchmark-only signing server runs in another process on 127.0.0.1 (see _signing_server.py),
so the client's process CPU time is the client's alone. Every configuration runs in this one
process and this one run, so ratios are comparable even on a noisy shared machine.
Writes benchmarks/results/latest.{md,json,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    RESULTS,
    BenchKeys,
    crypto_floor_us,
    machine_line,
    markdown_table,
    rss_mb,
    signing_server,
)

from wxpay_async import Client
from wxpay_async.transports import AiohttpTransport

SEND_BODY = {
    "stock_id": "9856000",
    "out_request_no": "89560002019101000121",
    "appid": "wx233544546545989",
    "stock_creator_mchid": "1900000001",
}
STOCK_QUERY = {"stock_creator_mchid": "1900000001"}
Call = Callable[[int], Awaitable[None]]


async def drive(call: Call, calls: int, concurrency: int, max_seconds: float) -> dict[str, float]:
    """Run ``calls`` calls with ``concurrency`` workers (bounded by time too); CPU and latencies."""
    for i in range(min(20, calls)):  # warm-up: connections, caches
        await call(i)
    latencies: list[float] = []
    next_index = 0
    deadline = time.monotonic() + max_seconds

    async def worker() -> None:
        nonlocal next_index
        while next_index < calls and time.monotonic() < deadline:
            i = next_index
            next_index += 1
            t0 = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - t0)

    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    latencies.sort()
    n = len(latencies)
    return {
        "calls": n,
        "calls/s": n / wall,
        "p50 ms": latencies[n // 2] * 1000,
        "p99 ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
        "CPU µs/call": cpu / n * 1e6,
    }


# -- clients -------------------------------------------------------------------------------------
async def run_wxpay(
    base_url: str, keys: BenchKeys, op: str, calls: int, conc: int, max_s: float, *, transport: str, threads: bool
) -> dict[str, float]:
    kwargs = keys.client_kwargs(base_url)
    if transport == "httpx":
        from wxpay_async.transports import HttpxTransport

        kwargs["transport"] = HttpxTransport(limit=max(conc, 16))
    else:
        kwargs["transport"] = AiohttpTransport(limit=max(conc, 16))
    async with Client(**kwargs, sign_in_thread=threads) as wx:

        async def call(i: int) -> None:
            if op == "send_coupon":
                await wx.request(
                    "POST",
                    "/v3/marketing/favor/users/{openid}/coupons",
                    path_params={"openid": f"o{i}"},
                    json=SEND_BODY,
                )
            else:
                await wx.request(
                    "GET",
                    "/v3/marketing/favor/stocks/{stock_id}",
                    path_params={"stock_id": "9856000"},
                    query=STOCK_QUERY,
                )

        return await drive(call, calls, conc, max_s)


def _wechatpayv3_kwargs(keys: BenchKeys) -> dict[str, Any]:
    from wechatpayv3 import WeChatPayType

    return {
        "wechatpay_type": WeChatPayType.NATIVE,
        "mchid": keys.mchid,
        "private_key": keys.merchant.private_pem().decode(),
        "cert_serial_no": keys.merchant.serial,
        "appid": "wx233544546545989",
        "apiv3_key": keys.apiv3_key,
        "public_key": keys.platform.public_pem().decode(),
        "public_key_id": keys.public_key_id,
    }


async def run_wechatpayv3_async(
    base_url: str, keys: BenchKeys, op: str, calls: int, conc: int, max_s: float
) -> dict[str, float]:
    from wechatpayv3.async_ import AsyncWeChatPay
    from wechatpayv3.async_.type import RequestType

    wp = AsyncWeChatPay(**_wechatpayv3_kwargs(keys))
    async with wp:
        wp._core._gate_way = base_url
        import httpx

        await wp._core._client.aclose()
        wp._core._client = httpx.AsyncClient(
            timeout=30, limits=httpx.Limits(max_connections=max(conc, 16), max_keepalive_connections=max(conc, 16))
        )

        async def call(i: int) -> None:
            if op == "send_coupon":
                code, _ = await wp._core.request(
                    f"/v3/marketing/favor/users/o{i}/coupons", method=RequestType.POST, data=SEND_BODY
                )
            else:
                code, _ = await wp._core.request("/v3/marketing/favor/stocks/9856000?stock_creator_mchid=1900000001")
            assert code == 200

        return await drive(call, calls, conc, max_s)


async def run_wechatpayv3_sync(
    base_url: str, keys: BenchKeys, op: str, calls: int, conc: int, max_s: float
) -> dict[str, float]:
    from wechatpayv3 import WeChatPay
    from wechatpayv3.type import RequestType

    wp = WeChatPay(**_wechatpayv3_kwargs(keys))
    wp._core._gate_way = base_url
    # wechatpayv3 calls requests.get/post (a new connection per call): that is its real behaviour.
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=conc) as pool:

        def blocking(i: int) -> None:
            if op == "send_coupon":
                code, _ = wp._core.request(
                    f"/v3/marketing/favor/users/o{i}/coupons", method=RequestType.POST, data=SEND_BODY
                )
            else:
                code, _ = wp._core.request("/v3/marketing/favor/stocks/9856000?stock_creator_mchid=1900000001")
            assert code == 200

        async def call(i: int) -> None:
            await loop.run_in_executor(pool, blocking, i)

        return await drive(call, calls, conc, max_s)


def in_loop(factory: Callable[[], Awaitable[dict[str, float]]], *, uvloop: bool = False) -> dict[str, float]:
    if uvloop:
        import uvloop as uv

        with asyncio.Runner(loop_factory=uv.new_event_loop) as runner:
            return runner.run(factory())
    return asyncio.run(factory())


# -- extra measurements --------------------------------------------------------------------------
async def memory_per_1000_inflight(base_url: str, keys: BenchKeys) -> float:
    """RSS growth while 1,000 calls wait on a slow server (MB per 1,000 in-flight calls)."""
    async with Client(**keys.client_kwargs(base_url), transport=AiohttpTransport(limit=1000)) as wx:
        await wx.request("GET", "/v3/marketing/favor/stocks/1")
        gc.collect()
        before = rss_mb()
        peak = before

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss_mb())
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        await asyncio.gather(
            *(wx.request("GET", "/v3/marketing/favor/stocks/1", query={"delay_ms": 1500}) for _ in range(1000))
        )
        sampler.cancel()
        return peak - before


async def startup_ms(base_url: str, keys: BenchKeys, mode: str) -> float:
    """``async with Client(...)`` to the first answered call, median of 5."""
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        async with Client(**keys.client_kwargs(base_url, mode=mode)) as wx:
            await wx.request("GET", "/v3/marketing/favor/stocks/1")
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer calls and concurrency levels (smoke run)")
    parser.add_argument("--calls", type=int, default=1500, help="calls per configuration (default 1500)")
    parser.add_argument("--max-seconds", type=float, default=8.0, help="time bound per configuration")
    parser.add_argument("--concurrency", default="1,16,64,256")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    if args.quick:
        args.calls, args.max_seconds, levels = 200, 3.0, [1, 16]
        if args.out == RESULTS:
            args.out = RESULTS / "quick"  # smoke runs never replace the published results
    try:
        import uvloop  # noqa: F401

        have_uvloop = True
    except ImportError:
        have_uvloop = False

    keys = BenchKeys()
    floor = crypto_floor_us(keys, json.dumps(SEND_BODY).encode())
    rows: list[dict[str, Any]] = []
    extras: dict[str, float] = {}
    with signing_server(keys) as base_url:
        clients: list[tuple[str, Callable[[str, int], dict[str, float]]]] = [
            (
                "wxpay_async aiohttp",
                lambda op, c: in_loop(
                    lambda: run_wxpay(
                        base_url, keys, op, calls(c), c, args.max_seconds, transport="aiohttp", threads=False
                    )
                ),
            ),
            (
                "wxpay_async aiohttp+threads",
                lambda op, c: in_loop(
                    lambda: run_wxpay(
                        base_url, keys, op, calls(c), c, args.max_seconds, transport="aiohttp", threads=True
                    )
                ),
            ),
            (
                "wxpay_async httpx",
                lambda op, c: in_loop(
                    lambda: run_wxpay(
                        base_url, keys, op, calls(c), c, args.max_seconds, transport="httpx", threads=False
                    )
                ),
            ),
            (
                "wechatpayv3 async",
                lambda op, c: in_loop(lambda: run_wechatpayv3_async(base_url, keys, op, calls(c), c, args.max_seconds)),
            ),
            (
                "wechatpayv3 sync+threads",
                lambda op, c: in_loop(lambda: run_wechatpayv3_sync(base_url, keys, op, calls(c), c, args.max_seconds)),
            ),
        ]
        if have_uvloop:
            clients.insert(
                2,
                (
                    "wxpay_async aiohttp+threads uvloop",
                    lambda op, c: in_loop(
                        lambda: run_wxpay(
                            base_url, keys, op, calls(c), c, args.max_seconds, transport="aiohttp", threads=True
                        ),
                        uvloop=True,
                    ),
                ),
            )

        def calls(concurrency: int) -> int:
            return min(args.calls, max(200, args.calls // 4)) if concurrency == 1 else args.calls

        for op in ("send_coupon", "get_stock"):
            for conc in levels:
                for name, run in clients:
                    result = run(op, conc)
                    row = {"client": name, "operation": op, "concurrency": conc, **result}
                    row["× floor"] = row["CPU µs/call"] / floor
                    rows.append(row)
                    print(
                        f"{op:12} c={conc:<4} {name:36} {row['calls/s']:8.0f}/s  {row['CPU µs/call']:7.0f} µs/call  {row['× floor']:.2f}× floor",
                        flush=True,
                    )
        extras["memory MB per 1000 in-flight"] = asyncio.run(memory_per_1000_inflight(base_url, keys))
        extras["start-up ms (public-key mode)"] = asyncio.run(startup_ms(base_url, keys, "public_key"))
        extras["start-up ms (certificate mode)"] = asyncio.run(startup_ms(base_url, keys, "certificates"))

    # ratios against wechatpayv3 measured in this same run
    for row in rows:
        for ref in ("wechatpayv3 async", "wechatpayv3 sync+threads"):
            match = next(
                (
                    r
                    for r in rows
                    if r["client"] == ref
                    and r["operation"] == row["operation"]
                    and r["concurrency"] == row["concurrency"]
                ),
                None,
            )
            if match:
                key = "× v3 async" if ref.endswith("async") else "× v3 sync"
                row[key] = row["calls/s"] / match["calls/s"]

    args.out.mkdir(parents=True, exist_ok=True)
    header = f"{machine_line()}; crypto floor (rsa_sign + rsa_verify) {floor:,.0f} µs/call"
    columns = [
        "operation",
        "concurrency",
        "client",
        "calls/s",
        "p50 ms",
        "p99 ms",
        "CPU µs/call",
        "× floor",
        "× v3 async",
        "× v3 sync",
    ]
    table = markdown_table(rows, columns)
    extra_table = markdown_table([{"measure": k, "value": v} for k, v in extras.items()], ["measure", "value"])
    md = f"{header}\n\n{table}\n\n{extra_table}\n"
    (args.out / "latest.md").write_text(md)
    (args.out / "latest.json").write_text(
        json.dumps(
            {"machine": machine_line(), "crypto_floor_us": floor, "rows": rows, "extras": extras},
            indent=2,
            ensure_ascii=False,
        )
    )
    plot(rows, args.out / "latest.png", header)
    print("\n" + md)


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, op in zip(axes, ("send_coupon", "get_stock"), strict=True):
        for name in dict.fromkeys(r["client"] for r in rows):
            points = [(r["concurrency"], r["calls/s"]) for r in rows if r["client"] == name and r["operation"] == op]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrency")
        ax.set_ylabel("calls/s")
        ax.set_title(op)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
