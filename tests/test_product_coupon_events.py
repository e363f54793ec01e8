"""Product-coupon notification event types (issue 17 part 6): every official variant, typed.

Sources: the partner reference page 商品券回调通知 (https://pay.weixin.qq.com/doc/v3/partner/4015780862,
2025.08.21) lists ``PRODUCT_COUPON_SP.SEND``; wechatpay-apiv3/wechatpay-skills@15f40d070c503be7f02c3ebeb8dfb6b8274f3291
wechatpay-product-coupon/references/3-品牌与服务商通用/接入规范/回调处理.md names ``PRODUCT_COUPON.SEND``,
``PRODUCT_COUPON.USE`` and ``PRODUCT_COUPON.RETURN`` (associated_data ``product_coupon``).
Real RSA signatures, real AES-GCM, a real aiohttp server on 127.0.0.1 and the real emulator.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientSession

from wxpay_async import Client
from wxpay_async.devkeys import KeyPair
from wxpay_async.emulator import EmulatorKeys
from wxpay_async.notifications import (
    RESOURCE_MODELS,
    Notification,
    NotificationHandler,
    ProductCouponReturnResource,
    ProductCouponSendResource,
    ProductCouponUseResource,
)

from .emulator_helpers import decrypt_resource, receiver, started
from .test_emulator_product import PC, create_product, send
from .test_notifications import PRODUCT_SEND, aiohttp_notify_url, notification

USER_COUPON = {
    "coupon_code": "Code_123456",
    "coupon_state": "USED",
    "openid": "o1",
    "unionid": "u1",
    "brand_id": "120344",
    "product_coupon_id": "1000000013",
    "stock_id": "1000000013001",
    "use_time": "2025-08-03T10:00:00+08:00",
}

OFFICIAL = [
    ("PRODUCT_COUPON_SP.SEND", {**PRODUCT_SEND, "unionid": "u1"}, ProductCouponSendResource, "product_coupon_send"),
    ("PRODUCT_COUPON.SEND", {**PRODUCT_SEND, "unionid": "u1"}, ProductCouponSendResource, "product_coupon_send"),
    ("PRODUCT_COUPON.USE", USER_COUPON, ProductCouponUseResource, "product_coupon_use"),
    (
        "PRODUCT_COUPON.RETURN",
        {**USER_COUPON, "coupon_state": "EFFECTIVE"},
        ProductCouponReturnResource,
        "product_coupon_return",
    ),
]


@pytest.fixture(scope="module")
def keys() -> EmulatorKeys:
    return EmulatorKeys.generate()


@pytest.mark.parametrize(("event", "resource", "model", "prop"), OFFICIAL, ids=[o[0] for o in OFFICIAL])
async def test_every_official_event_type_reaches_the_callback_typed(
    handler: NotificationHandler,
    public_key_pair: KeyPair,
    public_key_id: str,
    apiv3_key: str,
    event: str,
    resource: dict[str, Any],
    model: type[Any],
    prop: str,
) -> None:
    got: list[Notification] = []

    async def callback(n: Notification) -> None:
        got.append(n)

    async with aiohttp_notify_url(handler, callback) as url:
        headers, body = notification(
            public_key_pair, public_key_id, apiv3_key, resource, event=event, aad="product_coupon", nid=f"EV-{event}"
        )
        async with ClientSession() as session, session.post(url, data=body, headers=headers) as r:
            assert r.status == 200, await r.text()
    (n,) = got
    assert n.event_type == event and RESOURCE_MODELS[event] is model
    typed = n.model
    assert isinstance(typed, model) and typed == getattr(n, prop)
    assert typed.coupon_code == "Code_123456" and typed.unionid == "u1" and typed.stock_id == "1000000013001"
    if model is not ProductCouponSendResource:
        assert typed.extra == {"use_time": "2025-08-03T10:00:00+08:00"}  # no official field list: kept, not lost


def test_an_event_type_no_official_source_names_stays_a_dict(
    handler: NotificationHandler, public_key_pair: KeyPair, public_key_id: str, apiv3_key: str
) -> None:
    headers, body = notification(public_key_pair, public_key_id, apiv3_key, USER_COUPON, event="PRODUCT_COUPON_SP.USE")
    assert handler.parse(headers, body).model == USER_COUPON


async def test_emulator_sends_the_partner_event_the_sdk_types(keys: EmulatorKeys) -> None:
    async with started(keys, notify_retry_interval=0.05) as (running, client), receiver() as rec:
        assert (await client.post(f"{PC}/notify-configs", {"notify_url": rec.url})).status == 200
        product_id, stock_id = await create_product(client)
        sent = await client.post(f"{PC}/users/o1/coupons", send(product_id, stock_id, "ev1-send"))
        assert sent.status == 200, sent.body
        await asyncio.wait_for(rec.got.wait(), 10)
        headers, body = rec.calls[-1]
        envelope = json.loads(body)
        # The partner reference page: event_type PRODUCT_COUPON_SP.SEND, summary 商品券通知;
        # wechatpay-skills: associated_data product_coupon.
        assert envelope["event_type"] == "PRODUCT_COUPON_SP.SEND"
        assert envelope["summary"] == "商品券通知"
        assert envelope["resource"]["associated_data"] == "product_coupon"
        assert decrypt_resource(envelope["resource"], running.apiv3_key)["coupon_code"] == sent.json()["coupon_code"]
        async with Client(**running.client_kwargs()) as wx:
            parsed = wx.notification_handler().parse(headers, body)
        typed = parsed.model
        assert isinstance(typed, ProductCouponSendResource)
        assert typed.coupon_code == sent.json()["coupon_code"] and typed.stock_id == stock_id
