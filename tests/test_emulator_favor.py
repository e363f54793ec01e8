"""Cash coupons in the emulator: stock validation, lifecycle, sends, flows, callbacks, notifications."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from wxpay_async.emulator import EmulatorKeys

from .emulator_helpers import (
    APPID,
    SigningClient,
    decrypt_resource,
    receiver,
    running_stock,
    send_body,
    started,
    stock_body,
)

FAVOR = "/v3/marketing/favor"


@pytest.fixture(scope="module")
def keys() -> EmulatorKeys:
    return EmulatorKeys.generate()


def _set(body: dict[str, Any], dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    for part in path:
        body = body[part]
    body[last] = value


@pytest.mark.parametrize(
    ("field", "value", "reported"),
    [
        ("stock_name", "一二三四五六七八九十", "stock_name"),
        ("stock_name", "a" * 21, "stock_name"),
        ("stock_name", "bad|name", "stock_name"),
        ("coupon_use_rule.fixed_normal_coupon.coupon_amount", 9, "coupon_use_rule.fixed_normal_coupon.coupon_amount"),
        (
            "coupon_use_rule.fixed_normal_coupon.coupon_amount",
            100_001,
            "coupon_use_rule.fixed_normal_coupon.coupon_amount",
        ),
        (
            "coupon_use_rule.fixed_normal_coupon.transaction_minimum",
            100,
            "coupon_use_rule.fixed_normal_coupon.transaction_minimum",
        ),
        ("stock_use_rule.max_amount", 999, "stock_use_rule.max_amount"),
        ("stock_use_rule.max_coupons_per_user", 0, "stock_use_rule.max_coupons_per_user"),
        ("stock_type", "DISCOUNT", "stock_type"),
        ("available_end_time", "2099-01-01T00:00:00+08:00", "available_end_time"),
        ("available_begin_time", "2000-01-01T00:00:00+08:00", "available_begin_time"),
        ("available_begin_time", "not a time", "available_begin_time"),
        ("out_request_no", "bad request no!", "out_request_no"),
    ],
)
async def test_stock_validation(keys: EmulatorKeys, field: str, value: Any, reported: str) -> None:
    async with started(keys) as (_, client):
        body = stock_body(time.time())
        _set(body, field, value)
        reply = await client.post(f"{FAVOR}/coupon-stocks", body)
        assert reply.status == 400 and reply.code == "PARAM_ERROR", reply.body
        assert reply.json()["detail"]["field"] == reported


async def test_valid_names_and_idempotent_creation(keys: EmulatorKeys) -> None:
    async with started(keys) as (_, client):
        for name in ("一二三四五六七八九", "a" * 20, "GD测批次4"):
            body = stock_body(time.time(), stock_name=name)
            first = await client.post(f"{FAVOR}/coupon-stocks", body)
            assert first.status == 200, first.body
            again = await client.post(f"{FAVOR}/coupon-stocks", body)
            assert again.json() == first.json()
        changed = {**body, "comment": "other"}
        conflict = await client.post(f"{FAVOR}/coupon-stocks", changed)
        assert conflict.status == 400 and conflict.code == "ALREADY_EXISTS"


async def _action(client: SigningClient, stock_id: str, action: str) -> Any:
    return await client.post(f"{FAVOR}/stocks/{stock_id}/{action}", {"stock_creator_mchid": client.mchid})


async def test_lifecycle(keys: EmulatorKeys) -> None:
    async with started(keys) as (_, client):
        created = await client.post(f"{FAVOR}/coupon-stocks", stock_body(time.time()))
        stock_id = created.json()["stock_id"]

        async def status() -> str:
            reply = await client.get(f"{FAVOR}/stocks/{stock_id}", stock_creator_mchid=client.mchid)
            return str(reply.json()["status"])

        assert await status() == "unactivated"
        for action in ("pause", "restart"):
            illegal = await _action(client, stock_id, action)
            assert illegal.status == 400 and illegal.code == "INVALID_REQUEST", action
        assert (await _action(client, stock_id, "start")).json()["start_time"]
        assert await status() == "running"
        assert (await _action(client, stock_id, "start")).code == "INVALID_REQUEST"
        assert (await _action(client, stock_id, "restart")).code == "INVALID_REQUEST"
        assert (await _action(client, stock_id, "pause")).json()["pause_time"]
        assert await status() == "paused"
        assert (await _action(client, stock_id, "pause")).code == "INVALID_REQUEST"
        send = await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, stock_id, "r-paused"))
        assert send.code == "INVALID_REQUEST", "a paused stock does not send"
        stop_paused = await _action(client, stock_id, "stop")
        assert stop_paused.status == 400 and stop_paused.code == "INVALID_REQUEST", "stop needs 批次未激活"
        assert (await _action(client, stock_id, "restart")).json()["restart_time"]
        assert await status() == "running"
        stop_running = await _action(client, stock_id, "stop")
        assert stop_running.status == 400 and stop_running.code == "INVALID_REQUEST", "stop needs 批次未激活"
        assert await status() == "running"

        # StopStock "终止未激活的代金券批次": only a stock that was never activated can be stopped.
        never = (await client.post(f"{FAVOR}/coupon-stocks", stock_body(time.time()))).json()["stock_id"]
        stopped = await _action(client, never, "stop")
        assert stopped.status == 200 and set(stopped.json()) == {"stock_id", "stop_time"}
        never_status = await client.get(f"{FAVOR}/stocks/{never}", stock_creator_mchid=client.mchid)
        assert never_status.json()["status"] == "stoped"
        assert never_status.json()["stop_time"] == stopped.json()["stop_time"]
        for action in ("start", "pause", "restart", "stop"):
            assert (await _action(client, never, action)).code == "INVALID_REQUEST", action
        other = await client.post(f"{FAVOR}/stocks/{stock_id}/start", {"stock_creator_mchid": "1900000002"})
        assert other.status == 404 and other.code == "RESOURCE_NOT_EXISTS"
        missing = await _action(client, "123", "start")
        assert missing.status == 404


async def test_send_idempotency_budget_and_per_user_limit(keys: EmulatorKeys) -> None:
    async with started(keys) as (running, client):
        unactivated = (await client.post(f"{FAVOR}/coupon-stocks", stock_body(time.time()))).json()["stock_id"]
        refused = await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, unactivated, "r0"))
        assert refused.status == 400 and refused.code == "INVALID_REQUEST"

        stock_id = await running_stock(
            client,
            stock_use_rule={"max_coupons": 3, "max_amount": 300, "max_coupons_per_user": 2},
        )
        first = await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, stock_id, "r1"))
        assert first.status == 200
        coupon_id = first.json()["coupon_id"]
        replay = await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, stock_id, "r1"))
        assert replay.status == 200 and replay.json()["coupon_id"] == coupon_id
        other_user = await client.post(f"{FAVOR}/users/o2/coupons", send_body(client, stock_id, "r1"))
        assert other_user.status == 400 and other_user.code == "ALREADY_EXISTS"
        other_body = await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, stock_id, "r1", coupon_value=50))
        assert other_body.code == "ALREADY_EXISTS"

        assert (await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, stock_id, "r2"))).status == 200
        per_user = await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, stock_id, "r3"))
        assert per_user.status == 403 and per_user.code == "RULE_LIMIT"
        assert per_user.json()["detail"]["issue"] == "max_coupons_per_user reached"
        assert (await client.post(f"{FAVOR}/users/o2/coupons", send_body(client, stock_id, "r4"))).status == 200
        exhausted = await client.post(f"{FAVOR}/users/o3/coupons", send_body(client, stock_id, "r5"))
        assert exhausted.status == 403 and exhausted.code == "NOT_ENOUGH"

        stock = (await client.get(f"{FAVOR}/stocks/{stock_id}", stock_creator_mchid=client.mchid)).json()
        assert stock["distributed_coupons"] == 3

        listed = await client.get(f"{FAVOR}/users/o1/coupons", appid=APPID, stock_id=stock_id)
        assert listed.json()["total_count"] == 2
        one = await client.get(f"{FAVOR}/users/o1/coupons/{coupon_id}", appid=APPID)
        assert one.json()["status"] == "SENDED" and one.json()["stock_id"] == stock_id
        assert (await client.get(f"{FAVOR}/users/o2/coupons/{coupon_id}", appid=APPID)).status == 404

        ledger = running.ledger()
        assert len(ledger["coupons"]) == 3
        r1 = next(r for r in ledger["requests"] if r["request_no"] == "r1")
        assert (r1["issued"], r1["processed"], r1["accepted"]) == (1, 2, 2)


async def test_send_rate_limit(keys: EmulatorKeys) -> None:
    frozen = time.time()
    async with started(keys, clock=lambda: frozen, send_rate=3.0) as (_, client):
        stock_id = await running_stock(client, stock_use_rule={"max_coupons_per_user": 10})
        statuses = []
        for i in range(5):
            reply = await client.post(f"{FAVOR}/users/o{i}/coupons", send_body(client, stock_id, f"rl{i}"))
            statuses.append((reply.status, reply.code))
        assert statuses[:3] == [(200, None)] * 3
        assert statuses[3:] == [(429, "FREQUENCY_LIMIT_EXCEED")] * 2


async def test_list_stocks_merchants_items_and_goods(keys: EmulatorKeys) -> None:
    async with started(keys) as (_, client):
        ids = [
            (await client.post(f"{FAVOR}/coupon-stocks", stock_body(time.time()))).json()["stock_id"] for _ in range(12)
        ]
        page = await client.get(f"{FAVOR}/stocks", offset=10, limit=10, stock_creator_mchid=client.mchid)
        assert page.json()["total_count"] == 12 and len(page.json()["data"]) == 2
        too_big = await client.get(f"{FAVOR}/stocks", offset=0, limit=11, stock_creator_mchid=client.mchid)
        assert too_big.code == "PARAM_ERROR"
        await _action(client, ids[0], "start")
        running = await client.get(
            f"{FAVOR}/stocks", offset=0, limit=10, stock_creator_mchid=client.mchid, status="running"
        )
        assert [s["stock_id"] for s in running.json()["data"]] == [ids[0]]

        merchants = await client.get(
            f"{FAVOR}/stocks/{ids[0]}/merchants", offset=0, limit=10, stock_creator_mchid=client.mchid
        )
        assert merchants.json()["data"] == ["1900000001"]
        goods = await client.post(
            f"{FAVOR}/stocks/{ids[0]}/modify-goods-id",
            {"stock_creator_mchid": client.mchid, "add_goods_id_list": ["g1", "g2"]},
        )
        assert goods.status == 200 and set(goods.json()) == {"stock_id", "effect_time"}
        items = await client.get(f"{FAVOR}/stocks/{ids[0]}/items", offset=0, limit=10, stock_creator_mchid=client.mchid)
        assert items.json()["data"] == ["g1", "g2"]
        last = await client.post(
            f"{FAVOR}/stocks/{ids[0]}/modify-goods-id",
            {"stock_creator_mchid": client.mchid, "delete_goods_id_list": ["g1", "g2"]},
        )
        assert last.code == "PARAM_ERROR"


async def test_use_notification_redelivery_and_flow_csv(keys: EmulatorKeys) -> None:
    async with (
        started(keys, notify_retry_interval=0.05, mode="certificate") as (running, client),
        receiver(fail_first=2) as rec,
    ):
        bad = await client.post(f"{FAVOR}/callbacks", {"mchid": client.mchid, "notify_url": "http://example.com/x"})
        assert bad.code == "PARAM_ERROR", "plain http only for loopback"
        with_query = await client.post(f"{FAVOR}/callbacks", {"mchid": client.mchid, "notify_url": rec.url + "?a=1"})
        assert with_query.code == "PARAM_ERROR"
        assert (await client.post(f"{FAVOR}/callbacks", {"mchid": client.mchid, "notify_url": rec.url})).status == 200
        assert (await client.get(f"{FAVOR}/callbacks", mchid=client.mchid)).json()["notify_url"] == rec.url

        stock_id = await running_stock(client)
        coupon_id = (await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, stock_id, "u1"))).json()[
            "coupon_id"
        ]
        async with client.session.post(f"{running.base_url}/_emulator/coupons/{coupon_id}/use", json={}) as r:
            assert r.status == 200
            notification_id = (await r.json())["notification_id"]
        await asyncio.wait_for(rec.got.wait(), 10)
        assert len(rec.calls) == 3
        bodies = {body for _, body in rec.calls}
        assert len(bodies) == 1, "every attempt carries the same envelope"
        headers, body = rec.calls[-1]
        from .emulator_helpers import Reply

        assert client.verify(Reply(200, headers, body))
        import json

        envelope = json.loads(body)
        assert envelope["id"] == notification_id and envelope["event_type"] == "COUPON.USE"
        assert envelope["resource"]["original_type"] == "coupon"
        assert envelope["resource"]["associated_data"] == "coupon"
        resource = decrypt_resource(envelope["resource"], running.apiv3_key)
        assert resource["coupon_id"] == coupon_id and resource["status"] == "USED"

        again = await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, stock_id, "u1"))
        assert again.json()["coupon_id"] == coupon_id
        used = await client.get(f"{FAVOR}/users/o1/coupons/{coupon_id}", appid=APPID)
        assert used.json()["status"] == "USED"

        flow = await client.get(f"{FAVOR}/stocks/{stock_id}/use-flow")
        assert flow.status == 200 and flow.json()["hash_type"] == "SHA1"
        url = flow.json()["url"]
        assert url.startswith(running.base_url + "/v3/billdownload/file?token=")
        target = url[len(running.base_url) :]
        unsigned = await client.request("GET", target, sign=False)
        assert unsigned.status == 401
        download = await client.request("GET", target)
        assert download.status == 200
        assert "Wechatpay-Signature" not in download.headers, "flow files are not signed"
        assert hashlib.sha1(download.body).hexdigest() == flow.json()["hash_value"]
        lines = download.body.decode("utf-8").splitlines()
        assert lines[0].startswith("批次id,优惠id")
        assert len(lines) == 2 and coupon_id in lines[1]

        from wxpay_async.emulator._clock import cst_date

        by_day = await client.get(f"{FAVOR}/stocks/{stock_id}/use-flow-by-day", bill_date=cst_date(time.time()))
        assert by_day.json()["stock_useflow_count"] == "1"
        refund = await client.get(f"{FAVOR}/stocks/{stock_id}/refund-flow")
        refund_target = refund.json()["url"][len(running.base_url) :]
        refund_file = await client.request("GET", refund_target)
        assert len(refund_file.body.decode().splitlines()) == 1, "header only before any refund"
        assert hashlib.sha1(refund_file.body).hexdigest() == refund.json()["hash_value"]
        async with client.session.post(f"{running.base_url}/_emulator/coupons/{coupon_id}/refund", json={}) as r:
            assert (await r.json())["coupon"]["status"] == "SENDED"
        refund = await client.get(f"{FAVOR}/stocks/{stock_id}/refund-flow")
        refund_file = await client.request("GET", refund.json()["url"][len(running.base_url) :])
        lines = refund_file.body.decode().splitlines()
        assert lines[0].startswith("批次id,优惠id") and len(lines) == 2 and coupon_id in lines[1]
        assert hashlib.sha1(refund_file.body).hexdigest() == refund.json()["hash_value"]


async def test_notification_gives_up_after_max_attempts(keys: EmulatorKeys) -> None:
    async with (
        started(keys, notify_retry_interval=0.01, notify_max_attempts=3) as (running, client),
        receiver(fail_first=100) as rec,
    ):
        await client.post(f"{FAVOR}/callbacks", {"mchid": client.mchid, "notify_url": rec.url})
        stock_id = await running_stock(client)
        coupon_id = (await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, stock_id, "g1"))).json()[
            "coupon_id"
        ]
        running.use_coupon(coupon_id)
        await asyncio.wait_for(running.emulator.notifier.wait_idle(), 10)
        record = running.emulator.notifier.deliveries[-1]
        assert record["attempts"] == 3 and record["gave_up"] and record["statuses"] == [500, 500, 500]


async def test_download_url_expires(keys: EmulatorKeys) -> None:
    now = [time.time()]
    async with started(keys, clock=lambda: now[0]) as (running, client):
        stock_id = await running_stock(client)
        flow = await client.get(f"{FAVOR}/stocks/{stock_id}/use-flow")
        now[0] += 31
        expired = await client.request("GET", flow.json()["url"][len(running.base_url) :])
        assert expired.status == 400 and expired.code == "INVALID_REQUEST"


async def test_image_upload(keys: EmulatorKeys) -> None:
    async with started(keys) as (_, client):
        image = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
        reply = await client.upload(f"{FAVOR}/media/image-upload", "logo.png", image)
        assert reply.status == 200, reply.body
        media_url = reply.json()["media_url"]
        async with client.session.get(media_url) as r:
            assert await r.read() == image
        wrong = await client.upload(f"{FAVOR}/media/image-upload", "logo.png", image, sha256="0" * 64)
        assert wrong.status == 400 and wrong.code == "PARAM_ERROR"
        product = await client.upload("/v3/marketing/partner/product-coupon/media/upload-image", "a.jpg", image)
        assert product.status == 200 and product.json()["image_url"]


async def test_state_survives_restart_with_sqlite(keys: EmulatorKeys, tmp_path: Path) -> None:
    db = tmp_path / "emulator.db"
    async with started(keys, db_path=db) as (running, client):
        stock_id = await running_stock(client)
        coupon_id = (await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, stock_id, "p1"))).json()[
            "coupon_id"
        ]
    async with started(keys, db_path=db) as (running, client):
        replay = await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, stock_id, "p1"))
        assert replay.json()["coupon_id"] == coupon_id
        fresh = await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, stock_id, "p2"))
        assert fresh.status == 200 and fresh.json()["coupon_id"] != coupon_id
        stock = (await client.get(f"{FAVOR}/stocks/{stock_id}", stock_creator_mchid=client.mchid)).json()
        assert stock["status"] == "running" and stock["distributed_coupons"] == 2
        ledger = running.ledger()
        assert [c["request_no"] for c in ledger["coupons"]] == ["p1", "p2"]
        p1 = next(r for r in ledger["requests"] if r["request_no"] == "p1")
        assert p1["issued"] == 1 and p1["accepted"] == 2


async def test_daily_budget(keys: EmulatorKeys) -> None:
    async with started(keys) as (_, client):
        stock_id = await running_stock(client, stock_use_rule={"max_amount_by_day": 200, "max_coupons_per_user": 10})
        statuses = [
            (await client.post(f"{FAVOR}/users/o1/coupons", send_body(client, stock_id, f"day{i}"))).status
            for i in range(3)
        ]
        assert statuses == [200, 200, 403]
