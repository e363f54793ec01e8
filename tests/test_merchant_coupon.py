"""Merchant coupons (商家券): the typed client against the emulator, by the official rules.

Everything goes through ``client.merchant_coupon`` (real signing, a real server on 127.0.0.1, real
AES-GCM notifications verified by the real handler). Rules and their sources are in
wxpay_async/emulator/_merchant_coupon.py and spec/families/merchant_coupon.json.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from wxpay_async import Client
from wxpay_async.crypto import Verifier, load_certificate
from wxpay_async.emulator import RunningEmulator, rfc3339, run_emulator
from wxpay_async.errors import APIStatusError, ValidationError
from wxpay_async.middleware.retry import NO_RETRY
from wxpay_async.notifications import NotificationHandler

from .emulator_helpers import receiver

APPID = "wx233544546545989"


def stock_args(mode: str = "WECHATPAY_MODE", **send_rule: Any) -> dict[str, Any]:
    now = time.time()
    rule = {"max_coupons": 10, "max_coupons_per_user": 2, **send_rule}
    return {
        "stock_name": "满100减10",
        "belong_merchant": "1900000001",
        "goods_name": "全场可用",
        "stock_type": "NORMAL",
        "coupon_use_rule": {
            "coupon_available_time": {
                "available_begin_time": rfc3339(now - 60),
                "available_end_time": rfc3339(now + 7 * 86400),
            },
            "fixed_normal_coupon": {"discount_amount": 1000, "transaction_minimum": 10000},
            "use_method": "OFF_LINE",
        },
        "stock_send_rule": rule,
        "coupon_code_mode": mode,
    }


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    async with run_emulator(notify_retry_interval=0.05) as running:
        yield running


@pytest.fixture
async def wx(emu: RunningEmulator) -> AsyncIterator[Client]:
    async with Client(**emu.client_kwargs()) as client:
        yield client


async def send(wx: Client, stock_id: str, openid: str = "o1", **extra: Any) -> str:
    answer = await wx.merchant_coupon.send_coupon(openid=openid, appid=APPID, stock_id=stock_id, **extra)
    assert answer.send_coupon_result is not None and answer.send_coupon_result.coupon_code
    return answer.send_coupon_result.coupon_code


async def test_wechatpay_mode_lifecycle(wx: Client, emu: RunningEmulator) -> None:
    mc = wx.merchant_coupon
    created = await mc.create_stock(**stock_args(subsidy=None))
    assert created.stock_id and created.out_request_no  # the request number the SDK filled
    stock = await mc.get_stock(created.stock_id)
    assert (stock.stock_state, stock.coupon_code_mode) == ("RUNNING", "WECHATPAY_MODE")

    first = await mc.send_coupon(openid="o1", appid=APPID, stock_id=created.stock_id, out_request_no="send-1")
    again = await mc.send_coupon(openid="o1", appid=APPID, stock_id=created.stock_id, out_request_no="send-1")
    assert first.send_coupon_result == again.send_coupon_result  # an idempotent replay, one coupon
    code = first.send_coupon_result.coupon_code if first.send_coupon_result else ""
    assert code is not None and len(code) == 22 and code.isdigit()  # "固定22位纯数字"
    assert len([c for c in emu.ledger()["coupons"] if c["kind"] == "merchant"]) == 1

    await send(wx, created.stock_id)
    with pytest.raises(APIStatusError) as limit:  # max_coupons_per_user = 2
        await send(wx, created.stock_id)
    assert limit.value.code == "INVALID_REQUEST"

    coupon = await mc.get_user_coupon("o1", code, APPID)
    assert (coupon.coupon_state, coupon.stock_id, coupon.send_request_no) == ("SENDED", created.stock_id, "send-1")
    page = await mc.list_user_coupons("o1", appid=APPID, stock_id=created.stock_id)
    assert page.total == 2 and {c.coupon_code for c in page.items} >= {code}

    assoc = await mc.associate_order(stock_id=created.stock_id, coupon_code=code, out_trade_no="T1")
    assert assoc.wechatpay_associate_time is not None and assoc.out_request_no
    with pytest.raises(APIStatusError) as other:
        await mc.disassociate_order(stock_id=created.stock_id, coupon_code=code, out_trade_no="T2")
    assert other.value.code == "INVALID_REQUEST"
    await mc.disassociate_order(stock_id=created.stock_id, coupon_code=code, out_trade_no="T1")

    with pytest.raises(APIStatusError) as unused:  # 申请退券 needs a used coupon
        await mc.return_coupon(coupon_code=code, stock_id=created.stock_id)
    assert unused.value.code == "INVALID_REQUEST"
    used = await mc.use_coupon(coupon_code=code, appid=APPID, use_time=rfc3339(time.time()))
    assert (used.stock_id, used.openid, used.use_request_no) == (created.stock_id, "o1", used.use_request_no)
    assert (await mc.get_user_coupon("o1", code, APPID)).coupon_state == "USED"
    with pytest.raises(APIStatusError):  # used twice (another request number)
        await mc.use_coupon(coupon_code=code, appid=APPID, use_time=rfc3339(time.time()))
    await mc.return_coupon(coupon_code=code, stock_id=created.stock_id)
    assert (await mc.get_user_coupon("o1", code, APPID)).coupon_state == "SENDED"
    await mc.deactivate_coupon(coupon_code=code, stock_id=created.stock_id, deactivate_reason="test")
    final = await mc.get_user_coupon("o1", code, APPID)
    assert (final.coupon_state, final.deactivate_reason) == ("DEACTIVATED", "test")
    with pytest.raises(APIStatusError):
        await mc.use_coupon(coupon_code=code, appid=APPID, use_time=rfc3339(time.time()))


async def test_budget_and_its_change(wx: Client) -> None:
    mc = wx.merchant_coupon
    stock_id = (await mc.create_stock(**stock_args(max_coupons=2, max_coupons_per_user=5))).stock_id
    await send(wx, stock_id)
    await send(wx, stock_id)
    with pytest.raises(APIStatusError) as spent:
        await send(wx, stock_id)
    assert (spent.value.status, spent.value.code) == (403, "NOT_ENOUGH")

    with pytest.raises(ValidationError) as both:  # "只能修改一个" (checked before sending)
        await mc.update_stock_budget(stock_id, target_max_coupons=3, current_max_coupons=2, target_max_coupons_by_day=1)
    assert both.value.field == "target_max_coupons_by_day"
    with pytest.raises(ValidationError) as current:  # the current value goes with the target
        await mc.update_stock_budget(stock_id, target_max_coupons=3)
    assert current.value.field == "current_max_coupons"
    with pytest.raises(APIStatusError) as stale:  # not the stock's current value
        await mc.update_stock_budget(stock_id, target_max_coupons=3, current_max_coupons=7)
    assert stale.value.code == "INVALID_REQUEST"
    changed = await mc.update_stock_budget(stock_id, target_max_coupons=3, current_max_coupons=2)
    assert changed.max_coupons == 3 and changed.modify_budget_request_no
    await send(wx, stock_id)
    assert (await mc.get_stock(stock_id)).send_count_information.total_send_num == 3  # type: ignore[union-attr]

    await mc.update_stock(stock_id, comment="新备注", goods_name="部分商品")
    assert (await mc.get_stock(stock_id)).goods_name == "部分商品"


async def test_upload_mode_consumes_codes_in_order(wx: Client) -> None:
    mc = wx.merchant_coupon
    stock_id = (await mc.create_stock(**stock_args("MERCHANT_UPLOAD", max_coupons_per_user=5))).stock_id
    up = await mc.upload_coupon_codes(stock_id, coupon_code_list=["C1", "C2", "C2", "C3"])
    assert (up.success_count, up.success_codes, up.duplicate_codes) == (3, ["C1", "C2", "C3"], ["C2"])
    again = await mc.upload_coupon_codes(stock_id, coupon_code_list=["C3", "C4"])
    assert again.exist_codes == ["C3"] and again.success_codes == ["C4"]
    assert (await mc.get_stock(stock_id)).coupon_code_count.available_count == 4  # type: ignore[union-attr]

    await mc.delete_coupon_code(stock_id, "C2", delete_request_no="del-1")
    assert [await send(wx, stock_id) for _ in range(2)] == ["C1", "C3"]  # upload order, C2 deleted
    with pytest.raises(APIStatusError) as dispatched:
        await mc.delete_coupon_code(stock_id, "C1", delete_request_no="del-2")
    assert dispatched.value.code == "INVALID_REQUEST"
    info = await mc.get_coupon_code(stock_id, "C1")
    assert info.code_information.code_status == "DISPATCHED" and info.coupon_information is not None
    codes = await mc.list_coupon_codes(stock_id, status="AVAILABLE")
    assert [c.code for c in codes.items] == ["C4"]
    assert await send(wx, stock_id) == "C4"
    with pytest.raises(APIStatusError) as empty:
        await send(wx, stock_id)
    assert empty.value.code == "NOT_ENOUGH"
    with pytest.raises(APIStatusError) as no_stock:  # an upload-mode code is found with its stock only
        await mc.use_coupon(coupon_code="C1", appid=APPID, use_time=rfc3339(time.time()))
    assert no_stock.value.code == "PARAM_ERROR"
    await mc.use_coupon(coupon_code="C1", stock_id=stock_id, appid=APPID, use_time=rfc3339(time.time()))


async def test_api_mode_takes_the_code_of_the_send(wx: Client) -> None:
    mc = wx.merchant_coupon
    stock_id = (await mc.create_stock(**stock_args("MERCHANT_API"))).stock_id
    with pytest.raises(APIStatusError) as missing:
        await send(wx, stock_id)
    assert missing.value.code == "PARAM_ERROR"
    assert await send(wx, stock_id, coupon_code="MY-CODE-1") == "MY-CODE-1"
    with pytest.raises(APIStatusError) as taken:
        await send(wx, stock_id, openid="o2", coupon_code="MY-CODE-1")
    assert taken.value.code == "ALREADY_EXISTS"


async def test_subsidy_pay_and_return(wx: Client) -> None:
    mc = wx.merchant_coupon
    plain = (await mc.create_stock(**stock_args())).stock_id
    stock_id = (await mc.create_stock(**stock_args(), subsidy=True)).stock_id
    code = await send(wx, stock_id)
    pay = {
        "stock_id": stock_id,
        "coupon_code": code,
        "transaction_id": "4200000913202101152566792388",
        "payer_merchant": "1900000001",
        "payee_merchant": "1900000002",
        "amount": 100,
        "description": "补差",
    }
    with pytest.raises(APIStatusError):  # only a used coupon is subsidised
        await mc.create_subsidy_pay_receipt(**pay)
    await mc.use_coupon(coupon_code=code, appid=APPID, use_time=rfc3339(time.time()))
    receipt = await mc.create_subsidy_pay_receipt(**pay)
    assert receipt.status == "PAY_RECEIPT_SUCCESS" and receipt.out_subsidy_no
    assert (await mc.get_subsidy_pay_receipt(receipt.subsidy_receipt_id)).amount == 100
    listed = await mc.get_subsidy_pay_receipts(stock_id=stock_id, coupon_code=code)
    assert [r.subsidy_receipt_id for r in listed.pay_receipt_list or []] == [receipt.subsidy_receipt_id]

    back = {**{k: pay[k] for k in ("stock_id", "coupon_code", "transaction_id", "payer_merchant")}}
    back.update(payee_merchant="1900000002", refund_id="50000000382019052709732678859", description="回退")
    ret = await mc.create_subsidy_return_receipt(**back, amount=60)
    assert ret.status == "RETURN_RECEIPT_SUCCESS" and ret.subsidy_receipt_id == receipt.subsidy_receipt_id
    assert (await mc.get_subsidy_return_receipt(ret.subsidy_return_receipt_id or "")).amount == 60
    with pytest.raises(APIStatusError) as over:  # "单个券Code回退总金额不能超过补差金额"
        await mc.create_subsidy_return_receipt(**back, amount=41)
    assert over.value.code == "INVALID_REQUEST"
    assert (await mc.get_subsidy_pay_receipt(receipt.subsidy_receipt_id)).status == "PAY_RECEIPT_PARTIAL_RETURN"

    plain_code = await send(wx, plain)
    await mc.use_coupon(coupon_code=plain_code, appid=APPID, use_time=rfc3339(time.time()))
    with pytest.raises(APIStatusError):  # the stock does not allow subsidies
        await mc.create_subsidy_pay_receipt(**{**pay, "stock_id": plain, "coupon_code": plain_code})


async def test_request_numbers_survive_a_lost_answer(wx: Client, emu: RunningEmulator) -> None:
    stock_id = (await wx.merchant_coupon.create_stock(**stock_args(max_coupons_per_user=5))).stock_id
    emu.push_faults({"kind": "drop_after", "method": "POST", "path_prefix": "/v3/marketing/busifavor/coupons/send"})
    code = await send(wx, stock_id)  # the first answer is lost; the retry carries the same out_request_no
    issued = [c for c in emu.ledger()["coupons"] if c["kind"] == "merchant"]
    assert [c["coupon_code"] for c in issued] == [code]
    [record] = [r for r in emu.ledger()["requests"] if r["kind"] == "merchant"]
    assert (record["issued"], record["processed"]) == (1, 2)
    emu.push_faults({"kind": "system_error", "method": "POST", "path_prefix": "/v3/marketing/busifavor"})
    with pytest.raises(APIStatusError) as failed:  # one attempt, refused: the error carries the number used
        await wx.merchant_coupon.send_coupon(openid="o9", appid=APPID, stock_id=stock_id, retry=NO_RETRY)
    assert failed.value.status == 500


async def test_callbacks_and_the_send_notification(wx: Client, emu: RunningEmulator) -> None:
    async with receiver() as rec:
        mc = wx.merchant_coupon
        with pytest.raises(ValidationError):  # https only (loopback http is the emulator's exception)
            await mc.set_callbacks(mchid=emu.mchid, notify_url="http://example.com/notify")
        await mc.set_callbacks(mchid=emu.mchid, notify_url=rec.url)
        assert (await mc.get_callbacks(mchid=emu.mchid)).notify_url == rec.url
        stock_id = (await mc.create_stock(**stock_args())).stock_id
        code = await send(wx, stock_id, openid="o-notify")
        await asyncio.wait_for(rec.got.wait(), 10)
    headers, body = rec.calls[-1]
    verifier = Verifier(
        [load_certificate(pem) for pem in emu.platform_certificates_pem], emu.public_key, emu.public_key_id
    )
    notification = NotificationHandler(verifier, emu.apiv3_key).parse(headers, body)
    assert notification.event_type == "COUPON.SEND"
    resource = notification.resource
    assert resource["event_type"] == "EVENT_TYPE_BUSICOUPON_SEND"
    assert (resource["coupon_code"], resource["stock_id"], resource["openid"]) == (code, stock_id, "o-notify")
    assert "ciphertext" in json.loads(body)["resource"]
    # Typed without importing anything more: the event's own class and model.
    from wxpay_async.notifications import MerchantCouponSendNotification

    assert isinstance(notification, MerchantCouponSendNotification)
    assert notification.model.coupon_code == code and notification.merchant_coupon_send.stock_id == stock_id


async def test_gov_card_is_not_emulated(wx: Client) -> None:
    with pytest.raises(APIStatusError) as missing:
        await wx.merchant_coupon.send_gov_card(
            "card-1", appid=APPID, openid="o1", send_time=rfc3339(time.time()), out_request_no=uuid.uuid4().hex
        )
    assert missing.value.status == 404


async def test_emulator_answers_in_the_official_go_model_shapes(wx: Client) -> None:
    """Every key the emulator sends exists, with its JSON type, in the answer built from the Go model."""
    from .test_emulator_official_shapes import assert_official_shape, official

    mc = wx.merchant_coupon
    answers: dict[str, Any] = {}
    created = await mc.create_stock(**stock_args("MERCHANT_UPLOAD", max_coupons_per_user=5), subsidy=True)
    answers["create_stock"] = created
    stock_id = created.stock_id
    answers["upload_coupon_codes"] = await mc.upload_coupon_codes(stock_id, coupon_code_list=["A1", "A1", "A2", "A3"])
    answers["get_stock"] = await mc.get_stock(stock_id)
    answers["send_coupon"] = sent = await mc.send_coupon(openid="o1", appid=APPID, stock_id=stock_id)
    code = sent.send_coupon_result.coupon_code if sent.send_coupon_result else ""
    assert code
    answers["get_user_coupon"] = await mc.get_user_coupon("o1", code, APPID)
    answers["list_user_coupons"] = (await mc.list_user_coupons("o1", appid=APPID)).response
    answers["list_coupon_codes"] = (await mc.list_coupon_codes(stock_id)).response
    answers["get_coupon_code"] = await mc.get_coupon_code(stock_id, code)
    answers["delete_coupon_code"] = await mc.delete_coupon_code(stock_id, "A3", delete_request_no="d1")
    answers["associate_order"] = await mc.associate_order(stock_id=stock_id, coupon_code=code, out_trade_no="T1")
    answers["disassociate_order"] = await mc.disassociate_order(stock_id=stock_id, coupon_code=code, out_trade_no="T1")
    now = rfc3339(time.time())
    answers["use_coupon"] = await mc.use_coupon(coupon_code=code, stock_id=stock_id, appid=APPID, use_time=now)
    pay = {
        "stock_id": stock_id,
        "coupon_code": code,
        "transaction_id": "42",
        "payer_merchant": "1",
        "payee_merchant": "2",
    }
    answers["create_subsidy_pay_receipt"] = receipt = await mc.create_subsidy_pay_receipt(
        **pay, amount=10, description="d"
    )
    answers["get_subsidy_pay_receipt"] = await mc.get_subsidy_pay_receipt(receipt.subsidy_receipt_id)
    answers["get_subsidy_pay_receipts"] = await mc.get_subsidy_pay_receipts(stock_id=stock_id, coupon_code=code)
    answers["create_subsidy_return_receipt"] = ret = await mc.create_subsidy_return_receipt(
        **pay, refund_id="50", amount=5, description="d"
    )
    answers["get_subsidy_return_receipt"] = await mc.get_subsidy_return_receipt(ret.subsidy_return_receipt_id or "")
    answers["return_coupon"] = await mc.return_coupon(coupon_code=code, stock_id=stock_id)
    answers["deactivate_coupon"] = await mc.deactivate_coupon(coupon_code=code, stock_id=stock_id)
    answers["update_stock_budget"] = await mc.update_stock_budget(
        stock_id, target_max_coupons=20, current_max_coupons=10
    )
    answers["set_callbacks"] = await mc.set_callbacks(notify_url="https://www.example.com/notify")
    answers["get_callbacks"] = await mc.get_callbacks()
    for name, answer in answers.items():
        assert_official_shape(answer.raw, official(f"merchant_coupon.{name}.answer.gomodel-1.json"), name)
    assert {c.code_status for c in answers["list_coupon_codes"].data} == {"DISPATCHED", "AVAILABLE"}
