"""A user's test module, written as an application's test suite would be, checked three ways.

pytest runs it (against the emulator and the mock); CI type-checks it with ``mypy --strict``
and ``basedpyright`` (strict, see ``[tool.basedpyright]``). Each ``assert_type`` fails both
checkers if the testing kit hands back ``Any`` (or another type) where a typed value is promised.
"""

from __future__ import annotations

from typing import Any, assert_type

import pytest

from wxpay_async import Client, ClientKwargs
from wxpay_async.emulator import (
    CouponRefunded,
    CouponUsed,
    LedgerSnapshot,
    RunningEmulator,
    create_running_stock,
)
from wxpay_async.testing import WeChatPayMock

APPID = "wx233544546545989"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@pytest.mark.asyncio
async def test_emulator_answers_are_typed(wxpay_emulator: RunningEmulator) -> None:
    kwargs = wxpay_emulator.client_kwargs()
    assert_type(kwargs, ClientKwargs)
    async with Client(**kwargs) as wx:
        stock_id = await create_running_stock(wx, max_coupons=5)
        sent = await wx.favor.send_coupon(OPENID, stock_id=stock_id, appid=APPID, stock_creator_mchid=wx.mchid)

    ledger = wxpay_emulator.ledger()
    assert_type(ledger, LedgerSnapshot)
    mine = [c for c in ledger["coupons"] if c["stock_id"] == stock_id]
    assert [(c["coupon_id"], c["openid"], c["kind"]) for c in mine] == [(sent.coupon_id, OPENID, "cash")]
    (request,) = [r for r in ledger["requests"] if r.get("coupon_id") == sent.coupon_id]
    assert_type(request["accepted"], int)
    assert request["issued"] == 1 and request["accepted"] == 1

    used = wxpay_emulator.use_coupon(sent.coupon_id, order_amount=1000)
    assert_type(used, CouponUsed)
    assert used["coupon"]["status"] == "USED"
    consume = used["coupon"].get("consume_information")
    assert consume is not None and consume["order_amount"] == 1000
    assert used["notification_id"] is None  # no callback URL was set

    refunded = wxpay_emulator.refund_coupon(sent.coupon_id)
    assert_type(refunded, CouponRefunded)
    assert refunded["coupon"]["status"] == "SENDED"


@pytest.mark.asyncio
async def test_recorded_calls_are_typed(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.add("favor.send_coupon", json={"coupon_id": "9867041"})
    async with wxpay_mock.client() as wx:
        await wx.favor.send_coupon(OPENID, stock_id="9856000", appid=APPID, stock_creator_mchid=wx.mchid)
    (call,) = wxpay_mock.calls
    body = call.json
    assert_type(body, dict[str, Any] | None)
    assert body is not None and body["stock_id"] == "9856000"


def test_client_kwargs_is_what_client_takes(wxpay_emulator_options: dict[str, Any]) -> None:
    """A per-merchant configuration table typed as ClientKwargs goes straight into Client(**...)."""
    del wxpay_emulator_options
    configs: dict[str, ClientKwargs] = {}
    for mchid, config in configs.items():
        merged: ClientKwargs = {**config, "mchid": mchid}
        Client(**merged)
