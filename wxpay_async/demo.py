"""``wxpay-async demo``: the whole cash-coupon journey against the built-in emulator.

create stock → start → send coupons concurrently → query → pause/restart → use a coupon and
receive the signed, encrypted COUPON.USE notification → download and verify the use flow →
pause the campaign, stop a second stock that was never activated (StopStock only ends a stock
that is "未激活") → prove from the emulator's ledger that every request number issued exactly one coupon.
No credentials, no network beyond 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any, TextIO

from aiohttp import web

from . import Client
from .emulator import sample_stock
from .errors import APIStatusError
from .flows import iter_flow_rows, typed_rows

APPID = "wx233544546545989"


class _Printer:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.step = 0
        self.started = time.perf_counter()

    def __call__(self, title: str, *details: str) -> None:
        self.step += 1
        elapsed = (time.perf_counter() - self.started) * 1000
        self.out.write(f"\n[{self.step:>2}] {title}  (+{elapsed:.0f} ms)\n")
        for line in details:
            self.out.write(f"     {line}\n")
        self.out.flush()


async def _notification_receiver(wx: Client, received: asyncio.Queue[Any]) -> tuple[web.AppRunner, str]:
    """A merchant's notify endpoint on 127.0.0.1, built with the SDK's own aiohttp adapter."""
    from .notifications import aiohttp_handler

    async def on_notification(notification: Any) -> None:
        await received.put(notification)

    app = web.Application()
    app.router.add_post("/wxpay/notify", aiohttp_handler(wx.notification_handler(), on_notification))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/wxpay/notify"


async def run_demo(*, coupons: int = 20, out: TextIO) -> int:
    from .emulator import run_emulator

    say = _Printer(out)
    async with run_emulator(notify_retry_interval=1.0, allow_http_notify_url=True) as emu:
        say(
            "Started the WeChat Pay emulator",
            f"{emu.base_url}  merchant {emu.mchid}  platform public key {emu.public_key_id}",
            "requests are verified with the merchant certificate; answers are signed like WeChat Pay's",
        )
        async with Client(**emu.client_kwargs(mode="public_key"), sign_in_thread=True) as wx:
            received: asyncio.Queue[Any] = asyncio.Queue()
            receiver, notify_url = await _notification_receiver(wx, received)
            try:
                return await _journey(wx, emu, say, received, notify_url, coupons)
            finally:
                await receiver.cleanup()


async def _journey(
    wx: Client, emu: Any, say: _Printer, received: asyncio.Queue[Any], notify_url: str, coupons: int
) -> int:
    mchid = wx.mchid
    body = sample_stock(
        mchid,
        max_coupons=coupons + 5,
        coupon_amount=1000,
        transaction_minimum=10000,
        name="满100减10",
        starts_in=dt.timedelta(seconds=1),
        lasts=dt.timedelta(days=30),
    )
    stock = await wx.favor.create_stock(**body, comment="wxpay_async demo")
    stock_id = stock.stock_id
    say(
        "Created a cash-coupon stock: 10 yuan off 100, 1 per user",
        f"wx.favor.create_stock → stock_id {stock_id}, out_request_no {stock.out_request_no} (filled by the SDK)",
    )

    started = await wx.favor.start_stock(stock_id, stock_creator_mchid=mchid)
    say("Activated the stock", f"wx.favor.start_stock → start_time {started.start_time}")

    await wx.favor.set_callbacks(mchid=mchid, notify_url=notify_url)
    say("Registered the notification URL", f"wx.favor.set_callbacks → {notify_url}")

    await asyncio.sleep(max(0.0, dt.datetime.fromisoformat(body["available_begin_time"]).timestamp() - time.time()))
    emu.push_faults(
        {"kind": "system_error", "path_prefix": "/v3/marketing/favor/users/"},
        {"kind": "drop_after", "path_prefix": "/v3/marketing/favor/users/"},
    )
    t0 = time.perf_counter()
    sent = await asyncio.gather(
        *(
            wx.favor.send_coupon(f"demo-user-{i:03d}", stock_id=stock_id, appid=APPID, stock_creator_mchid=mchid)
            for i in range(coupons)
        )
    )
    elapsed = time.perf_counter() - t0
    say(
        f"Sent {coupons} coupons concurrently in {elapsed * 1000:.0f} ms",
        "the emulator was told to fail one send with 500 SYSTEM_ERROR and to drop the connection",
        "after processing another: both were retried with the same out_request_no",
        f"first: coupon {sent[0].coupon_id} (request number {sent[0].out_request_no})",
    )

    info = await wx.favor.get_stock(stock_id, stock_creator_mchid=mchid)
    say("Queried the stock", f"status {info.status}, distributed_coupons {info.distributed_coupons}")

    coupon_id = sent[0].coupon_id
    coupon = await wx.favor.get_user_coupon("demo-user-000", coupon_id, appid=APPID)
    say("Queried one coupon", f"{coupon_id}: {coupon.status}, {coupon.coupon_name}")

    await wx.favor.pause_stock(stock_id, stock_creator_mchid=mchid)
    try:
        await wx.favor.send_coupon("late-user", stock_id=stock_id, appid=APPID, stock_creator_mchid=mchid)
        refused = "unexpectedly accepted"
    except APIStatusError as exc:
        refused = f"refused: HTTP {exc.status} {exc.code} (request number {exc.idempotency_key})"
    await wx.favor.restart_stock(stock_id, stock_creator_mchid=mchid)
    say("Paused the stock, tried one more send, restarted", f"send while paused {refused}")

    emu.use_coupon(coupon_id, order_amount=12800)
    notification = await asyncio.wait_for(received.get(), timeout=15)
    used = notification.coupon_use
    say(
        "The user paid with the coupon; WeChat Pay notified us",
        f"event {notification.event_type}, id {notification.id}: signature verified, resource decrypted",
        f"coupon {used.coupon_id} is {used.status}",
    )

    flow = await wx.favor.get_use_flow(stock_id)
    data = await wx.favor.download_flow(flow)
    rows = list(typed_rows(iter_flow_rows(data)))
    first = rows[0] if rows else None
    say(
        "Downloaded the use flow",
        f"{len(data)} bytes, {flow.hash_type} {flow.hash_value} checked before parsing",
        f"{len(rows)} row(s); first: coupon {first.coupon_id if first else '-'}, "
        f"{first.discount_amount if first else 0} fen off an order of {first.order_amount if first else 0} fen, "
        f"paid in {first.transaction_id if first else '-'}",
    )

    paused = await wx.favor.pause_stock(stock_id, stock_creator_mchid=mchid)
    spare = await wx.favor.create_stock(
        **sample_stock(mchid, max_coupons=5, name="备用批次", starts_in=dt.timedelta(minutes=5)), comment="spare"
    )
    stopped = await wx.favor.stop_stock(spare.stock_id, stock_creator_mchid=mchid)
    say(
        "Paused the campaign; Stopped the stock that was never activated",
        f"wx.favor.pause_stock({stock_id}) → pause_time {paused.pause_time}",
        f"wx.favor.stop_stock({spare.stock_id}) → stop_time {stopped.stop_time}"
        " (StopStock ends only a stock that is 未激活; a running one is paused instead)",
    )

    ledger = emu.ledger()
    requests = [r for r in ledger["requests"] if r["kind"] == "cash" and r.get("issued")]
    coupons_issued = [c for c in ledger["coupons"] if c["kind"] == "cash"]
    twice = [r for r in requests if r["issued"] != 1]
    replays = sum(max(0, r.get("processed", 1) - 1) for r in requests)
    say(
        "Checked the emulator's ledger",
        f"{len(coupons_issued)} coupons issued for {len(requests)} request numbers; {len(twice)} issued twice",
        f"{replays} request(s) were replayed by retries and answered with the original coupon",
    )
    ok = len({r.coupon_id for r in sent}) == coupons and not twice and used.coupon_id == coupon_id
    say("Done" if ok else "FAILED", "every step above ran against real signatures and real AES-GCM")
    return 0 if ok else 1
