"""The README's main job: the demo must keep working end to end."""

from __future__ import annotations

import io

from wxpay_async.demo import run_demo


async def test_demo_runs_every_step() -> None:
    out = io.StringIO()
    assert await run_demo(coupons=8, out=out) == 0
    text = out.getvalue()
    for step in (
        "Created a cash-coupon stock",
        "Activated the stock",
        "Sent 8 coupons concurrently",
        "COUPON.USE",
        "Downloaded the use flow",
        "Stopped the stock",
        "0 issued twice",
        "Done",
    ):
        assert step in text, f"missing step {step!r} in:\n{text}"
