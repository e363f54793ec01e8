"""A small signing client for the emulator tests, built on ``wxpay_async.crypto`` only.

It signs exactly the bytes it sends (path with query as on the wire, body bytes), verifies the
answers' signatures with the emulator's platform keys, and can break any part on purpose.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
import attrs
from aiohttp import web
from yarl import URL

from wxpay_async.crypto import (
    Verifier,
    aead_decrypt,
    authorization_header,
    load_certificate,
    make_nonce,
    request_message,
    response_message,
    rsa_sign,
)
from wxpay_async.emulator import EmulatorKeys, PlatformKey, RunningEmulator, rfc3339

APPID = "wx233544546545989"
BRAND = "120344"


def copy_keys(keys: EmulatorKeys) -> EmulatorKeys:
    """Same key material, own platform list (rotation appends to it)."""
    return attrs.evolve(keys, platform=[PlatformKey(pair=p.pair) for p in keys.platform[:1]])


@attrs.define
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def code(self) -> str | None:
        data = self.json()
        return data.get("code") if isinstance(data, dict) else None


class SigningClient:
    def __init__(
        self, running: RunningEmulator, session: aiohttp.ClientSession, clock: Callable[[], float] = time.time
    ):
        self.running = running
        self.session = session
        self.clock = clock
        self.mchid = running.mchid

    def authorization(self, method: str, target: str, body: bytes, *, timestamp: int | None = None) -> str:
        keys = self.running.keys
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = make_nonce()
        signature = rsa_sign(keys.merchant.private_key, request_message(method, target, ts, nonce, body))
        return authorization_header(self.mchid, keys.merchant.serial, ts, nonce, signature)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        query: dict[str, Any] | None = None,
        raw_body: bytes | None = None,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        signed_target: str | None = None,
        signed_body: bytes | None = None,
        timestamp: int | None = None,
        timeout: float = 10.0,
    ) -> Reply:
        target = path
        if query:
            target += "?" + "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in query.items())
        body = (
            raw_body
            if raw_body is not None
            else (
                b"" if json_body is None else json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
            )
        )
        all_headers = {"Accept": "application/json", "User-Agent": "emulator-tests"}
        if json_body is not None:
            all_headers["Content-Type"] = "application/json"
        if sign:
            all_headers["Authorization"] = self.authorization(
                method,
                signed_target if signed_target is not None else target,
                signed_body if signed_body is not None else body,
                timestamp=timestamp,
            )
        all_headers.update(headers or {})
        url = URL(self.running.base_url + target, encoded=True)
        async with self.session.request(
            method, url, data=body, headers=all_headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            content = await response.read()
            return Reply(response.status, dict(response.headers), content)

    async def get(self, path: str, **query: Any) -> Reply:
        return await self.request("GET", path, query=query or None)

    async def post(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return await self.request("POST", path, json_body=body, **kwargs)

    async def patch(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return await self.request("PATCH", path, json_body=body, **kwargs)

    def verifier(self, extra_certificates: list[bytes] | None = None) -> Verifier:
        keys = self.running.keys
        certs = [p.pair.certificate for p in keys.platform]
        certs += [load_certificate(pem) for pem in extra_certificates or []]
        return Verifier(certs, keys.public_key.public_key, keys.public_key_id)

    def verify(self, reply: Reply, verifier: Verifier | None = None) -> bool:
        h = reply.headers
        if not all(
            k in h for k in ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial")
        ):
            return False
        message = response_message(h["Wechatpay-Timestamp"], h["Wechatpay-Nonce"], reply.body)
        return (verifier or self.verifier()).verify(h["Wechatpay-Serial"], message, h["Wechatpay-Signature"])

    async def upload(self, path: str, filename: str, content: bytes, *, sha256: str | None = None) -> Reply:
        meta = json.dumps({"filename": filename, "sha256": sha256 or hashlib.sha256(content).hexdigest()}).encode()
        boundary = uuid.uuid4().hex
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n'.encode()
            + meta
            + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: image/png\r\n\r\n".encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return await self.request(
            "POST",
            path,
            raw_body=body,
            signed_body=meta,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )


def decrypt_resource(resource: dict[str, Any], apiv3_key: str) -> Any:
    return json.loads(aead_decrypt(apiv3_key, resource["nonce"], resource["associated_data"], resource["ciphertext"]))


@attrs.define
class Receiver:
    """A local notification endpoint that fails its first ``fail_first`` deliveries with 500."""

    fail_first: int = 0
    calls: list[tuple[dict[str, str], bytes]] = attrs.field(factory=list)
    url: str = ""
    got: asyncio.Event = attrs.field(factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        if len(self.calls) <= self.fail_first:
            return web.Response(status=500, text="not yet")
        self.got.set()
        return web.Response(status=204)


@asynccontextmanager
async def notify_endpoint(handle: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    """Serve ``handle`` at POST /notify on 127.0.0.1; yields the URL to give the emulator as notify_url.

    The notification tests differ only in what their endpoint does with a delivery.
    """
    app = web.Application()
    app.router.add_post("/notify", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/notify"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def receiver(fail_first: int = 0) -> AsyncIterator[Receiver]:
    rec = Receiver(fail_first=fail_first)
    async with notify_endpoint(rec.handle) as rec.url:
        yield rec


def stock_body(now: float, **overrides: Any) -> dict[str, Any]:
    """A valid cash-coupon stock per the developer guide."""
    import datetime as dt

    cst = dt.timezone(dt.timedelta(hours=8))
    begin = dt.datetime.fromtimestamp(int(now), cst)
    end = begin + dt.timedelta(days=30)
    use_rule = {
        "max_coupons": 10,
        "max_amount": 1000,
        "max_coupons_per_user": 5,
        "natural_person_limit": False,
        "prevent_api_abuse": False,
    }
    use_rule.update(overrides.pop("stock_use_rule", {}))
    body: dict[str, Any] = {
        "stock_name": "测试批次",
        "comment": "emulator test",
        "belong_merchant": "1900000001",
        "available_begin_time": begin.isoformat(),
        "available_end_time": end.isoformat(),
        "stock_use_rule": use_rule,
        "coupon_use_rule": {
            "fixed_normal_coupon": {"coupon_amount": 100, "transaction_minimum": 101},
            "available_merchants": ["1900000001"],
        },
        "no_cash": False,
        "stock_type": "NORMAL",
        "out_request_no": f"stock{uuid.uuid4().hex[:16]}",
    }
    body.update(overrides)
    return body


@asynccontextmanager
async def started(keys: EmulatorKeys, **options: Any) -> AsyncIterator[tuple[RunningEmulator, SigningClient]]:
    """An emulator on 127.0.0.1 with a fresh copy of ``keys`` and a signing client for it."""
    from wxpay_async.emulator import run_emulator

    clock = options.get("clock", time.time)
    async with run_emulator(keys=copy_keys(keys), **options) as running:
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            yield running, SigningClient(running, session, clock=clock)


async def running_stock(client: SigningClient, now: float | None = None, **overrides: Any) -> str:
    """Create and start a stock; returns its id."""
    reply = await client.post("/v3/marketing/favor/coupon-stocks", stock_body(now or client.clock(), **overrides))
    assert reply.status == 200, reply.body
    stock_id: str = reply.json()["stock_id"]
    started_reply = await client.post(
        f"/v3/marketing/favor/stocks/{stock_id}/start", {"stock_creator_mchid": client.mchid}
    )
    assert started_reply.status == 200, started_reply.body
    return stock_id


def send_body(client: SigningClient, stock_id: str, out_request_no: str, **extra: Any) -> dict[str, Any]:
    return {
        "stock_id": stock_id,
        "out_request_no": out_request_no,
        "appid": APPID,
        "stock_creator_mchid": client.mchid,
        **extra,
    }


def product_stock(
    remark: str, send_rule: dict[str, Any], coupon: dict[str, Any], *, mode: str = "WECHATPAY", **extra: Any
) -> dict[str, Any]:
    """A product-coupon stock usable offline for 7 days from now, with ``coupon`` in its single-usage rule.

    Every product-coupon test needs one; they differ in the send rule, the coupon kind and the
    display fields they add (``extra``), so the validity window and usage display are written once here.
    """
    now = time.time()
    return {
        "remark": remark,
        "coupon_code_mode": mode,
        "stock_send_rule": send_rule,
        "single_usage_rule": {
            "coupon_available_period": {
                "available_begin_time": rfc3339(now),
                "available_end_time": rfc3339(now + 7 * 86400),
            },
            **coupon,
        },
        "usage_rule_display_info": {"coupon_usage_method_list": ["OFFLINE"], "usage_description": "any"},
        **extra,
    }


#: The display fields a product-coupon stock created through the typed SDK carries in the tests.
STOCK_DISPLAY: dict[str, Any] = {
    "coupon_display_info": {"code_display_mode": "QRCODE"},
    "store_scope": "NONE",
    "notify_config": {"notify_appid": APPID},
}


def product_display(name: str = "满100减10") -> dict[str, Any]:
    """A product coupon's display_info (name, logo and background on WeChat's image host).

    The typed-SDK product-coupon tests need one each; only the name ever differs.
    """
    return {
        "name": name,
        "image_url": "https://wxpaylogo.qpic.cn/wxpaylogo/x/y",
        "background_url": "https://wxpaylogo.qpic.cn/wxpaylogo/x/z",
    }
