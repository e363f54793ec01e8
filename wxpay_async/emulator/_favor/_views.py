"""Answers in the official shapes of wechatpay-go's cashcoupons ``Stock`` and ``Coupon``.

Sources: wechatpay-go ``services/cashcoupons/models.go``; tests/official/FINDINGS-favor.md
(notification.coupon_use) for ``consume_information``.
"""

from __future__ import annotations

from typing import Any


def _stock_view(stock: dict[str, Any]) -> dict[str, Any]:
    """The official ``Stock`` (wechatpay-go models.go): exactly its fields that apply to this stock.

    Required there: stock_id, stock_creator_mchid, stock_name, status, create_time, description,
    available_begin_time, available_end_time, distributed_coupons, no_cash, singleitem, stock_type;
    optional: stock_use_rule, start_time, stop_time, cut_to_message, card_id. ``cut_to_message``
    (减至券 only) and ``card_id`` (微信卡包) never apply to the NORMAL stocks the emulator creates.
    """
    use = stock["stock_use_rule"]
    rule = stock["coupon_use_rule"]
    fixed = rule.get("fixed_normal_coupon") or {}
    # StockUseRule (answer side): max_coupons, max_amount, max_amount_by_day, max_coupons_per_user
    # required; fixed_normal_coupon, coupon_type, goods_tag, trade_type, combine_use optional.
    use_rule: dict[str, Any] = {
        "max_coupons": use["max_coupons"],
        "max_amount": use["max_amount"],
        # Required in the answer but optional on creation (StockRule ``max_amount_by_day,omitempty``):
        # without a daily cap we answer the whole budget (our choice; no source says what WeChat sends).
        "max_amount_by_day": use.get("max_amount_by_day", use["max_amount"]),
        "fixed_normal_coupon": {
            "coupon_amount": fixed.get("coupon_amount"),
            "transaction_minimum": fixed.get("transaction_minimum"),
        },
        "max_coupons_per_user": use["max_coupons_per_user"],
        "coupon_type": "NORMAL",
    }
    for field in ("goods_tag", "trade_type", "combine_use"):  # CouponRule fields echoed by StockUseRule
        if rule.get(field) is not None:
            use_rule[field] = rule[field]
    view: dict[str, Any] = {
        "stock_id": stock["stock_id"],
        "stock_creator_mchid": stock["stock_creator_mchid"],
        "stock_name": stock["stock_name"],
        "status": stock["status"],
        "create_time": stock["create_time"],
        "description": stock.get("description", ""),
        "stock_use_rule": use_rule,
        "available_begin_time": stock["available_begin_time"],
        "available_end_time": stock["available_end_time"],
        "distributed_coupons": stock["distributed_coupons"],
        "no_cash": stock["no_cash"],
    }
    for field in ("start_time", "stop_time"):  # "批次激活开启时间", "批次永久停止时间": once they happened
        if stock.get(field):
            view[field] = stock[field]
    view["singleitem"] = bool(rule.get("available_items"))
    view["stock_type"] = stock.get("stock_type", "NORMAL")
    return view


def _coupon_view(coupon: dict[str, Any], stock: dict[str, Any], *, with_id: bool = False) -> dict[str, Any]:
    """The official ``Coupon`` (wechatpay-go models.go): the user-coupon answer of query and list.

    ``cut_to_message`` (减至券 only) never applies. ``consume_information`` is added once the coupon
    is USED: it is not in wechatpay-go's ``Coupon`` model (the SDK drops it), but the COUPON.USE
    notification resource carries it (FINDINGS-favor.md, notification.coupon_use), and the brief
    asks for it; clients that follow the model simply ignore it. ``coupon_id`` is not a ``Coupon``
    field either, so the query and list answers leave it out (the caller already knows it from
    the send answer or the path); ``with_id`` adds it for the COUPON.USE notification resource
    (whose unconfirmed old-doc shape has it) and the admin API.
    """
    fixed = stock["coupon_use_rule"].get("fixed_normal_coupon", {})
    view = {
        "stock_creator_mchid": stock["stock_creator_mchid"],
        "stock_id": stock["stock_id"],
        **({"coupon_id": coupon["coupon_id"]} if with_id else {}),
        "coupon_name": stock["stock_name"],
        "status": coupon["status"],
        "description": stock.get("description", ""),
        "create_time": coupon["create_time"],
        "coupon_type": "NORMAL",
        "no_cash": stock["no_cash"],
        "available_begin_time": stock["available_begin_time"],
        "available_end_time": stock["available_end_time"],
        "singleitem": bool(stock["coupon_use_rule"].get("available_items")),
        "normal_coupon_information": {
            "coupon_amount": coupon.get("coupon_value") or fixed.get("coupon_amount"),
            "transaction_minimum": coupon.get("coupon_minimum") or fixed.get("transaction_minimum"),
        },
    }
    if "consume_information" in coupon:
        view["consume_information"] = coupon["consume_information"]
    return view
