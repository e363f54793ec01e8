"""Merchant coupons checked against outside evidence (an independent review of issue #21).

Each test names the outside source it holds the SDK to:

- ``use_request_no`` is ``string[1,32]`` on the official 核销用户券 page
  (https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter9_2_3.shtml, read through its copy at
  https://payapp.weixin.qq.com/wiki/doc/apiv3/apis/chapter9_2_3.shtml: "核销请求单据号 | use_request_no |
  string[1,32] | 是"), while every other merchant-coupon request number is ``[1,128]``;
- ``deactivate_reason`` is ``string(64)`` on the official 使券失效 page
  (https://pay.weixin.qq.com/doc/v3/merchant/4015716887, copy at pay.wechatpay.cn);
- the H5 send page's ``out_request_no`` "可包含英文字母、数字，不允许出现其他不合法符号"
  (https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter9_4_1.shtml, copy at payapp.weixin.qq.com);
- the ``COUPON.SEND`` plaintext of wechatpay-im/website@df908943a804ff79afe2147985a6f8b3fa07a070:
  webhook/v3/COUPON.SEND.md (the wechatpay-php maintainers' transcription of chapter9_2_15).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from wxpay_async import Client
from wxpay_async.emulator import RunningEmulator, rfc3339, run_emulator
from wxpay_async.errors import APIStatusError, ValidationError
from wxpay_async.merchant_coupon_sign import h5_send_params

APPID = "wx233544546545989"


def _stock_args() -> dict[str, Any]:
    now = time.time()
    return {
        "stock_name": "review",
        "belong_merchant": "1900000001",
        "goods_name": "all goods",
        "stock_type": "NORMAL",
        "coupon_use_rule": {
            "coupon_available_time": {
                "available_begin_time": rfc3339(now - 60),
                "available_end_time": rfc3339(now + 86400),
            },
            "fixed_normal_coupon": {"discount_amount": 100, "transaction_minimum": 1000},
            "use_method": "OFF_LINE",
        },
        "stock_send_rule": {"max_coupons": 10, "max_coupons_per_user": 5},
        "coupon_code_mode": "WECHATPAY_MODE",
    }


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    async with run_emulator() as running:
        yield running


@pytest.fixture
async def wx(emu: RunningEmulator) -> AsyncIterator[Client]:
    async with Client(**emu.client_kwargs()) as client:
        yield client


async def _sent(wx: Client) -> tuple[str, str]:
    stock_id = (await wx.merchant_coupon.create_stock(**_stock_args())).stock_id
    answer = await wx.merchant_coupon.send_coupon(openid="o-review", appid=APPID, stock_id=stock_id)
    assert answer.send_coupon_result is not None
    return stock_id, answer.send_coupon_result.coupon_code


async def test_a_use_request_no_over_32_characters_is_refused_before_sending(wx: Client) -> None:
    with pytest.raises(ValidationError) as refused:
        await wx.merchant_coupon.use_coupon(
            appid=APPID, coupon_code="1" * 22, use_time=rfc3339(time.time()), use_request_no="U" * 33
        )
    assert "use_request_no" in str(refused.value)


async def test_the_filled_use_request_no_fits_the_official_32(wx: Client, emu: RunningEmulator) -> None:
    stock_id, code = await _sent(wx)
    assert len(emu.mchid) >= 10  # the client's prefix: mchid + 14-digit time + 16 hex would be 40
    used = await wx.merchant_coupon.use_coupon(
        appid=APPID, coupon_code=code, stock_id=stock_id, use_time=rfc3339(time.time())
    )
    assert used.wechatpay_use_time
    coupon = await wx.merchant_coupon.get_user_coupon("o-review", code, APPID)
    number = coupon.use_request_no or ""
    assert 1 <= len(number) <= 32, number


async def test_the_emulator_refuses_a_33_character_use_request_no(emu: RunningEmulator) -> None:
    async with Client(**emu.client_kwargs(), validate=False) as raw:
        stock_id, code = await _sent(raw)
        with pytest.raises(APIStatusError) as refused:
            await raw.merchant_coupon.use_coupon(
                appid=APPID,
                coupon_code=code,
                stock_id=stock_id,
                use_time=rfc3339(time.time()),
                use_request_no="U" * 33,
            )
    assert (refused.value.status, refused.value.code) == (400, "PARAM_ERROR")


async def test_a_deactivate_reason_over_64_characters_is_refused(wx: Client) -> None:
    with pytest.raises(ValidationError) as refused:
        await wx.merchant_coupon.deactivate_coupon(coupon_code="1" * 22, stock_id="1", deactivate_reason="原" * 65)
    assert "deactivate_reason" in str(refused.value)


def test_h5_out_request_no_is_letters_and_digits_only() -> None:
    common = {"stock_id": "1234567890000000", "send_coupon_merchant": "123456789", "open_id": "oiSF"}
    signed = h5_send_params(out_request_no="201911280000", apiv2_key="k" * 32, **common)
    assert signed["out_request_no"] == "201911280000" and len(signed["sign"]) == 64
    for bad in ("2019-1128", "2019_1128", "a|b", "a*b", "x" * 129):
        with pytest.raises(ValidationError) as refused:
            h5_send_params(out_request_no=bad, apiv2_key="k" * 32, **common)
        assert "out_request_no" in str(refused.value)


#: The plaintext of wechatpay-im/website@df908943a804ff79afe2147985a6f8b3fa07a070:webhook/v3/COUPON.SEND.md.
OFFICIAL_SEND_PLAINTEXT = {
    "event_type": "EVENT_TYPE_BUSICOUPON_SEND",
    "coupon_code": "1227944959000000911017",
    "stock_id": "1286950000000039",
    "send_time": "2019-12-17T10:35:53+08:00",
    "openid": "odXnH1CJjeQoWTld48db-pnxs-Wg",
    "unionid": "oOuyajgxj0oVwjocSoQm6mp7PGKw",
    "send_channel": "BUSICOUPON_SEND_CHANNEL_PAYGIFT",
    "send_merchant": "98568888",
    "attach_info": {"transaction_id": "4200000462220200226114599", "act_code": "540358695"},
}


def test_the_official_coupon_send_plaintext_is_typed() -> None:
    import datetime as dt

    from wxpay_async.merchant_coupon_notifications import (
        SEND_CHANNELS,
        MerchantCouponSendResource,
        merchant_coupon_send,
    )
    from wxpay_async.notifications import MalformedNotificationError, Notification

    envelope = {
        "id": "EV-2018022511223320873",
        "create_time": dt.datetime(2015, 5, 20, 13, 29, 35, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        "resource_type": "encrypt-resource",
        "summary": "商家券用户领券通知",
    }
    notification = Notification(event_type="COUPON.SEND", resource=dict(OFFICIAL_SEND_PLAINTEXT), **envelope)
    sent = merchant_coupon_send(notification)
    assert isinstance(notification.model, MerchantCouponSendResource) and notification.model == sent
    assert (sent.coupon_code, sent.stock_id, sent.send_merchant) == (
        "1227944959000000911017",
        "1286950000000039",
        "98568888",
    )
    assert sent.send_time == dt.datetime(2019, 12, 17, 2, 35, 53, tzinfo=dt.UTC)
    assert sent.send_channel in SEND_CHANNELS and sent.attach_info is not None
    assert (sent.attach_info.transaction_id, sent.attach_info.act_code) == ("4200000462220200226114599", "540358695")
    lean = {k: v for k, v in OFFICIAL_SEND_PLAINTEXT.items() if k not in ("unionid", "attach_info")}
    assert merchant_coupon_send(Notification(event_type="COUPON.SEND", resource=lean, **envelope)).attach_info is None
    with pytest.raises(MalformedNotificationError):
        merchant_coupon_send(Notification(event_type="COUPON.USE", resource=lean, **envelope))
    lenient = merchant_coupon_send(  # answers are read leniently: missing -> None, unknown -> extra
        Notification(event_type="COUPON.SEND", resource={"coupon_code": "1", "new_field": 2}, **envelope)
    )
    assert (lenient.stock_id, lenient.extra) == (None, {"new_field": 2})


async def test_the_emulator_send_notification_fits_the_typed_model(wx: Client, emu: RunningEmulator) -> None:
    import asyncio

    from wxpay_async.crypto import Verifier, load_certificate
    from wxpay_async.merchant_coupon_notifications import merchant_coupon_send
    from wxpay_async.notifications import NotificationHandler

    from .emulator_helpers import receiver

    async with receiver() as rec:
        await wx.merchant_coupon.set_callbacks(mchid=emu.mchid, notify_url=rec.url)
        stock_id, code = await _sent(wx)
        await asyncio.wait_for(rec.got.wait(), 10)
    headers, body = rec.calls[-1]
    verifier = Verifier([load_certificate(p) for p in emu.platform_certificates_pem], emu.public_key, emu.public_key_id)
    sent = merchant_coupon_send(NotificationHandler(verifier, emu.apiv3_key).parse(headers, body))
    assert (sent.event_type, sent.coupon_code, sent.stock_id, sent.openid) == (
        "EVENT_TYPE_BUSICOUPON_SEND",
        code,
        stock_id,
        "o-review",
    )
    assert sent.send_channel == "BUSICOUPON_SEND_CHANNEL_API" and sent.attach_info is None
