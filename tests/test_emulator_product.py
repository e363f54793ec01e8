"""Product coupons in the emulator: sends, the coupon state machine, codes, budgets, every operation."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest

from wxpay_async.emulator import EmulatorKeys

from .emulator_helpers import APPID, BRAND, Reply, SigningClient, decrypt_resource, product_stock, receiver, started

PC = "/v3/marketing/partner/product-coupon"


@pytest.fixture(scope="module")
def keys() -> EmulatorKeys:
    return EmulatorKeys.generate()


def rno() -> str:
    return uuid.uuid4().hex


def stock_spec(max_count: int = 10, per_user: int | None = None, mode: str = "WECHATPAY") -> dict[str, Any]:
    rule: dict[str, Any] = {"max_count": max_count}
    if per_user is not None:
        rule["max_count_per_user"] = per_user
    return product_stock("emulator", rule, {"normal_coupon": {"threshold": 10000, "discount_amount": 1000}}, mode=mode)


async def create_product(client: SigningClient, **stock: Any) -> tuple[str, str]:
    reply = await client.post(
        f"{PC}/product-coupons",
        {
            "brand_id": BRAND,
            "out_request_no": rno(),
            "scope": "ALL",
            "type": "NORMAL",
            "usage_mode": "SINGLE",
            "single_usage_info": {"normal_coupon": {"threshold": 10000, "discount_amount": 1000}},
            "display_info": {"name": "满100减10"},
            "stock": stock_spec(**stock),
        },
    )
    assert reply.status == 200, reply.body
    data = reply.json()
    assert data["state"] == "EFFECTIVE" and data["stock"]["state"] == "SENDING"
    return data["product_coupon_id"], data["stock"]["stock_id"]


def send(product_id: str, stock_id: str, number: str, **extra: Any) -> dict[str, Any]:
    return {
        "brand_id": BRAND,
        "product_coupon_id": product_id,
        "stock_id": stock_id,
        "appid": APPID,
        "send_request_no": number,
        **extra,
    }


def action_body(product_id: str, stock_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "brand_id": BRAND,
        "product_coupon_id": product_id,
        "stock_id": stock_id,
        "appid": APPID,
        "out_request_no": rno(),
        **extra,
    }


KIND = {"scope": "ALL", "type": "NORMAL", "usage_mode": "SINGLE"}
USE_EXTRA = {"use_time": "2025-08-01T12:00:00+08:00", "associated_order_info": {"transaction_id": "42000001"}}


async def test_send_confirm_use_return_deactivate(keys: EmulatorKeys) -> None:
    async with started(keys, notify_retry_interval=0.05) as (running, client), receiver(fail_first=1) as rec:
        assert (await client.post(f"{PC}/notify-configs", {"notify_url": rec.url})).status == 200
        assert (await client.get(f"{PC}/notify-configs")).json()["notify_url"] == rec.url
        product_id, stock_id = await create_product(client)
        sent = await client.post(f"{PC}/users/o1/coupons", send(product_id, stock_id, "psend1", attach="hi"))
        assert sent.status == 200, sent.body
        coupon = sent.json()
        code = coupon["coupon_code"]
        assert coupon["coupon_state"] == "CONFIRMING" and coupon["send_request_no"] == "psend1"
        assert coupon["stock"]["stock_id"] == stock_id and coupon["product_coupon"]["product_coupon_id"] == product_id

        await asyncio.wait_for(rec.got.wait(), 10)
        headers, body = rec.calls[-1]
        assert client.verify(Reply(200, headers, body))
        envelope = json.loads(body)
        assert envelope["event_type"] == "PRODUCT_COUPON_SP.SEND"
        resource = decrypt_resource(envelope["resource"], running.apiv3_key)
        assert resource["coupon_code"] == code and resource["openid"] == "o1"

        path = f"{PC}/users/o1/coupons/{code}"

        async def state() -> str:
            reply = await client.get(path, brand_id=BRAND, product_coupon_id=product_id, stock_id=stock_id, appid=APPID)
            return str(reply.json()["coupon_state"])

        assert (
            await client.post(f"{path}/use", action_body(product_id, stock_id, **USE_EXTRA))
        ).code == "INVALID_REQUEST"
        confirm = action_body(product_id, stock_id)
        assert (await client.post(f"{path}/confirm", confirm)).json()["coupon_state"] == "EFFECTIVE"
        replay = await client.post(f"{path}/confirm", confirm)
        assert replay.status == 200 and replay.json()["coupon_state"] == "EFFECTIVE", "same request number replays"
        assert (await client.post(f"{path}/confirm", action_body(product_id, stock_id))).code == "INVALID_REQUEST"
        assert await state() == "EFFECTIVE"
        assert (
            await client.post(f"{path}/return", action_body(product_id, stock_id, use_time=USE_EXTRA["use_time"]))
        ).code == "INVALID_REQUEST"
        used = await client.post(f"{path}/use", action_body(product_id, stock_id, **USE_EXTRA))
        assert used.json()["coupon_state"] == "USED"
        assert used.json()["single_usage_detail"]["associated_order_info"]["transaction_id"] == "42000001"
        assert (
            await client.post(f"{path}/use", action_body(product_id, stock_id, **USE_EXTRA))
        ).code == "INVALID_REQUEST"
        assert (
            await client.post(f"{path}/deactivate", action_body(product_id, stock_id, deactivate_reason="x"))
        ).code == "INVALID_REQUEST"
        returned = await client.post(
            f"{path}/return", action_body(product_id, stock_id, use_time=USE_EXTRA["use_time"])
        )
        assert returned.json()["coupon_state"] == "EFFECTIVE"
        gone = await client.post(f"{path}/deactivate", action_body(product_id, stock_id, deactivate_reason="done"))
        assert gone.json()["coupon_state"] == "DEACTIVATED" and gone.json()["deactivate_reason"] == "done"
        assert (await client.post(f"{path}/confirm", action_body(product_id, stock_id))).code == "INVALID_REQUEST"
        assert await state() == "DEACTIVATED"

        listed = await client.get(f"{PC}/users/o1/coupons", brand_id=BRAND, appid=APPID, coupon_state="DEACTIVATED")
        assert [c["coupon_code"] for c in listed.json()["user_coupon_list"]] == [code]
        assert (
            await client.get(path, brand_id=BRAND, product_coupon_id=product_id, stock_id=stock_id, appid="wx0")
        ).status == 404


async def test_send_idempotency_budget_limits_and_errors(keys: EmulatorKeys) -> None:
    async with started(keys) as (running, client):
        product_id, stock_id = await create_product(client, max_count=3, per_user=2)
        url = f"{PC}/users/o1/coupons"
        first = await client.post(url, send(product_id, stock_id, "nsend1"))
        again = await client.post(url, send(product_id, stock_id, "nsend1"))
        assert again.json()["coupon_code"] == first.json()["coupon_code"]
        changed = await client.post(url, send(product_id, stock_id, "nsend1", attach="different"))
        assert changed.status == 400 and changed.code == "ALREADY_EXISTS"
        assert (await client.post(url, send(product_id, stock_id, "nsend2"))).status == 200
        per_user = await client.post(url, send(product_id, stock_id, "nsend3"))
        assert per_user.status == 400 and per_user.code == "INVALID_REQUEST"
        assert (await client.post(f"{PC}/users/o2/coupons", send(product_id, stock_id, "nsend4"))).status == 200
        budget = await client.post(f"{PC}/users/o3/coupons", send(product_id, stock_id, "nsend5"))
        assert budget.status == 403 and budget.code == "NOT_ENOUGH"
        unknown_product = await client.post(url, send("999", stock_id, "nsend6"))
        assert unknown_product.status == 404 and unknown_product.code == "NOT_FOUND"
        unknown_stock = await client.post(url, send(product_id, "999", "nsend7"))
        assert unknown_stock.status == 404 and unknown_stock.code == "NOT_FOUND"
        missing = await client.post(url, {"brand_id": BRAND})
        assert missing.status == 400 and missing.code == "PARAM_ERROR"
        with_code = await client.post(url, send(product_id, stock_id, "nsend8", coupon_code="MINE"))
        assert with_code.code == "PARAM_ERROR", "coupon_code only for API_ASSIGN"
        ledger = running.ledger()
        assert sorted(c["request_no"] for c in ledger["coupons"] if c["kind"] == "product") == [
            "nsend1",
            "nsend2",
            "nsend4",
        ]
        n1 = next(r for r in ledger["requests"] if r["request_no"] == "nsend1")
        assert (n1["issued"], n1["accepted"]) == (1, 2)


async def test_coupon_code_modes(keys: EmulatorKeys) -> None:
    async with started(keys) as (_, client):
        product_id, assign_stock = await create_product(client, mode="API_ASSIGN")
        url = f"{PC}/users/o1/coupons"
        assert (await client.post(url, send(product_id, assign_stock, "asend1"))).code == "PARAM_ERROR"
        mine = await client.post(url, send(product_id, assign_stock, "asend2", coupon_code="CODE-1"))
        assert mine.json()["coupon_code"] == "CODE-1"
        clash = await client.post(
            f"{PC}/users/o2/coupons", send(product_id, assign_stock, "asend3", coupon_code="CODE-1")
        )
        assert clash.status == 400 and clash.code == "ALREADY_EXISTS"

        added = await client.post(
            f"{PC}/product-coupons/{product_id}/stocks",
            {"brand_id": BRAND, "out_request_no": rno(), **KIND, "stock": stock_spec(mode="UPLOAD")},
        )
        upload_stock = added.json()["stock_id"]
        codes = await client.post(
            f"{PC}/product-coupons/{product_id}/stocks/{upload_stock}/upload-coupon-codes",
            {"brand_id": BRAND, "out_request_no": rno(), "code_list": ["U1", "U1", "U2"]},
        )
        assert codes.json()["success_code_list"] == ["U1", "U2"] and codes.json()["duplicate_code_list"] == ["U1"]
        got = [(await client.post(url, send(product_id, upload_stock, f"usend{i}"))) for i in range(3)]
        assert [g.json().get("coupon_code") for g in got[:2]] == ["U1", "U2"]
        assert (got[2].status, got[2].code) == (403, "NOT_ENOUGH")


async def test_product_send_rate_limit(keys: EmulatorKeys) -> None:
    frozen = time.time()
    async with started(keys, clock=lambda: frozen, send_rate=1.0) as (_, client):
        product_id, stock_id = await create_product(client)
        assert (await client.post(f"{PC}/users/o1/coupons", send(product_id, stock_id, "rsend1"))).status == 200
        limited = await client.post(f"{PC}/users/o1/coupons", send(product_id, stock_id, "rsend2"))
        assert (limited.status, limited.code) == (429, "RATELIMIT_EXCEEDED")


async def test_every_other_operation_answers(keys: EmulatorKeys) -> None:
    """Walk the remaining product-coupon operations with valid input: each answers 2xx with data."""
    async with started(keys) as (_, client):
        product_id, stock_id = await create_product(client, max_count=5)
        p = f"{PC}/product-coupons/{product_id}"
        ok: list[Reply] = []

        async def expect(reply: Reply) -> Any:
            assert 200 <= reply.status < 300, reply.body
            ok.append(reply)
            return reply.json()

        assert (await expect(await client.get(p, brand_id=BRAND)))["product_coupon_id"] == product_id
        patched = await expect(
            await client.patch(
                p, {"brand_id": BRAND, "out_request_no": rno(), **KIND, "display_info": {"name": "新名字"}}
            )
        )
        assert patched["display_info"]["name"] == "新名字"
        assert (await expect(await client.get(f"{p}/stocks", brand_id=BRAND)))["total_count"] == 1
        assert (await expect(await client.get(f"{p}/stocks/{stock_id}", brand_id=BRAND)))["stock_id"] == stock_id
        await expect(
            await client.patch(
                f"{p}/stocks/{stock_id}", {"brand_id": BRAND, "out_request_no": rno(), "remark": "rsend2"}
            )
        )
        budget = await expect(
            await client.post(
                f"{p}/stocks/{stock_id}/update-budget",
                {
                    "brand_id": BRAND,
                    "out_request_no": rno(),
                    "update_mode": "MAX_COUNT",
                    "current_max_count": 5,
                    "target_max_count": 8,
                },
            )
        )
        assert budget["stock_send_rule"]["max_count"] == 8
        stale = await client.post(
            f"{p}/stocks/{stock_id}/update-budget",
            {
                "brand_id": BRAND,
                "out_request_no": rno(),
                "update_mode": "MAX_COUNT",
                "current_max_count": 5,
                "target_max_count": 9,
            },
        )
        assert stale.code == "INVALID_REQUEST"
        stores = {"brand_id": BRAND, "store_list": [{"store_id": "S1"}, {"store_id": "S2"}]}
        await expect(await client.post(f"{p}/stocks/{stock_id}/associate-stores", stores))
        assoc = await expect(await client.get(f"{p}/stocks/{stock_id}/associated-stores", brand_id=BRAND))
        assert assoc["total_count"] == 2
        await expect(
            await client.post(
                f"{p}/stocks/{stock_id}/disassociate-stores", {"brand_id": BRAND, "store_list": [{"store_id": "S1"}]}
            )
        )
        assert (await client.get(f"{p}/stocks/{stock_id}/associated-stores", brand_id=BRAND)).json()["total_count"] == 1

        bundle = await expect(
            await client.post(
                f"{p}/stock-bundles",
                {
                    "brand_id": BRAND,
                    "out_request_no": rno(),
                    "stock_bundle": {"stock_list": [stock_spec(), stock_spec()]},
                },
            )
        )
        bundle_id = bundle["stock_bundle_id"]
        assert len(bundle["stock_list"]) == 2
        await expect(
            await client.patch(
                f"{p}/stock-bundles/{bundle_id}", {"brand_id": BRAND, "out_request_no": rno(), "remark": "b"}
            )
        )
        await expect(await client.post(f"{p}/stock-bundles/{bundle_id}/associate-stores", stores))
        await expect(await client.post(f"{p}/stock-bundles/{bundle_id}/disassociate-stores", stores))
        await expect(
            await client.post(
                f"{p}/stock-bundles/{bundle_id}/update-budget",
                {"brand_id": BRAND, "out_request_no": rno(), "update_mode": "MAX_COUNT", "target_max_count": 20},
            )
        )
        user_bundle = await expect(
            await client.post(
                f"{PC}/users/o9/coupon-bundles",
                {
                    "brand_id": BRAND,
                    "product_coupon_id": product_id,
                    "stock_bundle_id": bundle_id,
                    "appid": APPID,
                    "send_request_no": rno(),
                },
            )
        )
        assert len(user_bundle["user_product_coupon_list"]) == 2
        ubid = user_bundle["user_coupon_bundle_id"]
        deactivated = await expect(
            await client.post(
                f"{PC}/users/o9/coupon-bundles/{ubid}/deactivate",
                {
                    "brand_id": BRAND,
                    "product_coupon_id": product_id,
                    "stock_bundle_id": bundle_id,
                    "appid": APPID,
                    "out_request_no": rno(),
                    "deactivate_reason": "test",
                },
            )
        )
        assert {c["coupon_state"] for c in deactivated["user_product_coupon_list"]} == {"DEACTIVATED"}
        pre = {"brand_id": BRAND, "product_coupon_id": product_id, "appid": APPID, "send_request_no": rno()}
        assert (await expect(await client.post(f"{PC}/users/o9/pre-send-coupon", {**pre, "stock_id": stock_id})))[
            "token"
        ]
        assert (
            await expect(
                await client.post(
                    f"{PC}/users/o9/pre-send-coupon-bundle",
                    {**pre, "send_request_no": rno(), "stock_bundle_id": bundle_id},
                )
            )
        )["token"]
        task = {"brand_id": BRAND, "task_id": "t1", "image_generation_type": "CUT_OUT"}
        await expect(await client.post(f"{PC}/image-generation-tasks", task))
        result = await expect(
            await client.get(f"{PC}/image-generation-tasks/t1", brand_id=BRAND, image_generation_type="CUT_OUT")
        )
        assert result["task_state"] == "SUCCESS"
        await expect(
            await client.post(
                f"{p}/stocks/{stock_id}/deactivate",
                {"brand_id": BRAND, "out_request_no": rno(), "deactivate_reason": "x"},
            )
        )
        refused = await client.post(f"{PC}/users/o1/coupons", send(product_id, stock_id, rno()))
        assert refused.code == "INVALID_REQUEST", "a deactivated stock does not send"
        gone = await expect(
            await client.post(f"{p}/deactivate", {"brand_id": BRAND, "out_request_no": rno(), "deactivate_reason": "x"})
        )
        assert gone["state"] == "DEACTIVATED"
        assert all(client.verify(r) for r in ok)
        assert (await client.get(p, brand_id="other")).status == 404
