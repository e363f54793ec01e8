"""The SDK's own Python per call, without RSA or sockets; and a cProfile diff against the minimal loop.

    python benchmarks/bench_hotpath.py fake [--calls 3000] [--rounds 5] [--before REV]
    python benchmarks/bench_hotpath.py wire [--calls 3000] [--rounds 5]
    python benchmarks/bench_hotpath.py transport [--calls 3000] [--rounds 5]
    python benchmarks/bench_hotpath.py profile [--calls 3000] [--top 40]

``fake``: a transport answering in memory and RSA sign/verify replaced by constants, so what is
left is the SDK's own work (best of ``rounds``, µs per call, sequential calls): precise enough to
measure savings of a few µs that the real benchmark's ±5 % noise hides. With ``--before REV``
the SDK of commit REV (``git archive``) and this tree run side by side in one run: each round
runs both, in fresh interpreters, in alternating order; medians of the rounds' bests.
``wire``: run.py's typed, request() and minimal runners against the benchmark signing server,
RSA removed from all three: medians of interleaved rounds and our µs over the minimal loop.
``transport``: AiohttpTransport.send alone, sequentially, against an in-process canned server.
``profile``: typed calls and the minimal signed aiohttp loop against the benchmark signing
server under cProfile; per-function tottime per call, the biggest differences first.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from multidict import CIMultiDict, CIMultiDictProxy

import wxpay_async.crypto._verifier as _verifier_module
import wxpay_async.middleware.signing as _signing_module
from wxpay_async import Client
from wxpay_async._request import Request, Response

SEND_BODY = json.dumps({"coupon_id": "9867041"}).encode()
STOCK_BODY = json.dumps({"stock_id": "9856000", "status": "running", "stock_name": "bench"}).encode()
STOCK_QUERY = {"stock_creator_mchid": "1900000001"}


class FakeTransport:
    """Answers every request in memory with well-formed (not genuinely signed) signature headers."""

    def __init__(self, serial: str) -> None:
        self._serial = serial

    async def send(self, request: Request) -> Response:
        headers = CIMultiDict(
            {
                "Content-Type": "application/json",
                "Wechatpay-Timestamp": str(int(time.time())),
                "Wechatpay-Nonce": "benchnonce12",
                "Wechatpay-Signature": "c2lnbmF0dXJl",
                "Wechatpay-Serial": self._serial,
                "Request-ID": "bench",
            }
        )
        body = SEND_BODY if request.method == "POST" else STOCK_BODY
        return Response(status=200, headers=CIMultiDictProxy(headers), content=body, request=request)

    async def aclose(self) -> None:
        pass


def _calls(wx: Client) -> dict[str, Callable[[int], Awaitable[Any]]]:
    def send_coupon_typed(i: int) -> Awaitable[Any]:
        return wx.favor.send_coupon(
            f"o{i}",
            stock_id="9856000",
            appid="wx233544546545989",
            stock_creator_mchid="1900000001",
            out_request_no=f"bench{i:012d}",
        )

    def get_stock_typed(i: int) -> Awaitable[Any]:
        return wx.favor.get_stock("9856000", stock_creator_mchid="1900000001")

    def send_coupon_request(i: int) -> Awaitable[Any]:
        body = {
            "stock_id": "9856000",
            "out_request_no": f"bench{i:012d}",
            "appid": "wx233544546545989",
            "stock_creator_mchid": "1900000001",
        }
        return wx.request(
            "POST", "/v3/marketing/favor/users/{openid}/coupons", path_params={"openid": f"o{i}"}, json=body
        )

    def get_stock_request(i: int) -> Awaitable[Any]:
        return wx.request(
            "GET", "/v3/marketing/favor/stocks/{stock_id}", path_params={"stock_id": "9856000"}, query=STOCK_QUERY
        )

    return {
        "typed send_coupon": send_coupon_typed,
        "typed get_stock": get_stock_typed,
        "request() send_coupon": send_coupon_request,
        "request() get_stock": get_stock_request,
    }


def _without_rsa() -> None:
    """RSA sign/verify replaced by constants in the SDK and in run.py's minimal loop."""
    import run

    _signing_module.rsa_sign = lambda key, message: "c2lnbmF0dXJl"  # type: ignore[assignment]
    _verifier_module.rsa_verify = lambda key, message, signature: True  # type: ignore[assignment]
    run.rsa_sign = _signing_module.rsa_sign  # type: ignore[attr-defined]
    run.rsa_verify = _verifier_module.rsa_verify  # type: ignore[attr-defined]


def fake_before_after(before: str, calls: int, rounds: int) -> None:
    """``fake`` for commit ``before`` and for this tree, interleaved in fresh interpreters."""
    import os
    import statistics
    import subprocess
    import tempfile

    from _harness import sdk_tree_at

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = sdk_tree_at(before, Path(tmp))
        trees = {f"before ({before})": str(old_tree), "after": str(root)}
        samples: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
        for r in range(rounds):
            order = list(trees) if r % 2 == 0 else list(reversed(trees))
            for name in order:
                env = {**os.environ, "PYTHONPATH": trees[name]}
                out = subprocess.run(
                    [sys.executable, __file__, "fake", "--calls", str(calls), "--rounds", "3", "--json"],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                    timeout=600,
                )
                for call, value in json.loads(out.stdout.strip().splitlines()[-1]).items():
                    samples[name].setdefault(call, []).append(value)
        first, second = trees
        print(f"{'call':24s} {first:>22s} {second:>10s}  change")
        for call in samples[first]:
            old = statistics.median(samples[first][call])
            new = statistics.median(samples[second][call])
            print(f"{call:24s} {old:19.2f} µs {new:7.2f} µs  {100 * (new - old) / old:+5.1f} %")


def fake(calls: int, rounds: int, *, as_json: bool = False) -> None:
    from _harness import BenchKeys

    keys = BenchKeys()
    _without_rsa()

    async def main() -> None:
        kwargs = keys.client_kwargs("https://api.mch.weixin.qq.com")
        async with Client(**kwargs, transport=FakeTransport(keys.public_key_id)) as wx:
            for name, call in _calls(wx).items():
                for i in range(200):
                    await call(i)
                best = float("inf")
                for _ in range(rounds):
                    t0 = time.process_time()
                    for i in range(calls):
                        await call(i)
                    best = min(best, (time.process_time() - t0) / calls * 1e6)
                results[name] = best
                if not as_json:
                    print(f"{name:24s} {best:7.2f} µs/call")

    results: dict[str, float] = {}
    asyncio.run(main())
    if as_json:
        import wxpay_async

        print(f"# {wxpay_async.__file__}", file=sys.stderr)
        print(json.dumps(results))


def wire(calls: int, rounds: int) -> None:
    """run.py's own runners (c=16) without RSA, interleaved rounds: medians and µs over minimal."""
    import statistics

    from _harness import BenchKeys, signing_server
    from run import run_minimal_aiohttp, run_wxpay

    keys = BenchKeys()
    _without_rsa()
    with signing_server(keys) as base_url:
        for op in ("send_coupon", "get_stock"):
            runners: dict[str, Callable[[], Awaitable[dict[str, float]]]] = {
                "minimal": lambda op=op: run_minimal_aiohttp(base_url, keys, op, calls, 16, 600),
                "request()": lambda op=op: run_wxpay(
                    base_url, keys, op, calls, 16, 600, transport="aiohttp", threads=False
                ),
                "typed": lambda op=op: run_wxpay(
                    base_url, keys, op, calls, 16, 600, transport="aiohttp", threads=False, typed=True
                ),
            }
            samples: dict[str, list[float]] = {name: [] for name in runners}
            for r in range(rounds):
                names = list(runners)
                for name in names[r % 3 :] + names[: r % 3]:
                    samples[name].append(asyncio.run(runners[name]())["CPU µs/call"])
            floor = statistics.median(samples["minimal"])
            for name, values in samples.items():
                median = statistics.median(values)
                print(f"{op:12s} {name:10s} {median:7.1f} µs/call  {median - floor:+6.1f} over minimal (no RSA)")


class _CannedHTTP(asyncio.Protocol):
    """The cheapest possible HTTP/1.1 server: one fixed answer per request head (bodies are tiny)."""

    ANSWER = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Request-ID: bench\r\n\r\n%s" % (len(SEND_BODY), SEND_BODY)
    )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport: Any = transport

    def data_received(self, data: bytes) -> None:
        for _ in range(data.count(b"\r\n\r\n")):
            self._transport.write(self.ANSWER)


def transport_only(calls: int, rounds: int) -> None:
    """AiohttpTransport.send alone against an in-process canned server (its CPU is the same before/after)."""
    from wxpay_async.transports import AiohttpTransport

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_CannedHTTP, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport = AiohttpTransport(limit=64)
        request = Request(
            method="POST",
            base_url=f"http://127.0.0.1:{port}",
            target="/v3/marketing/favor/users/o1/coupons",
            headers={"Content-Type": "application/json", "Authorization": "x"},
            content=b'{"a":1}',
            timeout=10.0,
        )
        for _ in range(200):
            await transport.send(request)
        best = float("inf")
        for _ in range(rounds):
            t0 = time.process_time()
            for _ in range(calls):
                await transport.send(request)
            best = min(best, (time.process_time() - t0) / calls * 1e6)
        print(f"{'transport.send':24s} {best:7.2f} µs/call (server included)")
        await transport.aclose()
        server.close()

    asyncio.run(main())


def profile(calls: int, top: int) -> None:
    import aiohttp
    from _harness import BenchKeys, signing_server
    from run import run_minimal_aiohttp

    from wxpay_async.transports import AiohttpTransport

    keys = BenchKeys()

    def stats_of(factory: Callable[[], Awaitable[Any]]) -> dict[str, float]:
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(factory())  # type: ignore[arg-type]
        profiler.disable()
        raw: Any = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        out: dict[str, float] = {}
        for (file, _line, func), (_cc, _nc, tt, _ct, _callers) in raw.items():
            key = f"{Path(file).name}:{func}"
            out[key] = out.get(key, 0.0) + tt / calls * 1e6
        return out

    with signing_server(keys) as base_url:
        for op in ("send_coupon", "get_stock"):

            async def ours(op: str = op) -> None:
                kwargs = keys.client_kwargs(base_url)
                kwargs["transport"] = AiohttpTransport(limit=64)
                async with Client(**kwargs, close_transport=True) as wx:
                    call = _calls(wx)[f"typed {op}"]
                    await asyncio.gather(*(_worker(call, w, calls // 16) for w in range(16)))

            async def minimal(op: str = op) -> None:
                await run_minimal_aiohttp(base_url, keys, op, calls, 16, 600)

            a, b = stats_of(ours), stats_of(minimal)
            print(f"\n== {op}: typed {sum(a.values()):.1f} µs/call, minimal {sum(b.values()):.1f} µs/call (cProfile)")
            rows = sorted(((a.get(k, 0.0) - b.get(k, 0.0), k) for k in a.keys() | b.keys()), reverse=True)
            for diff, key in rows[:top]:
                print(f"{diff:+8.2f}  {a.get(key, 0.0):7.2f} {b.get(key, 0.0):7.2f}  {key}")
    del aiohttp


async def _worker(call: Callable[[int], Awaitable[Any]], w: int, n: int) -> None:
    for i in range(n):
        await call(w * n + i)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("fake", "wire", "transport", "profile"))
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--before", help="fake: also run the SDK of this git revision, side by side")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "transport":
        transport_only(args.calls, args.rounds)
    elif args.mode == "wire":
        wire(args.calls, args.rounds)
    elif args.mode == "fake" and args.before:
        fake_before_after(args.before, args.calls, args.rounds)
    elif args.mode == "fake":
        fake(args.calls, args.rounds, as_json=args.json)
    else:
        profile(args.calls, args.top)


if __name__ == "__main__":
    cli()
