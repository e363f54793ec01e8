"""A user's program both checkers must refuse: each marked line is one mistake a dict used to hide."""

from __future__ import annotations

from wxpay_async import Client


async def create(wx: Client) -> None:
    await wx.favor.create_stock(
        stock_name="Weekend",
        belong_merchant=wx.mchid,
        available_begin_time="2026-12-06T00:00:00+08:00",
        available_end_time="2027-01-05T00:00:00+08:00",
        stock_use_rule={
            "max_coupons": "100",  # BAD: a string where WeChat Pay takes an integer
            "bogus": 1,  # BAD: no such field
            "max_amount": 10000,
            "max_coupons_per_user": 1,
            "natural_person_limit": False,
            "prevent_api_abuse": False,
        },
        coupon_use_rule={"fixed_normal_coupon": {"coupon_amount": 100}},  # BAD: transaction_minimum is required
        no_cash=False,
        stock_type="NORMAL",
    )
    await wx.product_coupon.use_coupon(
        "o1",
        "code1",
        brand_id="b",
        product_coupon_id="p",
        stock_id="s",
        appid="wx1",
        use_time="2026-12-06T00:00:00+08:00",
        associated_order_info={"transaction_ID": "t"},  # BAD: the field is transaction_id
    )
