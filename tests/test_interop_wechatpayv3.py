"""A client we did not write talks to the emulator: it speaks WeChat Pay, not only our dialect.

The community ``wechatpayv3`` package (sync client, public-key mode) signs its own requests and
verifies the emulator's answers with the platform public key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest

from wxpay_async import CHINA_TZ
from wxpay_async.emulator import run_emulator

wechatpayv3 = pytest.importorskip("wechatpayv3", reason="wechatpayv3 is a test-only dependency")


def _client(emu: Any) -> Any:
    from wechatpayv3 import WeChatPay, WeChatPayType

    wp = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=emu.mchid,
        private_key=emu.merchant_private_key_pem.decode(),
        cert_serial_no=emu.merchant_serial,
        appid="wx233544546545989",
        apiv3_key=emu.apiv3_key,
        public_key=emu.public_key_pem.decode(),
        public_key_id=emu.public_key_id,
        timeout=(5, 10),
    )
    wp._core._gate_way = emu.base_url  # the documented way to point it elsewhere is not public
    return wp


async def test_wechatpayv3_creates_starts_queries_and_sends() -> None:
    async with run_emulator(mode="public_key") as emu:
        wp = _client(emu)
        now = dt.datetime.now(CHINA_TZ).replace(microsecond=0)

        def journey() -> list[tuple[int, Any]]:
            steps = []
            code, text = wp.marketing_favor_stock_create(
                stock_name="互通测试",
                belong_merchant=emu.mchid,
                available_begin_time=(now - dt.timedelta(minutes=1)).isoformat(),
                available_end_time=(now + dt.timedelta(days=3)).isoformat(),
                stock_use_rule={
                    "max_coupons": 10,
                    "max_amount": 1000,
                    "max_coupons_per_user": 1,
                    "natural_person_limit": False,
                    "prevent_api_abuse": False,
                },
                coupon_use_rule={
                    "fixed_normal_coupon": {"coupon_amount": 100, "transaction_minimum": 200},
                    "available_merchants": [emu.mchid],
                },
                out_request_no="interop20261125001",
                no_cash=True,
            )
            steps.append((code, json.loads(text)))
            stock_id = json.loads(text)["stock_id"]
            code, text = wp.marketing_favor_stock_start(stock_creator_mchid=emu.mchid, stock_id=stock_id)
            steps.append((code, json.loads(text)))
            code, text = wp.marketing_favor_stock_detail(stock_creator_mchid=emu.mchid, stock_id=stock_id)
            steps.append((code, json.loads(text)))
            code, text = wp.marketing_favor_stock_send(
                stock_id=stock_id,
                openid="o-interop-user",
                out_request_no="interop20261125002",
                stock_creator_mchid=emu.mchid,
                appid="wx233544546545989",
            )
            steps.append((code, json.loads(text)))
            return steps

        (c1, created), (c2, started), (c3, detail), (c4, sent) = await asyncio.to_thread(journey)
    assert (c1, c2, c3, c4) == (200, 200, 200, 200), (created, started, detail, sent)
    assert detail["status"] == "running" and detail["stock_id"] == created["stock_id"]
    assert sent["coupon_id"]


async def test_wechatpayv3_tampered_key_is_refused() -> None:
    async with run_emulator(mode="public_key") as emu:
        from wxpay_async.devkeys import generate_key_pair

        wp = _client(emu)
        wp._core._private_key = generate_key_pair("intruder").private_key  # signs with the wrong key

        def call() -> tuple[int, Any]:
            code, text = wp.marketing_favor_stock_detail(stock_creator_mchid=emu.mchid, stock_id="1")
            return code, json.loads(text)

        code, body = await asyncio.to_thread(call)
    assert code == 401 and body["code"] == "SIGN_ERROR"
