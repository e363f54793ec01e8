"""Measurements that need a fresh interpreter, run by run.py; prints one JSON line.

    python benchmarks/_probe.py startup KEYS_JSON BASE_URL
    python benchmarks/_probe.py idle KEYS_JSON BASE_URL
    python benchmarks/_probe.py worker KEYS_JSON BASE_URL START_AT SECONDS THREADS

``startup``: import wxpay_async, construct a Client from PEM text, first typed call (ms each).
``deps``, ``startup-minimal``, ``startup-wechatpayv3``: the floors and the community client, the same way.
``idle``: memory per idle client, 100 clients in this process, each after one call: RSS (which
also moves with what the allocator had free before) and Python heap (tracemalloc, exact).
``worker``: typed send_coupon at c=64 from wall-clock START_AT for SECONDS (calls, CPU seconds).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402


def startup(keys: dict[str, str], base_url: str) -> dict[str, float]:
    import asyncio

    t_import0 = time.perf_counter()
    from wxpay_async import Client

    t_import = time.perf_counter()
    wx = Client(**keys, base_url=base_url)
    t_construct = time.perf_counter()

    async def first() -> None:
        async with wx:
            await wx.favor.get_stock("9856000", stock_creator_mchid="1900000001")

    asyncio.run(first())
    t_call = time.perf_counter()
    return {
        "import wxpay_async": (t_import - t_import0) * 1000,
        "construct Client": (t_construct - t_import) * 1000,
        "first typed call": (t_call - t_construct) * 1000,
        "total (import + construct + first call)": (t_call - T0) * 1000,
    }


def deps() -> dict[str, float]:
    """The floor under ``import wxpay_async``: importing what a public-key-mode call needs."""
    t0 = time.perf_counter()
    import asyncio  # noqa: F401

    import aiohttp  # noqa: F401
    import attrs  # noqa: F401
    import cattrs  # noqa: F401
    import cryptography.hazmat.primitives.asymmetric.rsa
    import cryptography.hazmat.primitives.serialization  # noqa: F401

    return {
        "import dependencies only (asyncio, aiohttp, attrs, cattrs, cryptography rsa)": (time.perf_counter() - t0)
        * 1000
    }


def startup_minimal(keys: dict[str, str], base_url: str) -> dict[str, float]:
    """The same first call hand-written on aiohttp + cryptography: the floor for an aiohttp client."""
    import asyncio
    import base64
    import secrets

    import aiohttp
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = serialization.load_pem_private_key(
        keys["private_key"].encode(), password=None, unsafe_skip_rsa_key_validation=True
    )
    public = serialization.load_pem_public_key(keys["platform_public_key"].encode())

    async def first() -> None:
        target = "/v3/marketing/favor/stocks/9856000?stock_creator_mchid=1900000001"
        ts, nonce = str(int(time.time())), secrets.token_hex(16)
        message = f"GET\n{target}\n{ts}\n{nonce}\n\n".encode()
        signature = base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()  # type: ignore[union-attr,call-arg]
        auth = (
            f'WECHATPAY2-SHA256-RSA2048 mchid="{keys["mchid"]}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{ts}",serial_no="{keys["merchant_serial"]}"'
        )
        async with (
            aiohttp.ClientSession() as session,
            session.get(base_url + target, headers={"Authorization": auth, "Accept": "application/json"}) as resp,
        ):
            body = await resp.read()
            h = resp.headers
            signed = f"{h['Wechatpay-Timestamp']}\n{h['Wechatpay-Nonce']}\n".encode() + body + b"\n"
            public.verify(base64.b64decode(h["Wechatpay-Signature"]), signed, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
            json.loads(body)

    asyncio.run(first())
    return {"minimal signed aiohttp call: total": (time.perf_counter() - T0) * 1000}


def startup_wechatpayv3(keys: dict[str, str], base_url: str) -> dict[str, float]:
    """wechatpayv3 (sync, requests): import + construct + the same first call."""
    from wechatpayv3 import WeChatPay, WeChatPayType

    wp = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=keys["mchid"],
        private_key=keys["private_key"],
        cert_serial_no=keys["merchant_serial"],
        appid="wx233544546545989",
        apiv3_key=keys["apiv3_key"],
        public_key=keys["platform_public_key"],
        public_key_id=keys["platform_public_key_id"],
    )
    wp._core._gate_way = base_url
    code, _ = wp._core.request("/v3/marketing/favor/stocks/9856000?stock_creator_mchid=1900000001")
    assert code == 200
    return {"wechatpayv3 sync: total": (time.perf_counter() - T0) * 1000}


def rss_kb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return float(line.split()[1])
    return 0.0


def idle(keys: dict[str, str], base_url: str, count: int = 100) -> dict[str, float]:
    import asyncio
    import gc
    import tracemalloc

    from wxpay_async import Client

    async def main() -> dict[str, float]:
        async def one() -> Client:
            wx = Client(**keys, base_url=base_url)
            await wx.start()
            await wx.favor.get_stock("9856000", stock_creator_mchid="1900000001")
            return wx

        warm = await one()  # imports, caches and the loop's own first allocations
        gc.collect()
        before = rss_kb()
        clients = [await one() for _ in range(count)]
        gc.collect()
        after = rss_kb()
        tracemalloc.start()  # then as many again, traced: the Python heap they hold
        traced = [await one() for _ in range(count)]
        gc.collect()
        heap = tracemalloc.get_traced_memory()[0] / 1024
        tracemalloc.stop()
        for wx in [warm, *clients, *traced]:
            await wx.aclose()
        return {"kb_per_client": (after - before) / count, "heap_kb_per_client": heap / count}

    return asyncio.run(main())


def worker(keys: dict[str, str], base_url: str, start_at: float, seconds: float, threads: bool) -> dict[str, float]:
    import asyncio

    from wxpay_async import Client
    from wxpay_async.transports import AiohttpTransport

    async def main() -> dict[str, float]:
        async with Client(
            **keys,
            base_url=base_url,
            transport=AiohttpTransport(limit=64),
            close_transport=True,
            sign_in_thread=threads,
        ) as wx:
            counter = 0

            async def call() -> None:
                nonlocal counter
                counter += 1
                await wx.favor.send_coupon(
                    f"o{counter}",
                    stock_id="9856000",
                    appid="wx233544546545989",
                    stock_creator_mchid="1900000001",
                    out_request_no=f"bench{counter:012d}",
                )

            for _ in range(10):
                await call()
            await asyncio.sleep(max(0.0, start_at - time.time()))
            done = 0
            end = time.monotonic() + seconds

            async def loop() -> None:
                nonlocal done
                while time.monotonic() < end:
                    await call()
                    if time.monotonic() <= end:
                        done += 1

            cpu0 = time.process_time()
            await asyncio.gather(*(loop() for _ in range(64)))
            return {"calls": done, "cpu": time.process_time() - cpu0}

    return asyncio.run(main())


class FileKeys:
    """BenchKeys read back from the JSON file (run.py's load functions take either)."""

    def __init__(self, data: dict[str, str]) -> None:
        from types import SimpleNamespace

        from cryptography.hazmat.primitives import serialization

        self.data = data
        self.mchid = data["mchid"]
        self.public_key_id = data["platform_public_key_id"]
        private = serialization.load_pem_private_key(data["private_key"].encode(), password=None)
        public = serialization.load_pem_public_key(data["platform_public_key"].encode())
        self.merchant = SimpleNamespace(private_key=private, serial=data["merchant_serial"])
        self.platform = SimpleNamespace(public_key=public)

    def client_kwargs(self, base_url: str) -> dict[str, object]:
        return {**self.data, "base_url": base_url}


def load(keys: dict[str, str], base_url: str, op: str, calls: int, conc: int, client: str) -> dict[str, float]:
    """One load run of run.py's clients, with whichever wxpay_async is first on sys.path."""
    import asyncio

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
    import run

    bench_keys = FileKeys(keys)
    if client == "minimal":
        coro = run.run_minimal_aiohttp(base_url, bench_keys, op, calls, conc, 30)  # type: ignore[arg-type]
    else:
        coro = run.run_wxpay(
            base_url,
            bench_keys,
            op,
            calls,
            conc,
            30,
            transport="aiohttp",
            threads=False,
            typed=client == "typed",  # type: ignore[arg-type]
        )
    return asyncio.run(coro)


def main() -> None:
    mode, keys_file, base_url = sys.argv[1:4]
    with open(keys_file) as handle:
        keys = json.load(handle)
    if mode == "startup":
        result = startup(keys, base_url)
    elif mode == "deps":
        result = deps()
    elif mode == "startup-minimal":
        result = startup_minimal(keys, base_url)
    elif mode == "startup-wechatpayv3":
        result = startup_wechatpayv3(keys, base_url)
    elif mode == "load":
        op, calls, conc, client = sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
        result = load(keys, base_url, op, calls, conc, client)
    elif mode == "idle":
        result = idle(keys, base_url)
    elif mode == "worker":
        result = worker(keys, base_url, float(sys.argv[4]), float(sys.argv[5]), sys.argv[6] == "1")
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
