"""One command: wxpay_async vs the floors under it and vs the community wechatpayv3, side by side.

    python benchmarks/run.py [--quick] [--before REV] [--calls N] [--max-seconds S]
                             [--concurrency 1,16,64,256] [--rounds 3] [--only NAMES] [--ops ...]

A benchmark-only signing server runs in another process on 127.0.0.1 (see _signing_server.py),
so the client's process CPU time is the client's alone. Every configuration runs in this one
run, so ratios are comparable even on a noisy shared machine; at c=64 the clients run in
interleaved rounds (order rotated each round) and medians are reported.

Reported: the crypto floor; a minimal signed aiohttp loop and a plain httpx loop (the same
exchange with nothing else); our typed and request() calls on both transports (signing threads,
uvloop); wechatpayv3 async and sync; p50/p99 at c=1,024 with the default pool; 1 vs 2 processes
next to signing threads; memory per 1,000 in-flight calls and per idle client; start-up in a
fresh interpreter (import + construct + first call); a cProfile summary; with --before REV, the
typed/request() calls of that revision next to this tree's. --quick: a ~1 minute smoke run.
`--only threads --quick --rounds 3`: just the signing-thread clients (batched and unbatched
hand-off side by side, interleaved) and the minimal aiohttp loop.
Writes benchmarks/results/latest.{md,json,png} (--quick: results/quick/).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    HERE,
    RESULTS,
    BenchKeys,
    crypto_floor_us,
    machine_line,
    markdown_table,
    rss_mb,
    sdk_tree_at,
    signing_server,
)

from wxpay_async import Client
from wxpay_async.crypto import authorization_header, request_message, response_message, rsa_sign, rsa_verify
from wxpay_async.transports import AiohttpTransport

SEND_BODY = {
    "stock_id": "9856000",
    "out_request_no": "89560002019101000121",
    "appid": "wx233544546545989",
    "stock_creator_mchid": "1900000001",
}
STOCK_QUERY = {"stock_creator_mchid": "1900000001"}
Call = Callable[[int], Awaitable[None]]
Runner = Callable[[str, int, int], dict[str, float]]
MINIMAL = "minimal signed aiohttp loop"
PLAIN_HTTPX = "plain httpx loop"


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
def _send_body(i: int) -> dict[str, str]:
    return {**SEND_BODY, "out_request_no": f"bench{i:012d}"}


def _exchange(op: str, i: int) -> tuple[str, str, bytes]:
    """Method, target and body of call ``i`` of ``op`` in the hand-written loops."""
    if op == "send_coupon":
        return (
            "POST",
            f"/v3/marketing/favor/users/o{i}/coupons",
            json.dumps(_send_body(i), separators=(",", ":")).encode(),
        )
    return "GET", "/v3/marketing/favor/stocks/9856000?stock_creator_mchid=1900000001", b""


def signed_headers(keys: BenchKeys, method: str, target: str, body: bytes) -> dict[str, str]:
    """The headers of a hand-signed request: what the minimal loops send, nothing else."""
    ts, nonce = str(int(time.time())), secrets.token_hex(16)
    signature = rsa_sign(keys.merchant.private_key, request_message(method, target, ts, nonce, body))
    return {
        "Authorization": authorization_header(keys.mchid, keys.merchant.serial, ts, nonce, signature),
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Wechatpay-Serial": keys.public_key_id,
    }


async def run_minimal_aiohttp(
    base_url: str, keys: BenchKeys, op: str, calls: int, conc: int, max_s: float
) -> dict[str, float]:
    """The floor for an aiohttp client: aiohttp + the same rsa_sign/rsa_verify, nothing else."""
    import aiohttp

    public = keys.platform.public_key
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(conc, 16))) as session:

        async def call(i: int) -> None:
            method, target, body = _exchange(op, i)
            headers = signed_headers(keys, method, target, body)
            async with session.request(method, base_url + target, data=body or None, headers=headers) as resp:
                content = await resp.read()
                h = resp.headers
                message = response_message(h["Wechatpay-Timestamp"], h["Wechatpay-Nonce"], content)
                assert resp.status == 200 and rsa_verify(public, message, h["Wechatpay-Signature"])
            json.loads(content)

        return await drive(call, calls, conc, max_s)


async def run_plain_httpx(
    base_url: str, keys: BenchKeys, op: str, calls: int, conc: int, max_s: float
) -> dict[str, float]:
    """The same exchange as run_minimal_aiohttp through a plain httpx.AsyncClient."""
    import httpx

    public = keys.platform.public_key
    limits = httpx.Limits(max_connections=max(conc, 16), max_keepalive_connections=max(conc, 16))
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def call(i: int) -> None:
            method, target, body = _exchange(op, i)
            headers = signed_headers(keys, method, target, body)
            resp = await client.request(method, base_url + target, content=body or None, headers=headers)
            h = resp.headers
            message = response_message(h["Wechatpay-Timestamp"], h["Wechatpay-Nonce"], resp.content)
            assert resp.status_code == 200 and rsa_verify(public, message, h["Wechatpay-Signature"])
            json.loads(resp.content)

        return await drive(call, calls, conc, max_s)


async def run_wxpay(
    base_url: str,
    keys: BenchKeys,
    op: str,
    calls: int,
    conc: int,
    max_s: float,
    *,
    transport: str,
    threads: bool,
    typed: bool = False,
    batch: bool = True,
) -> dict[str, float]:
    kwargs = keys.client_kwargs(base_url)
    if transport == "httpx":
        from wxpay_async.transports import HttpxTransport

        kwargs["transport"] = HttpxTransport(limit=max(conc, 16))
    else:
        kwargs["transport"] = AiohttpTransport(limit=max(conc, 16))
    if threads:  # only with signing threads: --before trees older than batch_signing run the rest
        kwargs["batch_signing"] = batch
    async with Client(**kwargs, close_transport=True, sign_in_thread=threads) as wx:
        if typed:

            async def call(i: int) -> None:
                if op == "send_coupon":
                    body = _send_body(i)
                    await wx.favor.send_coupon(
                        f"o{i}",
                        stock_id=body["stock_id"],
                        appid=body["appid"],
                        stock_creator_mchid=body["stock_creator_mchid"],
                        out_request_no=body["out_request_no"],
                    )
                else:
                    await wx.favor.get_stock("9856000", stock_creator_mchid="1900000001")

        else:

            async def call(i: int) -> None:
                if op == "send_coupon":
                    await wx.request(
                        "POST",
                        "/v3/marketing/favor/users/{openid}/coupons",
                        path_params={"openid": f"o{i}"},
                        json=_send_body(i),
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
async def memory_per_1000_inflight(base_url: str, keys: BenchKeys) -> dict[str, float]:
    """Growth while 1,000 calls wait on a slow server (MB per 1,000 in-flight calls).

    RSS (what the machine sees; in this long-lived process it can stay flat when the allocator
    reuses memory freed earlier), then the Python heap's peak (tracemalloc) on a second round.
    """
    async with Client(
        **keys.client_kwargs(base_url), transport=AiohttpTransport(limit=1000), close_transport=True
    ) as wx:
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
        heap = await _heap_peak_mb(
            lambda: wx.request("GET", "/v3/marketing/favor/stocks/1", query={"delay_ms": 1500}), 1000
        )
    floor = await _minimal_heap_per_1000_inflight(base_url, keys)
    return {"RSS": peak - before, "Python heap": heap, "Python heap, minimal aiohttp loop": floor}


async def _heap_peak_mb(call: Callable[[], Awaitable[Any]], count: int) -> float:
    """The Python heap's peak growth (tracemalloc, MB) while ``count`` calls run at once."""
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    await asyncio.gather(*(call() for _ in range(count)))
    peak = tracemalloc.get_traced_memory()[1] - start
    tracemalloc.stop()
    return peak / 2**20


async def _minimal_heap_per_1000_inflight(base_url: str, keys: BenchKeys) -> float:
    """The same 1,000 waiting calls, signed by hand on a plain aiohttp session: the floor (MB)."""
    import aiohttp

    target = "/v3/marketing/favor/stocks/1?delay_ms=1500"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)) as session:

        async def call() -> None:
            async with session.get(base_url + target, headers=signed_headers(keys, "GET", target, b"")) as resp:
                await resp.read()

        await call()
        return await _heap_peak_mb(call, 1000)


def probe(mode: str, keys_file: Path, base_url: str, *extra: str, timeout: float = 60) -> dict[str, float]:
    """Run benchmarks/_probe.py in a fresh interpreter and return the JSON it prints."""
    out = subprocess.run(
        [sys.executable, str(HERE / "_probe.py"), mode, str(keys_file), base_url, *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def startup(keys_file: Path, base_url: str, runs: int = 5) -> dict[str, float]:
    """Fresh interpreter: import wxpay_async + construct a Client + first typed call; medians.

    Next to it, interleaved: the same first call hand-written on aiohttp + cryptography (the
    floor for an aiohttp client), wechatpayv3's, and importing the dependencies alone. The
    package is byte-compiled first, as ``pip install`` does (this machine sets
    PYTHONDONTWRITEBYTECODE, which would make every probe compile our sources again).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "wxpay_async")], env=env, check=True)
    modes = ["startup", "startup-minimal", "deps"]
    if importlib.util.find_spec("wechatpayv3") is not None:
        modes.append("startup-wechatpayv3")
    samples: list[dict[str, float]] = []
    for _ in range(runs):
        sample: dict[str, float] = {}
        for mode in modes:
            sample.update(probe(mode, keys_file, base_url))
        samples.append(sample)
    result = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
    ours = result["total (import + construct + first call)"]
    result["wxpay_async total ÷ minimal signed aiohttp call total"] = (
        ours / result["minimal signed aiohttp call: total"]
    )
    return result


def before_after(keys_file: Path, base_url: str, before: str, calls: int, rounds: int) -> list[dict[str, Any]]:
    """Typed and request() calls of commit ``before`` and of this tree, next to the minimal loop.

    Every configuration runs in a fresh interpreter (the same way for all), interleaved, with
    the order rotated each round; medians of the rounds.
    """
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = sdk_tree_at(before, Path(tmp))
        configs = [
            (MINIMAL, None, "minimal"),
            (f"request() before ({before})", old_tree, "request"),
            ("request() after", None, "request"),
            (f"typed before ({before})", old_tree, "typed"),
            ("typed after", None, "typed"),
        ]
        rows = []
        for op in ("send_coupon", "get_stock"):
            samples: dict[str, list[dict[str, float]]] = {}
            for r in range(rounds):
                for name, tree, client in configs[r % len(configs) :] + configs[: r % len(configs)]:
                    env = dict(os.environ)
                    if tree is not None:
                        env["PYTHONPATH"] = str(tree)
                    out = subprocess.run(
                        [
                            sys.executable,
                            str(HERE / "_probe.py"),
                            "load",
                            str(keys_file),
                            base_url,
                            op,
                            str(calls),
                            "64",
                            client,
                        ],
                        capture_output=True,
                        text=True,
                        timeout=120,
                        check=True,
                        env=env,
                    )
                    samples.setdefault(name, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
            base_cpu = statistics.median(s["CPU µs/call"] for s in samples[MINIMAL])
            for name, _, _ in configs:
                result = {k: statistics.median(s[k] for s in samples[name]) for k in samples[name][0]}
                rows.append(
                    {"operation": op, "client": name, **result, "× minimal loop": result["CPU µs/call"] / base_cpu}
                )
                print(
                    f"before/after {op:12} {name:36} {result['CPU µs/call']:6.0f} µs/call  {rows[-1]['× minimal loop']:.3f}×",
                    flush=True,
                )
    return rows


def processes(keys_file: Path, base_url: str, seconds: float) -> list[dict[str, Any]]:
    """calls/s of N processes (each one Client, typed send_coupon, c=64) over the same time window."""
    rows = []
    for label, count, threads in (
        ("1 process", 1, "0"),
        ("1 process + signing threads", 1, "1"),
        ("2 processes", 2, "0"),
    ):
        start_at = time.time() + 1.5  # every process starts together, after its imports
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "_probe.py"),
                    "worker",
                    str(keys_file),
                    base_url,
                    str(start_at),
                    str(seconds),
                    threads,
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(count)
        ]
        results = [json.loads(p.communicate(timeout=seconds + 60)[0].strip().splitlines()[-1]) for p in procs]
        calls = sum(r["calls"] for r in results)
        rows.append(
            {
                "setup": label,
                "processes": count,
                "calls/s": calls / seconds,
                "CPU µs/call": sum(r["cpu"] for r in results) / calls * 1e6,
            }
        )
    base = rows[0]["calls/s"]
    for row in rows:
        row["× 1 process"] = row["calls/s"] / base
    return rows


def profile_summary(base_url: str, keys: BenchKeys, calls: int, top: int = 14) -> list[dict[str, Any]]:
    """cProfile of typed send_coupon at c=64 (aiohttp, inline signing): top functions by own time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    in_loop(
        lambda: run_wxpay(base_url, keys, "send_coupon", calls, 64, 30, transport="aiohttp", threads=False, typed=True)
    )
    profiler.disable()
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in entries.values())
    ranked = sorted(((k, v) for k, v in entries.items() if "gc.collect" not in k[2]), key=lambda kv: -kv[1][2])[:top]
    rows = []
    for (file, line, name), (_cc, _nc, tt, ct, _callers) in ranked:
        where = Path(file).name if file != "~" else "builtin"
        rows.append(
            {
                "function": f"{name} ({where}:{line})" if line else name,
                "own time share": f"{tt / total * 100:.1f} %",
                "cumulative share": f"{ct / total * 100:.1f} %",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer calls and levels, one round (~1 min smoke run)")
    parser.add_argument("--calls", type=int, default=1500, help="calls per configuration (default 1500)")
    parser.add_argument("--max-seconds", type=float, default=6.0, help="time bound per configuration")
    parser.add_argument("--concurrency", default="1,16,64,256")
    parser.add_argument(
        "--rounds", type=int, help="interleaved rounds at c=64, medians reported (default 3; --quick: 1)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--only",
        help='comma-separated substrings: run just the matching clients, no extras but --before and "startup"',
    )
    parser.add_argument("--ops", default="send_coupon,get_stock")
    parser.add_argument("--before", help="also measure this git revision's wxpay_async (before/after table)")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    if args.rounds is None and not args.quick:
        args.rounds = 3
    tail_calls, proc_seconds, profile_calls = 4000, 5.0, 2000
    if args.quick:
        args.calls, args.max_seconds, levels = 300, 2.0, [64]
        args.rounds = args.rounds or 1
        tail_calls, proc_seconds, profile_calls = 1500, 2.0, 300
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
    with signing_server(keys) as base_url, tempfile.TemporaryDirectory() as tmp:
        keys_file = Path(tmp) / "client-keys.json"
        keys.write_client_keys(keys_file)

        def wx(transport: str, *, typed: bool, threads: bool = False, uv: bool = False, batch: bool = True) -> Runner:
            return lambda op, c, n: in_loop(
                lambda: run_wxpay(
                    base_url,
                    keys,
                    op,
                    n,
                    c,
                    args.max_seconds,
                    transport=transport,
                    threads=threads,
                    typed=typed,
                    batch=batch,
                ),
                uvloop=uv,
            )

        # (name, runner, baseline name for the "× baseline" column, interleaved rounds at c=64)
        clients: list[tuple[str, Runner, str | None, bool]] = [
            (
                MINIMAL,
                lambda op, c, n: in_loop(lambda: run_minimal_aiohttp(base_url, keys, op, n, c, args.max_seconds)),
                None,
                True,
            ),
            ("wxpay_async request() aiohttp", wx("aiohttp", typed=False), MINIMAL, True),
            ("wxpay_async typed aiohttp", wx("aiohttp", typed=True), MINIMAL, True),
            # Signing threads with and without the batched hand-off, interleaved: the pair that
            # decides the batch_signing default (`--only threads --quick --rounds 3` runs just it).
            ("wxpay_async typed aiohttp+threads batched", wx("aiohttp", typed=True, threads=True), MINIMAL, True),
            (
                "wxpay_async typed aiohttp+threads unbatched",
                wx("aiohttp", typed=True, threads=True, batch=False),
                MINIMAL,
                True,
            ),
            (
                PLAIN_HTTPX,
                lambda op, c, n: in_loop(lambda: run_plain_httpx(base_url, keys, op, n, c, args.max_seconds)),
                None,
                True,
            ),
            ("wxpay_async request() httpx", wx("httpx", typed=False), PLAIN_HTTPX, True),
            ("wxpay_async typed httpx", wx("httpx", typed=True), PLAIN_HTTPX, True),
            (
                "wechatpayv3 async",
                lambda op, c, n: in_loop(lambda: run_wechatpayv3_async(base_url, keys, op, n, c, args.max_seconds)),
                None,
                False,
            ),
            (
                "wechatpayv3 sync+threads",
                lambda op, c, n: in_loop(lambda: run_wechatpayv3_sync(base_url, keys, op, n, c, args.max_seconds)),
                None,
                False,
            ),
        ]
        if have_uvloop:
            clients.insert(
                4,
                (
                    "wxpay_async typed aiohttp+threads uvloop",
                    wx("aiohttp", typed=True, threads=True, uv=True),
                    MINIMAL,
                    False,
                ),
            )

        if args.only:
            wanted = args.only.split(",")
            clients = [c for c in clients if any(w in c[0] for w in wanted) or c[0] in (MINIMAL, PLAIN_HTTPX)]

        def calls(concurrency: int) -> int:
            return min(args.calls, max(200, args.calls // 4)) if concurrency == 1 else args.calls

        for op in args.ops.split(","):
            for conc in levels:
                samples: dict[str, list[dict[str, float]]] = {}
                rounds = args.rounds if conc == 64 else 1
                for r in range(rounds):
                    # Each round starts one client later: no client always runs right after another.
                    for name, run, _, interleave in clients[r:] + clients[:r]:
                        if r > 0 and not interleave:
                            continue
                        samples.setdefault(name, []).append(run(op, conc, calls(conc)))
                for name, _, base, _ in clients:
                    result = {k: statistics.median(s[k] for s in samples[name]) for k in samples[name][0]}
                    row: dict[str, Any] = {"client": name, "operation": op, "concurrency": conc, **result}
                    row["rounds"] = len(samples[name])
                    row["× floor"] = row["CPU µs/call"] / floor
                    if base is not None:
                        ref = next(
                            x for x in rows if x["client"] == base and x["operation"] == op and x["concurrency"] == conc
                        )
                        row["× baseline"] = row["CPU µs/call"] / ref["CPU µs/call"]
                    rows.append(row)
                    print(
                        f"{op:12} c={conc:<4} {name:42} {row['calls/s']:7.0f}/s  {row['CPU µs/call']:6.0f} µs/call"
                        f"  p99 {row['p99 ms']:7.1f} ms  {row.get('× baseline', 0):.3f}× baseline",
                        flush=True,
                    )

        if args.only:  # just the matching clients; --before and "startup" still run when asked for
            if args.before:
                before_after(keys_file, base_url, args.before, args.calls, args.rounds)
            if "startup" in args.only.split(","):
                for key, value in startup(keys_file, base_url, runs=3 if args.quick else 5).items():
                    print(f"start-up {value:8.1f}  {key}", flush=True)
            return
        # Tails at c=1,024 with the default pool: waiting calls queue for a connection.
        tails = []
        for name, runner in (
            (MINIMAL, lambda: run_minimal_aiohttp(base_url, keys, "get_stock", tail_calls, 1024, 30)),
            (
                "wxpay_async typed aiohttp (default pool)",
                lambda: run_wxpay_default(base_url, keys, tail_calls, 1024, False),
            ),
            (
                "wxpay_async typed aiohttp+threads uvloop (default pool)",
                lambda: run_wxpay_default(base_url, keys, tail_calls, 1024, True),
            ),
        ):
            result = in_loop(runner, uvloop=have_uvloop and "uvloop" in name)
            tails.append({"client": name, "operation": "get_stock", "concurrency": 1024, **result})
            print(f"tails c=1024 {name:50} p50 {result['p50 ms']:.0f} ms  p99 {result['p99 ms']:.0f} ms", flush=True)

        compared = before_after(keys_file, base_url, args.before, args.calls, args.rounds) if args.before else []
        cores = processes(keys_file, base_url, proc_seconds)
        for row in cores:
            print(f"cores {row['setup']:32} {row['calls/s']:7.0f}/s", flush=True)

        for kind, value in asyncio.run(memory_per_1000_inflight(base_url, keys)).items():
            extras[f"memory MB per 1000 in-flight calls: {kind}"] = value
        idle = probe("idle", keys_file, base_url)
        extras["memory KB per idle client (100 clients, one call each): RSS"] = idle["kb_per_client"]
        extras["memory KB per idle client (100 clients, one call each): Python heap"] = idle["heap_kb_per_client"]
        boot = startup(keys_file, base_url, runs=3 if args.quick else 5)
        for key, value in boot.items():
            extras[f"start-up ms: {key}"] = value
        profile = profile_summary(base_url, keys, profile_calls)

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
        "× baseline",
        "× floor",
        "× v3 async",
        "× v3 sync",
        "rounds",
    ]
    md = "\n\n".join(
        [
            header,
            "CPU µs/call is this process's CPU per call; × baseline: against the minimal signed aiohttp loop "
            "(aiohttp clients) or the plain httpx loop (httpx clients); c=64 rows are medians of interleaved rounds.",
            markdown_table(rows, columns),
            *(
                [
                    f"Before/after (c=64, aiohttp, inline signing; each in a fresh interpreter, {args.rounds} "
                    "interleaved rounds, medians):",
                    markdown_table(
                        compared,
                        ["operation", "client", "calls/s", "p50 ms", "p99 ms", "CPU µs/call", "× minimal loop"],
                    ),
                ]
                if compared
                else []
            ),
            "Tails (c=1,024, get_stock):",
            markdown_table(tails, ["client", "calls/s", "p50 ms", "p99 ms", "CPU µs/call"]),
            "All cores (typed send_coupon, c=64 per process, the same time window):",
            markdown_table(cores, ["setup", "processes", "calls/s", "CPU µs/call", "× 1 process"]),
            markdown_table([{"measure": k, "value": v} for k, v in extras.items()], ["measure", "value"]),
            f"Profile (cProfile, {profile_calls} typed send_coupon calls, c=64, aiohttp, inline signing):",
            markdown_table(profile, ["function", "own time share", "cumulative share"]),
        ]
    )
    (args.out / "latest.md").write_text(md + "\n")
    (args.out / "latest.json").write_text(
        json.dumps(
            {
                "machine": machine_line(),
                "crypto_floor_us": floor,
                "rows": rows,
                "before_after": compared,
                "tails": tails,
                "cores": cores,
                "extras": extras,
                "profile": profile,
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    plot(rows, args.out / "latest.png", header)
    print("\n" + md)


async def run_wxpay_default(base_url: str, keys: BenchKeys, calls: int, conc: int, threads: bool) -> dict[str, float]:
    """Typed get_stock through a Client with its default transport and pool (no tuning)."""
    async with Client(**keys.client_kwargs(base_url), sign_in_thread=threads) as wx:

        async def call(i: int) -> None:
            await wx.favor.get_stock("9856000", stock_creator_mchid="1900000001")

        return await drive(call, calls, conc, 30)


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
