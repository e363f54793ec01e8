"""The emulator answers in WeChat Pay's official shapes, codes and state rules.

Each answer the emulator sends (the JSON as sent: a typed result's ``.raw`` or a raw page) is
compared with the matching official example in ``tests/official/examples``: every key it sends
must exist at the same place in the official example, with the same JSON type; nested objects
and list items are compared recursively. The favor oracles are the ``*.answer.gomodel-1.json``
files (built from wechatpay-go's models: every field the official answer has); the product-coupon
oracle is the union of the two official answers of the send-to-user page (``seed-1``: a member
coupon with ``coupon_tag_info``; ``seed-2``: a normal coupon with ``single_usage_detail``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from wxpay_async import Client, RetryPolicy
from wxpay_async.emulator import RunningEmulator, run_emulator, sample_stock
from wxpay_async.errors import APIStatusError

from .emulator_helpers import STOCK_DISPLAY, product_display, product_stock

EXAMPLES = Path(__file__).parent / "official" / "examples"
APPID = "wx233544546545989"
BRAND = "120344"
NO_RETRY = RetryPolicy(max_attempts=1)
#: Fields of the send-to-user page's own Go answer model (``StockEntity.SingleUsageRule``:
#: ``discount_coupon *DiscountCouponUsageRule {threshold int64, percent_off int64}``) that its two
#: JSON examples happen to leave out; added to the oracle with the model's types.
PRODUCT_MODEL_SUPPLEMENT = {"stock": {"single_usage_rule": {"discount_coupon": {"threshold": 0, "percent_off": 0}}}}


def official(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))["body"]


def _merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _merge(out[k], v) if k in out else v
        return out
    if isinstance(a, list) and isinstance(b, list) and a and b:
        return [_merge(a[0], b[0])]
    return a if a not in (None, [], {}) else b


def json_type(value: Any) -> str:
    for t, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "list"), (dict, "dict")):
        if isinstance(value, t):
            return name
    return "null"


def assert_official_shape(sent: Any, oracle: Any, path: str = "$") -> None:
    assert json_type(sent) == json_type(oracle), f"{path}: sent {json_type(sent)}, official {json_type(oracle)}"
    if isinstance(sent, dict):
        for key, value in sent.items():
            assert key in oracle, f"{path}.{key} is not in the official answer (official keys: {sorted(oracle)})"
            assert_official_shape(value, oracle[key], f"{path}.{key}")
    elif isinstance(sent, list):
        assert oracle, f"{path}: the official example has no item to compare with"
        for i, item in enumerate(sent):
            assert_official_shape(item, oracle[0], f"{path}[{i}]")


def test_the_shape_check_catches_extra_keys_and_wrong_types() -> None:
    oracle = {"a": 1, "b": {"c": "x"}, "d": [{"e": True}]}
    assert_official_shape({"a": 2, "b": {}, "d": [{"e": False}]}, oracle)
    for bad in ({"z": 1}, {"a": "1"}, {"b": {"c": 1}}, {"d": [{"e": 1}]}, {"d": [{"f": True}]}, {"a": True}):
        with pytest.raises(AssertionError):
            assert_official_shape(bad, oracle)


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    async with run_emulator(send_rate=0, seed=5) as running:
        yield running


async def _new_stock(wx: Client, **options: Any) -> str:
    body = sample_stock(wx.mchid, max_coupons=10, max_coupons_per_user=1, **options)
    created = await wx.favor.create_stock(
        **body, comment="shape test", pattern_info={"description": "官方形状", "merchant_logo": None}
    )
    assert_official_shape(created.raw, official("favor.create_stock.answer.gomodel-1.json"))
    return created.stock_id


async def test_cash_coupon_journey_answers_in_official_shapes(emu: RunningEmulator) -> None:
    async with Client(**emu.client_kwargs()) as wx:
        mchid = wx.mchid
        stock_id = await _new_stock(wx)

        started = await wx.favor.start_stock(stock_id, stock_creator_mchid=mchid)
        assert set(started.raw) == {"start_time", "stock_id"}
        assert_official_shape(started.raw, official("favor.start_stock.answer.gomodel-1.json"))

        sent = await wx.favor.send_coupon("shape-user", stock_id=stock_id, appid=APPID, stock_creator_mchid=mchid)
        assert_official_shape(sent.raw, official("favor.send_coupon.answer.gomodel-1.json"))

        coupon = await wx.favor.get_user_coupon("shape-user", sent.coupon_id, appid=APPID)
        assert_official_shape(coupon.raw, official("favor.get_user_coupon.answer.gomodel-1.json"))
        assert coupon.raw["no_cash"] is False and coupon.raw["normal_coupon_information"] == {
            "coupon_amount": 100,
            "transaction_minimum": 200,
        }
        coupons = await wx.request(
            "GET",
            "/v3/marketing/favor/users/{openid}/coupons",
            path_params={"openid": "shape-user"},
            query={"appid": APPID},
        )
        assert coupons.json()["data"], "the page lists the coupon"
        assert_official_shape(coupons.json(), official("favor.list_user_coupons.answer.gomodel-1.json"))

        stock = await wx.favor.get_stock(stock_id, stock_creator_mchid=mchid)
        assert_official_shape(stock.raw, official("favor.get_stock.answer.gomodel-1.json"))
        for request_only in ("natural_person_limit", "prevent_api_abuse"):
            assert request_only not in stock.raw["stock_use_rule"]
        for request_only in ("pattern_info", "belong_merchant", "comment", "out_request_no", "coupon_use_rule"):
            assert request_only not in stock.raw
        assert stock.raw["status"] == "running" and stock.raw["distributed_coupons"] == 1
        assert stock.raw["start_time"] == started.raw["start_time"] and "stop_time" not in stock.raw
        assert stock.raw["description"] == "官方形状"
        page = await wx.request(
            "GET", "/v3/marketing/favor/stocks", query={"stock_creator_mchid": mchid, "offset": 0, "limit": 10}
        )
        assert page.json()["data"]
        assert_official_shape(page.json(), official("favor.list_stocks.answer.gomodel-1.json"))

        paused = await wx.favor.pause_stock(stock_id, stock_creator_mchid=mchid)
        assert set(paused.raw) == {"pause_time", "stock_id"}
        assert_official_shape(paused.raw, official("favor.pause_stock.answer.gomodel-1.json"))
        restarted = await wx.favor.restart_stock(stock_id, stock_creator_mchid=mchid)
        assert set(restarted.raw) == {"restart_time", "stock_id"}
        assert_official_shape(restarted.raw, official("favor.restart_stock.answer.gomodel-1.json"))

        goods = await wx.favor.modify_stock_goods(stock_id, stock_creator_mchid=mchid, add_goods_id_list=["g1"])
        assert set(goods.raw) == {"effect_time", "stock_id"}
        assert_official_shape(goods.raw, official("favor.modify_stock_goods.answer.gomodel-1.json"))
        single = await wx.favor.get_stock(stock_id, stock_creator_mchid=mchid)
        assert single.raw["singleitem"] is True
        assert_official_shape(single.raw, official("favor.get_stock.answer.gomodel-1.json"))

        # StopStock: "终止未激活的代金券批次；前置条件：……且批次未激活" (wechatpay-go package doc).
        with pytest.raises(APIStatusError) as refused:
            await wx.favor.stop_stock(stock_id, stock_creator_mchid=mchid)
        assert (refused.value.status, refused.value.code) == (400, "INVALID_REQUEST")
        assert (await wx.favor.get_stock(stock_id, stock_creator_mchid=mchid)).status == "running"

        spare = await _new_stock(wx, starts_in=dt.timedelta(minutes=5))
        stopped = await wx.favor.stop_stock(spare, stock_creator_mchid=mchid)
        assert set(stopped.raw) == {"stop_time", "stock_id"}
        assert_official_shape(stopped.raw, official("favor.stop_stock.answer.gomodel-1.json"))
        ended = await wx.favor.get_stock(spare, stock_creator_mchid=mchid)
        assert ended.raw["status"] == "stoped" and ended.raw["stop_time"] == stopped.raw["stop_time"]
        assert "start_time" not in ended.raw
        assert_official_shape(ended.raw, official("favor.get_stock.answer.gomodel-1.json"))
        with pytest.raises(APIStatusError) as restart_stopped:
            await wx.favor.start_stock(spare, stock_creator_mchid=mchid)
        assert restart_stopped.value.code == "INVALID_REQUEST"


async def test_transitions_follow_the_official_preconditions(emu: RunningEmulator) -> None:
    from wxpay_async.emulator._favor import PAUSED, RUNNING, STOPPED, TRANSITIONS, UNACTIVATED

    expected = {
        "start": (frozenset({UNACTIVATED}), RUNNING, "start_time"),
        "pause": (frozenset({RUNNING}), PAUSED, "pause_time"),
        "restart": (frozenset({PAUSED}), RUNNING, "restart_time"),
        "stop": (frozenset({UNACTIVATED}), STOPPED, "stop_time"),
    }
    assert expected == TRANSITIONS
    async with Client(**emu.client_kwargs()) as wx:
        stock_id = await _new_stock(wx)
        for action in (wx.favor.pause_stock, wx.favor.restart_stock):
            with pytest.raises(APIStatusError) as exc:
                await action(stock_id, stock_creator_mchid=wx.mchid)
            assert (exc.value.status, exc.value.code) == (400, "INVALID_REQUEST")
        await wx.favor.start_stock(stock_id, stock_creator_mchid=wx.mchid)
        await wx.favor.pause_stock(stock_id, stock_creator_mchid=wx.mchid)
        with pytest.raises(APIStatusError) as paused_stop:
            await wx.favor.stop_stock(stock_id, stock_creator_mchid=wx.mchid)
        assert (paused_stop.value.status, paused_stop.value.code) == (400, "INVALID_REQUEST")


async def test_cash_coupon_error_codes(emu: RunningEmulator) -> None:
    async with Client(**emu.client_kwargs(), retry=NO_RETRY) as wx:
        stock_id = await _new_stock(wx)
        await wx.favor.start_stock(stock_id, stock_creator_mchid=wx.mchid)
        await wx.favor.send_coupon("once", stock_id=stock_id, appid=APPID, stock_creator_mchid=wx.mchid)
        with pytest.raises(APIStatusError) as limit:
            await wx.favor.send_coupon("once", stock_id=stock_id, appid=APPID, stock_creator_mchid=wx.mchid)
        assert (limit.value.status, limit.value.code) == (403, "RULE_LIMIT")

        emu.push_faults({"kind": "rate_limit", "path_prefix": "/v3/marketing/favor/users/"})
        with pytest.raises(APIStatusError) as fault:
            await wx.favor.send_coupon("other", stock_id=stock_id, appid=APPID, stock_creator_mchid=wx.mchid)
        assert (fault.value.status, fault.value.code) == (429, "FREQUENCY_LIMIT_EXCEED")

    async with run_emulator(send_rate=1.0, seed=1) as limited, Client(**limited.client_kwargs(), retry=NO_RETRY) as wx:
        body = sample_stock(wx.mchid, max_coupons=10, max_coupons_per_user=5)
        created = await wx.favor.create_stock(**body)
        await wx.favor.start_stock(created.stock_id, stock_creator_mchid=wx.mchid)
        codes = []
        for i in range(4):
            try:
                await wx.favor.send_coupon(
                    f"r{i}", stock_id=created.stock_id, appid=APPID, stock_creator_mchid=wx.mchid
                )
                codes.append("OK")
            except APIStatusError as exc:
                codes.append(f"{exc.status} {exc.code}")
    assert "429 FREQUENCY_LIMIT_EXCEED" in codes and set(codes) <= {"OK", "429 FREQUENCY_LIMIT_EXCEED"}


async def _product(wx: Client, *, max_count_per_user: int = 1) -> tuple[str, str]:
    product = await wx.product_coupon.create_product_coupon(
        brand_id=BRAND,
        scope="ALL",
        type="DISCOUNT",  # the kind the official answers show (single_usage_info.discount_coupon)
        usage_mode="SINGLE",
        single_usage_info={"discount_coupon": {"threshold": 10000, "percent_off": 20}},
        display_info=product_display("满100打8折"),
        stock=product_stock(
            "shape",
            {"max_count": 50, "max_count_per_user": max_count_per_user},
            {"discount_coupon": {"threshold": 10000, "percent_off": 20}},
            **STOCK_DISPLAY,
        ),
    )
    assert product.stock is not None
    return str(product.product_coupon_id), str(product.stock.stock_id)


async def test_product_coupon_user_coupon_answers_in_official_shapes(emu: RunningEmulator) -> None:
    oracle = _merge(
        _merge(
            official("product_coupon.send_coupon.answer.seed-1.json"),
            official("product_coupon.send_coupon.answer.seed-2.json"),
        ),
        PRODUCT_MODEL_SUPPLEMENT,
    )
    async with Client(**emu.client_kwargs(), retry=NO_RETRY) as wx:
        product_coupon_id, stock_id = await _product(wx)
        plain = await wx.product_coupon.send_coupon(
            "pc-plain", appid=APPID, brand_id=BRAND, product_coupon_id=product_coupon_id, stock_id=stock_id
        )
        assert_official_shape(plain.raw, oracle)
        assert plain.raw["coupon_state"] == "CONFIRMING" and plain.raw["send_channel"] == "API"
        assert plain.raw["single_usage_detail"] == {} and plain.raw["brand_id"] == BRAND
        for absent in ("attach", "coupon_tag_info", "appid", "openid", "product_coupon_id", "stock_id"):
            assert absent not in plain.raw, absent
        member = await wx.product_coupon.send_coupon(
            "pc-member",
            appid=APPID,
            brand_id=BRAND,
            product_coupon_id=product_coupon_id,
            stock_id=stock_id,
            attach="any attach content",
            coupon_tag_info={"coupon_tag_list": ["MEMBER"], "member_tag_info": {"member_card_id": "MC_1"}},
        )
        assert_official_shape(member.raw, oracle)
        assert member.raw["attach"] == "any attach content"
        assert member.raw["coupon_tag_info"]["coupon_tag_list"] == ["MEMBER"]
        got = await wx.product_coupon.get_user_coupon(
            "pc-member",
            str(member.coupon_code),
            brand_id=BRAND,
            product_coupon_id=product_coupon_id,
            stock_id=stock_id,
            appid=APPID,
        )
        assert_official_shape(got.raw, oracle)
        assert got.raw == member.raw

        with pytest.raises(APIStatusError) as limit:
            await wx.product_coupon.send_coupon(
                "pc-plain", appid=APPID, brand_id=BRAND, product_coupon_id=product_coupon_id, stock_id=stock_id
            )
        # The send-to-user page's table: 400 INVALID_REQUEST 用户领取已达到上限.
        assert (limit.value.status, limit.value.code) == (400, "INVALID_REQUEST")
        assert "用户领取已达到上限" in (limit.value.message or "")

        emu.push_faults({"kind": "rate_limit", "path_prefix": "/v3/marketing/partner/product-coupon/users/"})
        with pytest.raises(APIStatusError) as fault:
            await wx.product_coupon.send_coupon(
                "pc-rl", appid=APPID, brand_id=BRAND, product_coupon_id=product_coupon_id, stock_id=stock_id
            )
        assert (fault.value.status, fault.value.code) == (429, "RATELIMIT_EXCEEDED")
