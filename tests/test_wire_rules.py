"""One rule, two places: the SDK refuses before sending exactly what the emulator refuses.

openids keep to WeChat's OpenID alphabet (validation.OPENID, its source named there); every time
field is an RFC 3339 date-time with an offset (validation.RFC3339): ``2026-12-06`` alone used to
pass the SDK and be refused by the emulator.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from wxpay_async import Client
from wxpay_async.emulator import EmulatorKeys
from wxpay_async.errors import ValidationError
from wxpay_async.validation import OPENID_RULE, RFC3339_RULE, parse_rfc3339, validate_request

from .emulator_helpers import APPID, running_stock, send_body, started, stock_body

BAD_OPENIDS = ["o/1", "o 1", "o中", "o.1", "o1\n", "o" * 129, "o+1=="]
GOOD_OPENIDS = ["oh-394z-6CGkNoJrsDLTTUKiAnp4", "o_1", "o" * 128]
BAD_TIMES = [
    "2026-12-06",
    "2026-12-06T10:00:00",  # no offset
    "2026-12-06 10:00:00+08:00",
    "2026-02-30T10:00:00+08:00",  # no such day
    "2026-12-06T10:00+08:00",
    "20261206T100000+0800",
    "2026-12-06T10:00:00+08:00 ",
]
BAD_REQUEST_NUMBERS = ["REQ_1\n", "REQ 1", ""]
GOOD_TIMES = ["2026-12-06T10:00:00+08:00", "2026-12-06T02:00:00Z", "2026-12-06T10:00:00.250+08:00"]


@pytest.fixture(scope="module")
def keys() -> EmulatorKeys:
    return EmulatorKeys.generate()


@pytest.mark.parametrize("value", BAD_TIMES)
def test_bad_times_are_not_rfc3339(value: str) -> None:
    assert parse_rfc3339(value) is None
    body = {**stock_body(time.time()), "available_begin_time": value}
    with pytest.raises(ValidationError) as info:
        validate_request("favor.create_stock", body=body)
    assert info.value.field == "available_begin_time" and info.value.rule == RFC3339_RULE


@pytest.mark.parametrize("value", GOOD_TIMES)
def test_good_times_parse(value: str) -> None:
    parsed = parse_rfc3339(value)
    assert parsed is not None and parsed.tzinfo is not None


def test_nested_and_query_times_are_checked() -> None:
    path = {"openid": "oUser", "coupon_code": "c1"}
    body = {
        "brand_id": "b",
        "product_coupon_id": "p",
        "stock_id": "s",
        "appid": APPID,
        "use_time": "2026-12-06",
        "out_request_no": "use_0001",
        "associated_order_info": {"transaction_id": "t", "out_trade_no": "o", "mchid": "1"},
    }
    with pytest.raises(ValidationError) as info:
        validate_request("product_coupon.use_coupon", path=path, body=body)
    assert info.value.field == "use_time"
    query = {"offset": 0, "limit": 10, "stock_creator_mchid": "1", "create_start_time": "2026-12-06"}
    with pytest.raises(ValidationError) as q:
        validate_request("favor.list_stocks", query=query)
    assert q.value.field == "create_start_time"


@pytest.mark.parametrize("value", BAD_OPENIDS)
def test_bad_openids_are_refused_by_sdk_and_emulator_alike(keys: EmulatorKeys, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_request("favor.send_coupon", path={"openid": value}, body=send_body_plain())
    assert info.value.field == "openid" and info.value.rule == OPENID_RULE
    with pytest.raises(ValidationError):
        validate_request(
            "product_coupon.list_user_coupons", path={"openid": value}, query={"appid": APPID, "brand_id": "b"}
        )


@pytest.mark.parametrize("value", GOOD_OPENIDS)
def test_good_openids_pass(value: str) -> None:
    validate_request("favor.send_coupon", path={"openid": value}, body=send_body_plain())


def send_body_plain() -> dict[str, Any]:
    return {"stock_id": "1", "out_request_no": "REQ_1", "appid": APPID, "stock_creator_mchid": "1900000001"}


async def test_the_emulator_refuses_what_the_sdk_refuses(keys: EmulatorKeys) -> None:
    from urllib.parse import quote

    async with started(keys) as (running, client):
        stock_id = await running_stock(client)
        for value in BAD_OPENIDS:
            reply = await client.post(
                f"/v3/marketing/favor/users/{quote(value, safe='')}/coupons", send_body(client, stock_id, "REQ_bad")
            )
            assert reply.status == 400 and reply.code == "PARAM_ERROR", (value, reply.body)
            assert reply.json()["detail"]["field"] == "openid"
        for value in GOOD_OPENIDS:
            reply = await client.post(
                f"/v3/marketing/favor/users/{value}/coupons", send_body(client, stock_id, f"R{value[:20]}")
            )
            assert reply.status == 200, (value, reply.body)
        for value in BAD_TIMES:
            reply = await client.post(
                "/v3/marketing/favor/coupon-stocks", {**stock_body(client.clock()), "available_begin_time": value}
            )
            assert reply.status == 400 and reply.json()["detail"]["field"] == "available_begin_time", (
                value,
                reply.body,
            )
        listed = await client.get(
            "/v3/marketing/favor/stocks",
            offset=0,
            limit=10,
            stock_creator_mchid=client.mchid,
            create_start_time="2026-12-06",
        )
        assert listed.status == 400 and listed.json()["detail"]["field"] == "create_start_time", listed.body
        # And the SDK refuses the same before sending: nothing reaches the emulator's ledger.
        async with Client(**running.client_kwargs()) as wx:
            for value in BAD_OPENIDS:
                with pytest.raises(ValidationError):
                    await wx.favor.send_coupon(value, stock_id=stock_id, appid=APPID, stock_creator_mchid=wx.mchid)
            with pytest.raises(ValidationError) as info:
                await wx.favor.create_stock(**{**stock_body(client.clock()), "available_begin_time": "2026-12-06"})
            assert info.value.field == "available_begin_time"
        assert not [c for c in running.ledger()["coupons"] if c["openid"] in BAD_OPENIDS]


@pytest.mark.parametrize("value", BAD_REQUEST_NUMBERS)
def test_a_trailing_newline_does_not_pass_a_pattern(value: str) -> None:
    """``$`` matches before a final newline: patterns are matched whole (re.fullmatch)."""
    with pytest.raises(ValidationError) as info:
        validate_request(
            "favor.send_coupon", path={"openid": "oUser"}, body={**send_body_plain(), "out_request_no": value}
        )
    assert info.value.field == "out_request_no"
