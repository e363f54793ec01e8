"""A tiny signing WeChat Pay stand-in for benchmarks, run in its own process.

Benchmark-only: it does not check request signatures and reuses one response signature per
(body, serial, second), so the server costs little and the client is what gets measured.
Never use it to test correctness; the emulator and the test suite do that.

It signs with one platform RSA key that is published both as a certificate (serial) and as a
public key (``PUB_KEY_ID_...``), naming whichever the request's ``Wechatpay-Serial`` asked for.

Usage: python benchmarks/_signing_server.py KEYS_JSON PORT_FILE
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from aiohttp import web

from wxpay_async.crypto import aead_encrypt, load_private_key, make_nonce, response_message, rsa_sign


def make_app(keys: dict[str, str]) -> web.Application:
    key = load_private_key(keys["platform_private_pem"])
    public_key_id = keys["public_key_id"]
    cert_serial = keys["platform_serial"]
    cache: dict[tuple[bytes, str, int], tuple[str, str]] = {}

    def signed(body: bytes, request: web.Request) -> web.Response:
        # Like WeChat Pay: /v3/certificates is signed with a platform certificate.
        wants_cert = request.path == "/v3/certificates" or request.headers.get("Wechatpay-Serial") == cert_serial
        serial = cert_serial if wants_cert else public_key_id
        now = int(time.time())
        entry = cache.get((body, serial, now))
        if entry is None:
            if len(cache) > 64:
                cache.clear()
            nonce = make_nonce()
            entry = cache[(body, serial, now)] = (nonce, rsa_sign(key, response_message(str(now), nonce, body)))
        nonce, signature = entry
        return web.Response(
            body=body,
            content_type="application/json",
            headers={
                "Wechatpay-Timestamp": str(now),
                "Wechatpay-Nonce": nonce,
                "Wechatpay-Signature": signature,
                "Wechatpay-Serial": serial,
                "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
                "Request-ID": "bench",
            },
        )

    send_body = json.dumps({"coupon_id": "9867041"}).encode()
    stock_body = json.dumps({"stock_id": "9856000", "status": "running", "stock_name": "bench"}).encode()
    nonce = "benchnonce12"
    certificates_body = json.dumps(
        {
            "data": [
                {
                    "serial_no": cert_serial,
                    "effective_time": "2020-01-01T00:00:00+08:00",
                    "expire_time": "2040-01-01T00:00:00+08:00",
                    "encrypt_certificate": {
                        "algorithm": "AEAD_AES_256_GCM",
                        "nonce": nonce,
                        "associated_data": "certificate",
                        "ciphertext": aead_encrypt(keys["apiv3_key"], nonce, "certificate", keys["platform_cert_pem"]),
                    },
                }
            ]
        }
    ).encode()

    async def send(request: web.Request) -> web.Response:
        await request.read()
        return signed(send_body, request)

    async def stock(request: web.Request) -> web.Response:
        delay = float(request.query.get("delay_ms", "0"))
        if delay:
            await asyncio.sleep(delay / 1000)
        return signed(stock_body, request)

    async def certificates(request: web.Request) -> web.Response:
        return signed(certificates_body, request)

    app = web.Application()
    app.router.add_post("/v3/marketing/favor/users/{openid}/coupons", send)
    app.router.add_get("/v3/marketing/favor/stocks/{stock_id}", stock)
    app.router.add_get("/v3/certificates", certificates)
    return app


async def serve(app: web.Application, port_file: Path) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port_file.write_text(str(runner.addresses[0][1]))
    # Until the parent terminates us, or dies without doing so (killed, its cleanup never ran):
    # a benchmark server must not outlive the benchmark.
    parent = os.getppid()
    while os.getppid() == parent:  # noqa: ASYNC110 - no event tells a process its parent died
        await asyncio.sleep(1)


def main() -> None:
    keys = json.loads(Path(sys.argv[1]).read_text())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(make_app(keys), Path(sys.argv[2])))


if __name__ == "__main__":
    main()
