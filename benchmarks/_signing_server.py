"""A tiny signing WeChat Pay stand-in for benchmarks, run in its own process.

Benchmark-only: it does not check request signatures and reuses one response signature per
second (same body, timestamp and nonce), so the server costs almost nothing and the client
is what gets measured. Never use it to test correctness; the emulator does that.

Usage: python benchmarks/_signing_server.py KEYS_JSON PORT_FILE
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from aiohttp import web

from wxpay_async.crypto import load_private_key, make_nonce, response_message, rsa_sign


def make_app(private_pem: bytes, serial: str) -> web.Application:
    key = load_private_key(private_pem)
    cache: dict[tuple[bytes, int], tuple[str, str]] = {}

    def signed(body: bytes) -> web.Response:
        now = int(time.time())
        entry = cache.get((body, now))
        if entry is None:
            nonce = make_nonce()
            entry = (nonce, rsa_sign(key, response_message(str(now), nonce, body)))
            cache.clear()
            cache[(body, now)] = entry
        nonce, signature = entry
        return web.Response(
            body=body,
            content_type="application/json",
            headers={
                "Wechatpay-Timestamp": str(now),
                "Wechatpay-Nonce": nonce,
                "Wechatpay-Signature": signature,
                "Wechatpay-Serial": serial,
                "Request-ID": "bench",
            },
        )

    send_body = json.dumps({"coupon_id": "9867041"}).encode()
    stock_body = json.dumps({"stock_id": "9856000", "status": "running", "stock_name": "bench"}).encode()

    async def send(request: web.Request) -> web.Response:
        await request.read()
        return signed(send_body)

    async def stock(request: web.Request) -> web.Response:
        return signed(stock_body)

    app = web.Application()
    app.router.add_post("/v3/marketing/favor/users/{openid}/coupons", send)
    app.router.add_get("/v3/marketing/favor/stocks/{stock_id}", stock)
    return app


async def serve(app: web.Application, port_file: Path) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    port_file.write_text(str(port))
    await asyncio.Event().wait()  # until the parent kills us


def main() -> None:
    keys = json.loads(Path(sys.argv[1]).read_text())
    app = make_app(keys["platform_private_pem"].encode(), keys["public_key_id"])
    asyncio.run(serve(app, Path(sys.argv[2])))


if __name__ == "__main__":
    main()
