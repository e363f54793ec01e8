"""A test module as an application using wxpay_async would write it, with the testing kit.

    pip install 'wxpay-async[testing]'
    pytest examples/test_with_testing_kit.py

The ``wxpay_mock`` fixture comes from the pytest plugin wxpay_async installs: no conftest is
needed. It answers aiohttp requests (the SDK's default transport) with answers signed by a test
platform key, so the SDK verifies them exactly as it verifies WeChat Pay's. The tests are
marked ``asyncio`` so they run in pytest-asyncio's strict and auto modes alike.
"""

from __future__ import annotations

import pytest

from wxpay_async import Client
from wxpay_async.errors import SignatureVerificationError
from wxpay_async.notifications import Notification
from wxpay_async.testing import WeChatPayMock

APPID = "wx233544546545989"
STOCK_ID = "9856000"


# -- the application code under test ------------------------------------------------------------
async def give_coupon(wx: Client, openid: str) -> str:
    """Send the user a cash coupon from our stock; the coupon id."""
    sent = await wx.favor.send_coupon(openid, appid=APPID, stock_id=STOCK_ID, stock_creator_mchid=wx.mchid)
    return sent.coupon_id


used_coupons: list[str] = []


async def on_notification(notification: Notification) -> None:
    """Our COUPON.USE callback: remember which coupon was used."""
    used_coupons.append(notification.coupon_use.coupon_id)


# -- the tests ------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_give_coupon(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.add("favor.send_coupon", json={"coupon_id": "9867041"})
    async with wxpay_mock.client() as wx:
        assert await give_coupon(wx, "oUser1") == "9867041"

    (call,) = wxpay_mock.calls
    assert call.method == "POST" and call.path == "/v3/marketing/favor/users/oUser1/coupons"
    body = call.json  # the JSON body as sent; None for a GET
    assert body is not None and body["stock_id"] == STOCK_ID and body["appid"] == APPID
    assert call.signed  # the Authorization header signed exactly the bytes sent


@pytest.mark.asyncio
async def test_rate_limited_then_sent(wxpay_mock: WeChatPayMock) -> None:
    # WeChat Pay says "slow down" once; the SDK waits (Retry-After) and sends the same request again.
    wxpay_mock.add("favor.send_coupon", status=429, code="FREQUENCY_LIMITED", message="slow down", retry_after=1)
    wxpay_mock.add("favor.send_coupon", json={"coupon_id": "9867042"})
    async with wxpay_mock.client() as wx:
        assert await give_coupon(wx, "oUser2") == "9867042"

    first, second = wxpay_mock.calls
    # Same request number on the retry: WeChat Pay sends one coupon, however many attempts.
    assert first.json is not None and second.json is not None
    assert first.json["out_request_no"] == second.json["out_request_no"]


@pytest.mark.asyncio
async def test_forged_answer_is_refused(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.add("favor.send_coupon", json={"coupon_id": "forged"}, tamper=True)
    async with wxpay_mock.client() as wx:
        with pytest.raises(SignatureVerificationError):
            await give_coupon(wx, "oUser3")


@pytest.mark.asyncio
async def test_coupon_use_notification(wxpay_mock: WeChatPayMock) -> None:
    headers, body = wxpay_mock.notification(
        {
            "stock_creator_mchid": wxpay_mock.mchid,
            "stock_id": STOCK_ID,
            "coupon_id": "9867041",
            "coupon_name": "新客立减",
            "status": "USED",
            "create_time": "2025-01-01T13:29:35+08:00",
            "coupon_type": "NORMAL",
            "no_cash": False,
            "singleitem": False,
        },
        event_type="COUPON.USE",
    )
    async with wxpay_mock.client() as wx:
        handler = wx.notification_handler()
        assert await handler.respond(headers, body, on_notification) == (200, {"code": "SUCCESS", "message": "OK"})
        # A forged delivery is refused before our callback runs.
        forged_headers, forged_body = wxpay_mock.notification({"coupon_id": "x"}, tamper=True)
        status, _ = await handler.respond(forged_headers, forged_body, on_notification)
        assert status == 401
    assert used_coupons == ["9867041"]
