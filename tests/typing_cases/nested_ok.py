"""A user's program that passes mypy --strict and basedpyright: nested arguments as plain dicts."""

from __future__ import annotations

import datetime as dt

from wxpay_async import CHINA_TZ, Client
from wxpay_async.models.favor import CreateStockStockUseRule, CreateStockStockUseRuleParam


async def create(wx: Client) -> str:
    begin = dt.datetime(2026, 12, 6, tzinfo=CHINA_TZ)
    rule: CreateStockStockUseRuleParam = {
        "max_coupons": 100,
        "max_amount": 10000,
        "max_coupons_per_user": 1,
        "natural_person_limit": False,
        "prevent_api_abuse": False,
    }
    created = await wx.favor.create_stock(
        stock_name="Weekend",
        belong_merchant=wx.mchid,
        available_begin_time=begin,
        available_end_time=begin + dt.timedelta(days=30),
        stock_use_rule=rule,
        coupon_use_rule={
            "fixed_normal_coupon": {"coupon_amount": 100, "transaction_minimum": 100},
            "available_merchants": [wx.mchid],
        },
        no_cash=False,
        stock_type="NORMAL",
    )
    again = await wx.favor.create_stock(
        stock_name="Weekend",
        belong_merchant=wx.mchid,
        available_begin_time="2026-12-06T00:00:00+08:00",
        available_end_time="2027-01-05T00:00:00+08:00",
        stock_use_rule=CreateStockStockUseRule(
            max_coupons=100,
            max_amount=10000,
            max_coupons_per_user=1,
            natural_person_limit=False,
            prevent_api_abuse=False,
        ),
        coupon_use_rule={"fixed_normal_coupon": {"coupon_amount": 100, "transaction_minimum": 100}},
        no_cash=False,
        stock_type="EXCHAHGE",
    )
    await wx.product_coupon.use_coupon(
        "oh-394z-6CGkNoJrsDLTTUKiAnp4",
        "code1",
        brand_id="b",
        product_coupon_id="p",
        stock_id="s",
        appid="wx1",
        use_time=begin,
        associated_order_info={"transaction_id": "t", "out_trade_no": "o", "mchid": wx.mchid},
    )
    return created.stock_id + again.stock_id
