"""An aiohttp.web server receiving WeChat Pay notifications (COUPON.USE).

    python examples/aiohttp_notifications.py --emulator    # self-contained: local emulator, one notification
    python examples/aiohttp_notifications.py               # WXPAY_* variables; serves :8080/wxpay/notify

The handler verifies the signature with the client's live platform keys, decrypts the resource,
and runs ``on_notification`` once per notification id (re-deliveries are acknowledged).
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from wxpay_async import Client
from wxpay_async.emulator import create_running_stock, run_emulator
from wxpay_async.notifications import Notification, aiohttp_handler


def make_app(wx: Client, received: asyncio.Queue[Notification]) -> web.Application:
    async def on_notification(notification: Notification) -> None:
        if notification.event_type == "COUPON.USE":
            used = notification.coupon_use
            print(f"coupon {used.coupon_id} of stock {used.stock_id} was used ({used.status})")
        await received.put(notification)

    app = web.Application()
    app.router.add_post("/wxpay/notify", aiohttp_handler(wx.notification_handler(), on_notification))
    return app


async def serve(wx: Client, received: asyncio.Queue[Notification], port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(make_app(wx, received), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/wxpay/notify"


async def main(*, use_emulator: bool = False) -> int:
    received: asyncio.Queue[Notification] = asyncio.Queue()
    if not use_emulator:
        async with Client.from_env() as wx:
            runner, url = await serve(wx, received, 8080)
            print(f"listening on {url} (register it with wx.favor.set_callbacks); Ctrl-C to stop")
            try:
                await asyncio.Event().wait()
            finally:
                await runner.cleanup()
        return 0
    async with run_emulator(notify_retry_interval=0.2) as emu, Client(**emu.client_kwargs()) as wx:
        runner, url = await serve(wx, received, 0)
        try:
            await wx.favor.set_callbacks(mchid=wx.mchid, notify_url=url)
            stock_id = await create_running_stock(wx, max_coupons=1)
            coupon = await wx.favor.send_coupon(
                "example-user", stock_id=stock_id, appid="wx233544546545989", stock_creator_mchid=wx.mchid
            )
            emu.use_coupon(coupon.coupon_id)  # the user pays with it: WeChat Pay notifies us
            notification = await asyncio.wait_for(received.get(), 15)
        finally:
            await runner.cleanup()
    return 0 if notification.coupon_use.coupon_id == coupon.coupon_id else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(use_emulator="--emulator" in sys.argv)))
