"""A FastAPI coupon-granting service: POST /grant sends a cash coupon, POST /wxpay/notify receives notifications.

    python examples/fastapi_coupons.py --emulator   # self-contained: emulator, uvicorn, one grant, one notification
    WXPAY_STOCK_ID=... uvicorn examples.fastapi_coupons:app   # for real (WXPAY_* variables)

The Client lives in the app's lifespan (one connection pool per process, closed on shutdown).
The notification endpoint is a route, not a mount: it answers at exactly /wxpay/notify
(a mount would answer with a 307 redirect, which WeChat Pay does not follow).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request

from wxpay_async import Client, ClientKwargs
from wxpay_async.errors import APIStatusError
from wxpay_async.notifications import Notification, starlette_endpoint

APPID = os.environ.get("WXPAY_APPID", "wx233544546545989")


def create_app(client_kwargs: ClientKwargs | None = None) -> FastAPI:
    """The service; ``client_kwargs`` for a given Client (tests, the emulator), else ``Client.from_env()``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None]:
        wx = Client(**client_kwargs) if client_kwargs else Client.from_env()
        async with wx:
            app.state.wx = wx
            app.state.used = asyncio.Queue()
            app.add_route(
                "/wxpay/notify", starlette_endpoint(wx.notification_handler(), on_notification), methods=["POST"]
            )
            yield

    app = FastAPI(lifespan=lifespan)

    async def on_notification(notification: Notification) -> None:
        if notification.event_type == "COUPON.USE":
            await app.state.used.put(notification.coupon_use.coupon_id)

    @app.post("/grant")
    async def grant(request: Request, openid: str, stock_id: str) -> dict[str, str | None]:
        wx: Client = request.app.state.wx
        try:
            coupon = await wx.favor.send_coupon(openid, stock_id=stock_id, appid=APPID, stock_creator_mchid=wx.mchid)
        except APIStatusError as exc:
            raise HTTPException(status_code=409 if exc.status < 500 else 502, detail=exc.code or str(exc)) from None
        return {"coupon_id": coupon.coupon_id, "request_number": coupon.out_request_no, "request_id": coupon.request_id}

    return app


app = create_app() if os.environ.get("WXPAY_MCHID") else None


async def main(*, use_emulator: bool = True) -> int:
    import httpx
    import uvicorn

    from wxpay_async.emulator import create_running_stock, run_emulator

    async with run_emulator(notify_retry_interval=0.2) as emu:
        service = create_app(emu.client_kwargs())
        server = uvicorn.Server(uvicorn.Config(service, host="127.0.0.1", port=0, log_level="warning"))
        task = asyncio.create_task(server.serve())
        try:
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
            base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
            wx: Client = service.state.wx
            await wx.favor.set_callbacks(mchid=wx.mchid, notify_url=base + "/wxpay/notify")
            stock_id = await create_running_stock(wx, max_coupons=5)
            async with httpx.AsyncClient(base_url=base) as http:
                r = await http.post("/grant", params={"openid": "example-user", "stock_id": stock_id})
                r.raise_for_status()
                granted = r.json()
            print(f"granted coupon {granted['coupon_id']} (request number {granted['request_number']})")
            emu.use_coupon(granted["coupon_id"])
            used = await asyncio.wait_for(service.state.used.get(), 15)
            print(f"notified: coupon {used} was used")
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 15)
    return 0 if used == granted["coupon_id"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(use_emulator=True)))
