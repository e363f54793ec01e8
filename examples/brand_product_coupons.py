"""A brand that connects directly (品牌直连): product coupons under its own identity.

    python examples/brand_product_coupons.py --emulator     # against the built-in emulator
    WXPAY_BRAND_ID=... python examples/brand_product_coupons.py   # for real (see docs/guides/brand.md)

The brand creates a product coupon with its first stock, adds a second stock, sends a coupon to a
user, receives the ``PRODUCT_COUPON.SEND`` notification (verified with the WeChat Pay public key,
decrypted with the brand API key), confirms the coupon as the notification asks, uses it, and
queries it. No ``brand_id`` goes into any body or query: the brand is who signs.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from aiohttp import web

from wxpay_async import Client
from wxpay_async.models.brand_product_coupon import CreateStockStockParam
from wxpay_async.notifications import Notification

APPID = "wx233544546545989"  # an AppID bound to the brand (the official samples' literal)


def stock(now: float, remark: str) -> CreateStockStockParam:
    """A stock of the coupon: 1,000 coupons, one per user, valid for 30 days from ``now``."""
    cst = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(now + 8 * 3600))
    end = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(now + 8 * 3600 + 30 * 86400))
    return {
        "remark": remark,
        "coupon_code_mode": "WECHATPAY",
        "stock_send_rule": {"max_count": 1000, "max_count_per_user": 1},
        "single_usage_rule": {"coupon_available_period": {"available_begin_time": cst, "available_end_time": end}},
        "usage_rule_display_info": {"coupon_usage_method_list": ["OFFLINE"], "usage_description": "到店使用"},
        "coupon_display_info": {"code_display_mode": "QRCODE"},
        "store_scope": "NONE",
        "notify_config": {"notify_appid": APPID},
    }


def product_coupon(now: float) -> dict[str, Any]:
    """满100减10, all products (scope ALL), single use; the first stock comes with it."""
    return {
        "scope": "ALL",
        "type": "NORMAL",
        "usage_mode": "SINGLE",
        "single_usage_info": {"normal_coupon": {"threshold": 10000, "discount_amount": 1000}},
        "display_info": {
            "name": "满100减10",
            "image_url": "https://wxpaylogo.qpic.cn/wxpaylogo/x/y",
            "background_url": "https://wxpaylogo.qpic.cn/wxpaylogo/x/z",
        },
        "stock": stock(now, "first stock"),
    }


async def lifecycle(wx: Client, notify_url: str, inbox: asyncio.Queue[Notification]) -> int:
    coupons = wx.brand_product_coupon
    await coupons.set_notify_config(notify_url=notify_url)
    spec = product_coupon(time.time())
    product = await coupons.create_product_coupon(**spec)
    product_id = str(product.product_coupon_id)
    second = await coupons.create_stock(product_id, stock=stock(time.time(), "second stock"))
    stock_id = str(second.stock_id)
    print(f"product coupon {product_id}, stocks {product.stock.stock_id if product.stock else '-'} and {stock_id}")

    sent = await coupons.send_coupon("user-openid", appid=APPID, product_coupon_id=product_id, stock_id=stock_id)
    print(f"sent coupon {sent.coupon_code}: {sent.coupon_state}")
    note = await asyncio.wait_for(inbox.get(), 10)
    event = note.product_coupon_send  # PRODUCT_COUPON.SEND: confirm, or the coupon never takes effect
    print(f"notification {note.event_type} for coupon {event.coupon_code}")
    code = str(event.coupon_code)
    confirmed = await coupons.confirm_coupon(
        "user-openid", code, appid=APPID, product_coupon_id=product_id, stock_id=stock_id
    )
    used = await coupons.use_coupon(
        "user-openid",
        code,
        appid=APPID,
        product_coupon_id=product_id,
        stock_id=stock_id,
        use_time=time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(time.time() + 8 * 3600)),
        associated_order_info={"transaction_id": "4200000001202508011234567890"},
    )
    got = await coupons.get_user_coupon(
        "user-openid", code, appid=APPID, product_coupon_id=product_id, stock_id=stock_id
    )
    print(f"confirmed: {confirmed.coupon_state}, used: {used.coupon_state}, now: {got.coupon_state}")
    return 0 if got.coupon_state == "USED" else 1


async def main(*, use_emulator: bool = True) -> int:
    inbox: asyncio.Queue[Notification] = asyncio.Queue()

    async def receive(wx: Client) -> tuple[web.AppRunner, str]:
        handler = wx.notification_handler()

        async def notify(request: web.Request) -> web.Response:
            await inbox.put(handler.parse(dict(request.headers), await request.read()))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/wxpay/notify", notify)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/wxpay/notify"

    if not use_emulator:  # WXPAY_BRAND_ID, WXPAY_BRAND_SERIAL, ... (docs/guides/brand.md)
        async with Client.from_env() as wx:
            runner, _ = await receive(wx)
            try:
                return await lifecycle(wx, "https://example.com/wxpay/notify", inbox)  # your public HTTPS URL
            finally:
                await runner.cleanup()

    from wxpay_async.emulator import run_emulator

    async with run_emulator() as emu, Client(**emu.brand_client_kwargs()) as wx:
        runner, url = await receive(wx)
        try:
            return await lifecycle(wx, url, inbox)
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(use_emulator="--emulator" in sys.argv)))
