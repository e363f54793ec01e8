"""Notification endpoints as users mount them: FastAPI/Starlette routes, a real uvicorn server, aiohttp.

WeChat Pay is not documented to follow redirects, so the endpoint must answer at the registered
URL itself; the emulator's notifier does not follow redirects either (a 3xx is a failed delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from wxpay_async import Client
from wxpay_async.devkeys import KeyPair
from wxpay_async.emulator import RunningEmulator, create_running_stock, run_emulator
from wxpay_async.notifications import Notification, NotificationHandler, asgi_app, starlette_endpoint

from .test_notifications import COUPON_USE, notification

fastapi = pytest.importorskip("fastapi", reason="fastapi is in the test extra; not installed here")
starlette_routing = pytest.importorskip(
    "starlette.routing", reason="starlette is in the test extra; not installed here"
)
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is in the test extra; not installed here")

APPID = "wx233544546545989"


async def _post(app: Any, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.post(path, content=body, headers=headers)


async def test_starlette_route_answers_at_the_path_without_redirect(
    handler: NotificationHandler, platform_keys: KeyPair, apiv3_key: str
) -> None:
    from starlette.applications import Starlette

    got: list[str] = []

    async def callback(n: Notification) -> None:
        got.append(n.id)

    app = Starlette(
        routes=[starlette_routing.Route("/wxpay/notify", starlette_endpoint(handler, callback), methods=["POST"])]
    )
    headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE)
    r = await _post(app, "/wxpay/notify", headers, body)
    assert r.status_code == 200 and r.json() == {"code": "SUCCESS", "message": "OK"}
    bad = await _post(app, "/wxpay/notify", headers, body + b" ")
    assert bad.status_code == 401 and bad.json()["code"] == "FAIL"
    big = await _post(app, "/wxpay/notify", headers, b"x" * (70 * 1024))
    assert big.status_code == 413
    assert got == ["EV-2018022511223320873"]


async def test_fastapi_post_decorator_and_add_route(
    handler: NotificationHandler, platform_keys: KeyPair, apiv3_key: str
) -> None:
    got: list[str] = []

    async def callback(n: Notification) -> None:
        got.append(n.event_type)

    app = fastapi.FastAPI()
    endpoint = starlette_endpoint(handler, callback)
    app.post("/wxpay/notify")(endpoint)
    app.add_route("/wxpay/notify2", endpoint, methods=["POST"])
    # asgi_app is an ASGI object, so a route uses it as such (no redirect) too.
    app.add_route("/wxpay/notify3", asgi_app(handler, callback), methods=["POST"])
    for i, path in enumerate(["/wxpay/notify", "/wxpay/notify2", "/wxpay/notify3"]):
        headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE, nid=f"N{i}")
        r = await _post(app, path, headers, body)
        assert r.status_code == 200, (path, r.status_code, r.text)
        assert r.json()["code"] == "SUCCESS"
    assert got == ["COUPON.USE"] * 3
    # FastAPI injected the Request: no query parameter named "request" was invented.
    assert "parameters" not in app.openapi()["paths"]["/wxpay/notify"]["post"]


async def test_mounting_asgi_app_redirects_the_bare_path(
    handler: NotificationHandler, platform_keys: KeyPair, apiv3_key: str
) -> None:
    """The documented pitfall: a mount answers POST /wxpay/notify with 307 (register the slash form)."""

    async def callback(n: Notification) -> None:
        pass

    app = fastapi.FastAPI()
    app.mount("/wxpay/notify", asgi_app(handler, callback))
    headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE)
    assert (await _post(app, "/wxpay/notify", headers, body)).status_code == 307
    assert (await _post(app, "/wxpay/notify/", headers, body)).status_code == 200


@contextlib.asynccontextmanager
async def _uvicorn(app: Any) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def _use_a_coupon(emu: RunningEmulator, wx: Client, notify_url: str) -> str:
    await wx.favor.set_callbacks(mchid=wx.mchid, notify_url=notify_url)
    stock_id = await create_running_stock(wx, max_coupons=2)
    sent = await wx.favor.send_coupon("user-1", stock_id=stock_id, appid=APPID, stock_creator_mchid=wx.mchid)
    emu.use_coupon(sent.coupon_id)
    return sent.coupon_id


async def test_fastapi_app_with_client_in_lifespan_receives_emulator_notifications() -> None:
    """The recipe of the README: Client created in the lifespan, endpoint added with app.post."""
    received: asyncio.Queue[Notification] = asyncio.Queue()
    async with run_emulator(notify_retry_interval=0.05, notify_max_attempts=3) as emu:

        @contextlib.asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[None]:
            async with Client(**emu.client_kwargs()) as wx:
                app.state.wx = wx

                async def on_notification(n: Notification) -> None:
                    await received.put(n)

                app.post("/wxpay/notify")(starlette_endpoint(wx.notification_handler(), on_notification))
                yield

        app = fastapi.FastAPI(lifespan=lifespan)
        async with _uvicorn(app) as base, Client(**emu.client_kwargs()) as wx:
            coupon_id = await _use_a_coupon(emu, wx, base + "/wxpay/notify")
            got = await asyncio.wait_for(received.get(), 10)
            assert got.coupon_use.coupon_id == coupon_id
            await asyncio.wait_for(emu.emulator.notifier.wait_idle(), 10)
            record = emu.emulator.notifier.deliveries[-1]
            assert record["delivered"] and record["statuses"] == [200]


async def test_emulator_does_not_follow_redirects() -> None:
    """A 307 to a URL that would answer 200 is still a failed delivery: WeChat Pay does not follow it."""
    hits: list[str] = []

    async def redirect(request: web.Request) -> web.Response:
        hits.append("redirect")
        raise web.HTTPTemporaryRedirect("/wxpay/notify/")

    async def ok(request: web.Request) -> web.Response:
        hits.append("ok")
        return web.json_response({"code": "SUCCESS", "message": "OK"})

    app = web.Application()
    app.router.add_post("/wxpay/notify", redirect)
    app.router.add_post("/wxpay/notify/", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with run_emulator(notify_retry_interval=0.01, notify_max_attempts=2) as emu:
            async with Client(**emu.client_kwargs()) as wx:
                await _use_a_coupon(emu, wx, f"http://127.0.0.1:{port}/wxpay/notify")
            await asyncio.wait_for(emu.emulator.notifier.wait_idle(), 10)
            record = emu.emulator.notifier.deliveries[-1]
    finally:
        await runner.cleanup()
    assert record["statuses"] == [307, 307]
    assert not record["delivered"] and record["gave_up"]
    assert hits == ["redirect", "redirect"]


async def test_real_aiohttp_app_receives_emulator_notifications() -> None:
    from wxpay_async.notifications import aiohttp_handler

    received: asyncio.Queue[Notification] = asyncio.Queue()

    async def on_notification(n: Notification) -> None:
        await received.put(n)

    async with run_emulator(notify_retry_interval=0.05) as emu, Client(**emu.client_kwargs()) as wx:
        app = web.Application()
        app.router.add_post("/wxpay/notify", aiohttp_handler(wx.notification_handler(), on_notification))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            coupon_id = await _use_a_coupon(emu, wx, f"http://127.0.0.1:{runner.addresses[0][1]}/wxpay/notify")
            got = await asyncio.wait_for(received.get(), 10)
        finally:
            await runner.cleanup()
    assert got.coupon_use.coupon_id == coupon_id


def test_synchronous_parse_for_django_and_flask(
    handler: NotificationHandler, platform_keys: KeyPair, apiv3_key: str
) -> None:
    """The Django/Flask recipe: parse() is synchronous and needs no event loop."""
    headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE)
    parsed = handler.parse(headers, body)
    assert parsed.coupon_use.coupon_id == COUPON_USE["coupon_id"]
