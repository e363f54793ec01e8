"""Cash-coupon stocks: create, the start/pause/restart/stop lifecycle, queries, merchants and goods.

Sources: the wechatpay-go ``services/cashcoupons`` package doc
(/work/shared/seeds/cashcoupons-go-package-doc.txt) for the lifecycle; wechatpay-go ``models.go``
(``ModifyAvailableSingleitemResponse``).
"""

from __future__ import annotations

from typing import Any

from .._auth import body_fingerprint
from .._call import Call
from .._clock import parse_rfc3339, rfc3339
from .._errors import ApiError, invalid_request, param_error
from .._validate import request_no, require_str
from ._common import PAUSED, RUNNING, STOCK_REQUESTS, STOCKS, STOPPED, UNACTIVATED, _page, _stock
from ._stock_rules import validate_stock
from ._views import _stock_view

#: action -> (states it is allowed from, resulting state, time field); the 前置条件 of each API in
#: wechatpay-go's cashcoupons package doc (StartStock: 成功创建; PauseStock: 成功激活;
#: RestartStock: 批次处于暂停状态; StopStock: "终止未激活的代金券批次", 批次未激活).
TRANSITIONS: dict[str, tuple[frozenset[str], str, str]] = {
    "start": (frozenset({UNACTIVATED}), RUNNING, "start_time"),
    "pause": (frozenset({RUNNING}), PAUSED, "pause_time"),
    "restart": (frozenset({PAUSED}), RUNNING, "restart_time"),
    "stop": (frozenset({UNACTIVATED}), STOPPED, "stop_time"),
}


async def create_stock(call: Call) -> Any:
    emu, body = call.emu, call.data
    out_request_no = request_no(body, "out_request_no", "favor.create_stock")
    key = f"{call.mchid}|{out_request_no}"
    fingerprint = body_fingerprint(body)
    previous = emu.store.get(STOCK_REQUESTS, key)
    if previous is not None:
        if previous["fingerprint"] != fingerprint:
            raise ApiError(400, "ALREADY_EXISTS", f"out_request_no {out_request_no} was used for another stock")
        stock = emu.store.get(STOCKS, previous["stock_id"])
        assert stock is not None
        return {"stock_id": stock["stock_id"], "create_time": stock["create_time"]}
    now = emu.now()
    derived = validate_stock(body, now)
    stock_id = str(emu.store.next_id("favor_stock", 16_000_001))
    rule = dict(body["coupon_use_rule"])
    rule.setdefault("available_merchants", [body["belong_merchant"]])
    stock = {
        **{k: v for k, v in body.items() if k not in ("out_request_no",)},
        "coupon_use_rule": rule,
        "stock_id": stock_id,
        "stock_creator_mchid": call.mchid,
        "status": UNACTIVATED,
        "description": (body.get("pattern_info") or {}).get("description", body.get("comment", "")),
        "create_time": rfc3339(now),
        "singleitem": bool(rule.get("available_items")),
        "distributed_coupons": 0,
        "_distributed_amount": 0,
        "_begin": derived["begin"],
        "_end": derived["end"],
    }
    emu.store.put(STOCKS, stock_id, stock)
    emu.store.put(STOCK_REQUESTS, key, {"fingerprint": fingerprint, "stock_id": stock_id})
    return {"stock_id": stock_id, "create_time": stock["create_time"]}


def _transition(action: str) -> Any:
    allowed, target, time_field = TRANSITIONS[action]

    async def handler(call: Call) -> Any:
        creator = require_str(call.data, "stock_creator_mchid")
        stock = _stock(call, call.params["stock_id"], creator)
        now = call.emu.now()
        if stock["status"] not in allowed:
            raise invalid_request(
                f"批次状态不允许{action}: stock is {stock['status']}, {action} needs {'/'.join(sorted(allowed))}",
                field="status",
                value=stock["status"],
                issue=f"cannot {action}",
            )
        if action in ("start", "restart") and now >= stock["_end"]:
            raise invalid_request("活动未开始或已结束: the stock's available_end_time has passed")
        stock["status"] = target
        stock[time_field] = rfc3339(now)
        call.emu.store.put(STOCKS, stock["stock_id"], stock)
        return {"stock_id": stock["stock_id"], time_field: stock[time_field]}

    handler.__name__ = f"{action}_stock"
    return handler


async def list_stocks(call: Call) -> Any:
    creator = require_str(call.query, "stock_creator_mchid", location="query")
    status = call.query.get("status")
    start = parse_rfc3339(call.query.get("create_start_time")) if call.query.get("create_start_time") else None
    end = parse_rfc3339(call.query.get("create_end_time")) if call.query.get("create_end_time") else None
    stocks = []
    for stock in call.emu.store.values(STOCKS):
        if stock["stock_creator_mchid"] != creator or (status and stock["status"] != status):
            continue
        created = parse_rfc3339(stock["create_time"]) or 0.0
        if (start is not None and created < start) or (end is not None and created > end):
            continue
        stocks.append(stock)
    stocks.sort(key=lambda s: int(s["stock_id"]))
    offset, limit, page = _page(call, stocks, max_limit=10, default_limit=None)
    return {"total_count": len(stocks), "offset": offset, "limit": limit, "data": [_stock_view(s) for s in page]}


async def query_stock(call: Call) -> Any:
    creator = require_str(call.query, "stock_creator_mchid", location="query")
    return _stock_view(_stock(call, call.params["stock_id"], creator))


async def list_merchants(call: Call) -> Any:
    creator = require_str(call.query, "stock_creator_mchid", location="query")
    stock = _stock(call, call.params["stock_id"], creator)
    merchants = list(stock["coupon_use_rule"].get("available_merchants") or [])
    offset, limit, page = _page(call, merchants, max_limit=50, default_limit=None)
    return {
        "total_count": len(merchants),
        "data": page,
        "offset": offset,
        "limit": limit,
        "stock_id": stock["stock_id"],
    }


async def list_items(call: Call) -> Any:
    creator = require_str(call.query, "stock_creator_mchid", location="query")
    stock = _stock(call, call.params["stock_id"], creator)
    items = list(stock["coupon_use_rule"].get("available_items") or [])
    offset, limit, page = _page(call, items, max_limit=50, default_limit=None)
    return {"total_count": len(items), "data": page, "offset": offset, "limit": limit, "stock_id": stock["stock_id"]}


async def modify_goods(call: Call) -> Any:
    creator = require_str(call.data, "stock_creator_mchid")
    stock = _stock(call, call.params["stock_id"], creator)
    add = call.data.get("add_goods_id_list") or []
    delete = call.data.get("delete_goods_id_list") or []
    if not isinstance(add, list) or not isinstance(delete, list):
        raise param_error("add_goods_id_list", "add/delete lists must be arrays of strings")
    items = [i for i in stock["coupon_use_rule"].get("available_items") or [] if i not in delete]
    items += [i for i in add if i not in items]
    if not items:
        raise param_error("delete_goods_id_list", "至少需要保留一个商品编码: at least one goods id must remain")
    if len(items) > 50:
        raise param_error("add_goods_id_list", "at most 50 goods ids", len(items))
    stock["coupon_use_rule"]["available_items"] = items
    stock["singleitem"] = True
    stock["_goods_effect_time"] = rfc3339(call.emu.now())
    call.emu.store.put(STOCKS, stock["stock_id"], stock)
    # ModifyAvailableSingleitemResponse {effect_time, stock_id} (wechatpay-go models.go; the model is
    # bound to no SDK method, so the endpoint-to-model link is inferred from the names).
    return {"stock_id": stock["stock_id"], "effect_time": stock["_goods_effect_time"]}
