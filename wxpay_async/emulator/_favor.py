"""Cash coupons (``/v3/marketing/favor``): stocks with a real lifecycle, sends with budgets and idempotency.

Answers are built field by field in the official shapes of wechatpay-go's
``services/cashcoupons/models.go`` (``Stock``/``StockUseRule``/``FixedValueStockMsg`` for stocks,
``Coupon`` for user coupons, ``{Start,Pause,Restart,Stop}StockResponse``,
``ModifyAvailableSingleitemResponse``); request-only fields of the creation body
(``natural_person_limit``, ``prevent_api_abuse``, ``pattern_info``, ``belong_merchant``, ``comment``,
``out_request_no``...) are never echoed.

Lifecycle (wechatpay-go ``services/cashcoupons`` package doc, /work/shared/seeds/cashcoupons-go-package-doc.txt):
start needs a created, never activated stock (StartStock "前置条件：成功创建代金券批次"); pause needs an
activated, running stock (PauseStock "前置条件：成功激活代金券批次"); restart needs a paused stock
(RestartStock "且批次处于暂停状态"); stop only ends a stock that was never activated (StopStock
"终止未激活的代金券批次；前置条件：……且批次未激活").

Error codes, with their sources (where the sources are silent the choice is ours and says so):

- validation: 400 PARAM_ERROR with ``detail.field`` (every official error table starts with it)
- stock not found / not the caller's: 404 RESOURCE_NOT_EXISTS (our choice: the favor error tables
  could not be read, see tests/official/FINDINGS-favor.md)
- illegal lifecycle transition, stock not running, outside its time window: 400 INVALID_REQUEST
  ("活动未开始或已结束" for the time window, as in the developer guide's FAQ; INVALID_REQUEST is the
  generic "does not fit the business rules" code of every official table)
- budget (max_coupons or max_amount) used up: 403 NOT_ENOUGH (official send error tables, as in
  product-coupon-send-to-user.txt "403 NOT_ENOUGH 批次发放预算不足")
- per-user limit (max_coupons_per_user) reached: 403 RULE_LIMIT (the official cash-coupon send
  page's error table as quoted by our issue tracker; the page itself could not be read here. The
  same table has 403 REQUEST_BLOCKED for risk-blocked users, which the emulator never produces)
- same ``out_request_no`` with a different body: 400 ALREADY_EXISTS (a replay with the same body
  answers 200 with the same ``coupon_id`` / ``stock_id``)
- send rate above ``send_rate`` per merchant: 429 FREQUENCY_LIMIT_EXCEED (the same quoted table)

Status strings are WeChat Pay's own, including the misspelt ``stoped`` (Stock.status comment:
"unactivated-未激活;audit-审核中;running-运行中;stoped-已停止;paused-暂停发放").
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import secrets
from typing import Any

from ._auth import body_fingerprint
from ._call import Call, Route
from ._clock import cst_date, parse_rfc3339, rfc3339
from ._errors import ApiError, invalid_request, param_error
from ._validate import query_int, request_no, require_bool, require_int, require_obj, require_str

BASE = "/v3/marketing/favor"
STOCKS = "favor_stocks"
COUPONS = "favor_coupons"
STOCK_REQUESTS = "favor_stock_requests"
SEND_REQUESTS = "favor_send_requests"
USER_COUNTS = "favor_user_counts"
CALLBACKS = "favor_callbacks"
MEDIA = "media"
DOWNLOAD_PATH = "/v3/billdownload/file"

UNACTIVATED, RUNNING, PAUSED, STOPPED = "unactivated", "running", "paused", "stoped"
#: action -> (states it is allowed from, resulting state, time field); the 前置条件 of each API in
#: wechatpay-go's cashcoupons package doc (StartStock: 成功创建; PauseStock: 成功激活;
#: RestartStock: 批次处于暂停状态; StopStock: "终止未激活的代金券批次", 批次未激活).
TRANSITIONS: dict[str, tuple[frozenset[str], str, str]] = {
    "start": (frozenset({UNACTIVATED}), RUNNING, "start_time"),
    "pause": (frozenset({RUNNING}), PAUSED, "pause_time"),
    "restart": (frozenset({PAUSED}), RUNNING, "restart_time"),
    "stop": (frozenset({UNACTIVATED}), STOPPED, "stop_time"),
}
#: Rate-limit code of the cash-coupon APIs (official send error table as quoted by our issue tracker).
RATE_LIMIT_CODE = "FREQUENCY_LIMIT_EXCEED"
MAX_VALIDITY = 90 * 86400
MAX_START_AHEAD = 365 * 86400
#: Clients' clocks lag; a begin time this far in the past still counts as "not before now".
BEGIN_GRACE = 300
FORBIDDEN_NAME_CHARS = set("_,;|")


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def validate_stock_name(name: str) -> None:
    """At most 9 Chinese characters or 20 letters (a Chinese character weighs two), no ``_ , ; |``."""
    cjk = sum(1 for ch in name if _is_cjk(ch))
    if cjk > 9 or cjk * 2 + (len(name) - cjk) > 20:
        raise param_error("stock_name", "at most 9 Chinese characters or 20 letters", name)
    if FORBIDDEN_NAME_CHARS & set(name):
        raise param_error("stock_name", "must not contain _ , ; |", name)


def validate_stock(body: dict[str, Any], now: float) -> dict[str, Any]:
    """The developer guide's checks for ``POST /coupon-stocks``; returns the derived amounts."""
    validate_stock_name(require_str(body, "stock_name"))
    require_str(body, "belong_merchant")
    if body.get("stock_type") != "NORMAL":
        raise param_error("stock_type", "only NORMAL is supported", body.get("stock_type"))
    require_bool(body, "no_cash")
    begin = parse_rfc3339(body.get("available_begin_time"))
    end = parse_rfc3339(body.get("available_end_time"))
    if begin is None:
        raise param_error("available_begin_time", "must be an RFC 3339 time", body.get("available_begin_time"))
    if end is None:
        raise param_error("available_end_time", "must be an RFC 3339 time", body.get("available_end_time"))
    if begin < now - BEGIN_GRACE:
        raise param_error("available_begin_time", "must not be earlier than now", body["available_begin_time"])
    if begin > now + MAX_START_AHEAD:
        raise param_error("available_begin_time", "must start within 365 days", body["available_begin_time"])
    if end <= begin:
        raise param_error("available_end_time", "must be after available_begin_time", body["available_end_time"])
    if end - begin > MAX_VALIDITY:
        raise param_error(
            "available_end_time", "活动未开始或已结束: the stock may run at most 90 days", body["available_end_time"]
        )

    use = require_obj(body, "stock_use_rule")
    p = "stock_use_rule."
    max_coupons = require_int(use, "max_coupons", minimum=1, maximum=1_000_000_000, path=p)
    max_amount = require_int(use, "max_amount", minimum=1, path=p)
    require_int(use, "max_coupons_per_user", minimum=1, maximum=100, path=p)
    require_bool(use, "natural_person_limit", path=p)
    require_bool(use, "prevent_api_abuse", path=p)
    if "max_amount_by_day" in use:
        by_day = require_int(use, "max_amount_by_day", minimum=1, path=p)
        if by_day > max_amount:
            raise param_error(p + "max_amount_by_day", "must not exceed max_amount", by_day)

    rule = require_obj(body, "coupon_use_rule")
    p = "coupon_use_rule."
    fixed = require_obj(rule, "fixed_normal_coupon", path=p)
    p2 = p + "fixed_normal_coupon."
    amount = require_int(fixed, "coupon_amount", minimum=10, maximum=100_000, path=p2)
    minimum = require_int(fixed, "transaction_minimum", minimum=10, maximum=10_000_000, path=p2)
    if minimum - amount < 1:
        raise param_error(p2 + "transaction_minimum", "must exceed coupon_amount by at least 1 fen", minimum)
    if max_amount != amount * max_coupons:
        raise param_error(
            "stock_use_rule.max_amount",
            f"批次预算等于批次面额乘以发券数: must equal coupon_amount × max_coupons = {amount * max_coupons}",
            max_amount,
        )
    available = rule.get("coupon_available_time")
    if isinstance(available, dict) and "available_time_after_receive" in available:
        require_int(
            available, "available_time_after_receive", minimum=1, maximum=1440, path=p + "coupon_available_time."
        )
    for list_field in ("available_merchants", "available_items", "goods_tag"):
        items = rule.get(list_field)
        if items is not None and (not isinstance(items, list) or len(items) > 50):
            raise param_error(p + list_field, "must be a list of at most 50 strings", items)
    return {"coupon_amount": amount, "transaction_minimum": minimum, "begin": begin, "end": end}


# -- helpers -------------------------------------------------------------------------------------
def _stock(call: Call, stock_id: str, creator: str | None = None) -> dict[str, Any]:
    stock = call.emu.store.get(STOCKS, stock_id)
    if stock is None or (creator is not None and stock["stock_creator_mchid"] != creator):
        raise ApiError(404, "RESOURCE_NOT_EXISTS", f"批次不存在: stock {stock_id}")
    return stock


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


def _page(call: Call, items: list[Any], *, max_limit: int, default_limit: int | None) -> tuple[int, int, list[Any]]:
    offset = query_int(call.query, "offset", 0 if default_limit is not None else None, maximum=10**9)
    limit = query_int(call.query, "limit", default_limit, minimum=1, maximum=max_limit)
    return offset, limit, items[offset : offset + limit]


# -- stocks --------------------------------------------------------------------------------------
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


# -- sends ---------------------------------------------------------------------------------------
async def send_coupon(call: Call) -> Any:
    emu, body, openid = call.emu, call.data, call.params["openid"]
    emu.rate_limit(call.mchid, RATE_LIMIT_CODE)
    out_request_no = request_no(body, "out_request_no")
    stock_id = require_str(body, "stock_id")
    require_str(body, "appid")
    creator = require_str(body, "stock_creator_mchid")
    key = f"{call.mchid}|{out_request_no}"
    fingerprint = body_fingerprint({"openid": openid, **body})
    previous = emu.store.get(SEND_REQUESTS, key)
    if previous is not None:
        if previous["fingerprint"] != fingerprint:
            raise ApiError(
                400,
                "ALREADY_EXISTS",
                f"out_request_no {out_request_no} was already used with different parameters",
                detail={"field": "out_request_no", "value": out_request_no, "issue": "reused with another body"},
            )
        emu.ledger.count("cash", call.mchid, out_request_no, "processed")
        call.count_accepted("cash", out_request_no)
        return {"coupon_id": previous["coupon_id"]}
    stock = _stock(call, stock_id, creator)
    now = emu.now()
    if stock["status"] != RUNNING:
        raise invalid_request(
            f"批次不在发放状态: stock {stock_id} is {stock['status']}", field="stock_id", value=stock_id
        )
    if not stock["_begin"] <= now < stock["_end"]:
        raise invalid_request(
            "活动未开始或已结束: outside the stock's available time", field="stock_id", value=stock_id
        )
    fixed = stock["coupon_use_rule"].get("fixed_normal_coupon", {})
    value = body.get("coupon_value", fixed.get("coupon_amount", 0))
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise param_error("coupon_value", "must be a positive integer (fen)", value)
    if "coupon_minimum" in body:
        require_int(body, "coupon_minimum", minimum=value + 1)
    use = stock["stock_use_rule"]
    if stock["distributed_coupons"] >= use["max_coupons"] or stock["_distributed_amount"] + value > use["max_amount"]:
        raise ApiError(403, "NOT_ENOUGH", "批次预算不足: the stock's budget is used up")
    today = cst_date(now)
    by_day = stock.setdefault("_amount_by_day", {})
    if "max_amount_by_day" in use and by_day.get(today, 0) + value > use["max_amount_by_day"]:
        raise ApiError(403, "NOT_ENOUGH", "批次当天预算不足: max_amount_by_day is used up for today")
    user_key = f"{stock_id}|{openid}"
    count_doc = emu.store.get(USER_COUNTS, user_key) or {"count": 0}
    if count_doc["count"] >= use["max_coupons_per_user"]:
        # 403 RULE_LIMIT: the official cash-coupon send error table (as quoted by our issue tracker).
        raise ApiError(
            403,
            "RULE_LIMIT",
            "用户领取已达到上限: max_coupons_per_user reached",
            detail={"field": "openid", "value": openid, "issue": "max_coupons_per_user reached"},
        )
    coupon_id = str(emu.store.next_id("favor_coupon", 90_000_000_001))
    coupon = {
        "coupon_id": coupon_id,
        "stock_id": stock_id,
        "openid": openid,
        "appid": body["appid"],
        "status": "SENDED",
        "create_time": rfc3339(now),
        "coupon_value": value,
        "coupon_minimum": body.get("coupon_minimum"),
        "sender_mchid": call.mchid,
        "out_request_no": out_request_no,
    }
    stock["distributed_coupons"] += 1
    stock["_distributed_amount"] += value
    by_day[today] = by_day.get(today, 0) + value
    count_doc["count"] += 1
    emu.store.put(COUPONS, coupon_id, coupon)
    emu.store.put(STOCKS, stock_id, stock)
    emu.store.put(USER_COUNTS, user_key, count_doc)
    emu.store.put(SEND_REQUESTS, key, {"fingerprint": fingerprint, "coupon_id": coupon_id})
    emu.ledger.issue(
        kind="cash",
        coupon_id=coupon_id,
        stock_id=stock_id,
        openid=openid,
        request_no=out_request_no,
        mchid=call.mchid,
        at=coupon["create_time"],
    )
    emu.ledger.count("cash", call.mchid, out_request_no, "processed")
    call.count_accepted("cash", out_request_no)
    return {"coupon_id": coupon_id}


async def list_user_coupons(call: Call) -> Any:
    openid, q = call.params["openid"], call.query
    appid = require_str(q, "appid", location="query")
    coupons = []
    for coupon in call.emu.store.values(COUPONS):
        if coupon["openid"] != openid or coupon["appid"] != appid:
            continue
        stock = call.emu.store.get(STOCKS, coupon["stock_id"])
        if stock is None:
            continue
        if q.get("stock_id") and coupon["stock_id"] != q["stock_id"]:
            continue
        if q.get("status") and coupon["status"] != q["status"]:
            continue
        if q.get("creator_mchid") and stock["stock_creator_mchid"] != q["creator_mchid"]:
            continue
        if q.get("sender_mchid") and coupon["sender_mchid"] != q["sender_mchid"]:
            continue
        if q.get("available_mchid") and q["available_mchid"] not in (
            stock["coupon_use_rule"].get("available_merchants") or []
        ):
            continue
        coupons.append((coupon, stock))
    coupons.sort(key=lambda pair: int(pair[0]["coupon_id"]))
    offset, limit, page = _page(call, coupons, max_limit=100, default_limit=20)
    data = [_coupon_view(coupon, stock) for coupon, stock in page]
    return {"total_count": len(coupons), "offset": offset, "limit": limit, "data": data}


async def query_coupon(call: Call) -> Any:
    appid = require_str(call.query, "appid", location="query")
    coupon = call.emu.store.get(COUPONS, call.params["coupon_id"])
    if coupon is None or coupon["openid"] != call.params["openid"] or coupon["appid"] != appid:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", f"代金券不存在: coupon {call.params['coupon_id']}")
    stock = call.emu.store.get(STOCKS, coupon["stock_id"])
    assert stock is not None
    return _coupon_view(coupon, stock)


# -- flows ---------------------------------------------------------------------------------------
USE_FLOW_HEADER = [
    "批次id",
    "优惠id",
    "优惠类型",
    "优惠金额（元）",
    "订单总金额（元）",
    "交易类型",
    "支付单号",
    "消耗时间",
    "消耗商户号",
    "设备号",
    "银行流水号",
    "单品信息",
]
REFUND_FLOW_HEADER = [
    "批次id",
    "优惠id",
    "优惠类型",
    "优惠金额（元）",
    "订单总金额（元）",
    "退款单号",
    "退款时间",
    "支付单号",
    "退款金额（元）",
]


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def flow_csv(call: Call, stock: dict[str, Any], kind: str, bill_date: str | None) -> tuple[bytes, int]:
    """The use or refund flow of a stock as CSV bytes (UTF-8, header row first) and its row count."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(USE_FLOW_HEADER if kind == "use" else REFUND_FLOW_HEADER)
    rows = 0
    for coupon in sorted(call.emu.store.values(COUPONS), key=lambda c: int(c["coupon_id"])):
        if coupon["stock_id"] != stock["stock_id"]:
            continue
        info = coupon.get("consume_information") if kind == "use" else coupon.get("refund_information")
        if not info:
            continue
        when = parse_rfc3339(info.get("consume_time") or info.get("refund_time")) or 0.0
        if bill_date is not None and cst_date(when) != bill_date:
            continue
        amount = int(coupon.get("coupon_value") or 0)
        total = int(info.get("order_amount") or amount)
        if kind == "use":
            writer.writerow(
                [
                    f"`{stock['stock_id']}",
                    f"`{coupon['coupon_id']}",
                    "全场代金券",
                    _yuan(amount),
                    _yuan(total),
                    info.get("trade_type", "JSAPI"),
                    f"`{info.get('transaction_id', '')}",
                    info.get("consume_time", ""),
                    f"`{info.get('consume_mchid', '')}",
                    "",
                    "",
                    json.dumps(info.get("goods_detail") or [], ensure_ascii=False),
                ]
            )
        else:
            writer.writerow(
                [
                    f"`{stock['stock_id']}",
                    f"`{coupon['coupon_id']}",
                    "全场代金券",
                    _yuan(amount),
                    _yuan(total),
                    f"`{info.get('refund_id', '')}",
                    info.get("refund_time", ""),
                    f"`{info.get('transaction_id', '')}",
                    _yuan(int(info.get("refund_amount") or amount)),
                ]
            )
        rows += 1
    return out.getvalue().encode("utf-8"), rows


def _flow(kind: str, by_day: bool) -> Any:
    async def handler(call: Call) -> Any:
        stock = _stock(call, call.params["stock_id"])
        if stock["stock_creator_mchid"] != call.mchid:
            raise ApiError(404, "RESOURCE_NOT_EXISTS", f"批次不存在: stock {stock['stock_id']}")
        bill_date = None
        if by_day:
            bill_date = require_str(call.query, "bill_date", location="query")
            if parse_rfc3339(f"{bill_date}T00:00:00+08:00") is None:
                raise param_error("bill_date", "must be YYYY-MM-DD", bill_date, location="query")
        content, rows = flow_csv(call, stock, kind, bill_date)
        digest = hashlib.sha1(content).hexdigest()
        token = secrets.token_urlsafe(24)
        call.emu.downloads[token] = (content, call.emu.now() + call.emu.config.download_ttl)
        url = f"{call.origin}{DOWNLOAD_PATH}?token={token}"
        answer: dict[str, Any] = {"url": url, "hash_value": digest, "hash_type": "SHA1"}
        if by_day:
            answer[f"stock_{kind}flow_hash"] = digest
            answer[f"stock_{kind}flow_count"] = str(rows)
        return answer

    handler.__name__ = f"{kind}_flow{'_by_day' if by_day else ''}"
    return handler


async def download_file(call: Call) -> Any:
    """The flow file itself: needs a valid Authorization like every call, but is not signed."""
    from aiohttp import web

    token = call.query.get("token", "")
    now = call.emu.now()
    for stale in [t for t, (_, expires) in call.emu.downloads.items() if expires <= now]:
        del call.emu.downloads[stale]
    entry = call.emu.downloads.get(token)
    if entry is None:
        raise invalid_request("下载链接已失效: unknown or expired download token", field="token")
    return web.Response(body=entry[0], content_type="text/csv", charset="utf-8")


# -- callbacks and media -------------------------------------------------------------------------
async def set_callback(call: Call) -> Any:
    mchid = require_str(call.data, "mchid")
    url = call.emu.check_notify_url(call.data.get("notify_url"))
    switch = call.data.get("switch", True)
    if not isinstance(switch, bool):
        raise param_error("switch", "must be true or false", switch)
    doc = {"mchid": mchid, "notify_url": url, "switch": switch, "update_time": rfc3339(call.emu.now())}
    call.emu.store.put(CALLBACKS, mchid, doc)
    return {"update_time": doc["update_time"], "notify_url": url}


async def get_callback(call: Call) -> Any:
    mchid = require_str(call.query, "mchid", location="query")
    doc = call.emu.store.get(CALLBACKS, mchid)
    if doc is None:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", "未设置消息通知地址: no callback URL set")
    return {"mchid": mchid, "notify_url": doc["notify_url"]}


def store_image(call: Call, max_bytes: int = 2 * 1024 * 1024) -> str:
    """Check a ``meta`` + ``file`` upload (sha256 of the file) and keep it; returns its URL."""
    meta_part, file_part = call.parts.get("meta"), call.parts.get("file")
    if meta_part is None:
        raise param_error("meta", "multipart part 'meta' is required", location="multipart")
    if file_part is None:
        raise param_error("file", "multipart part 'file' is required", location="multipart")
    try:
        meta = json.loads(meta_part.data)
    except ValueError:
        raise param_error("meta", "must be a JSON object", location="multipart") from None
    if not isinstance(meta, dict):
        raise param_error("meta", "must be a JSON object", location="multipart")
    filename = require_str(meta, "filename")
    sha256 = require_str(meta, "sha256")
    actual = hashlib.sha256(file_part.data).hexdigest()
    if actual.lower() != sha256.lower():
        raise param_error("sha256", f"does not match the file (file sha256 is {actual})", sha256)
    if len(file_part.data) > max_bytes:
        raise param_error("file", f"must be at most {max_bytes} bytes", len(file_part.data))
    if not filename.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")):
        raise param_error("filename", "must be a JPG, PNG or BMP image", filename)
    media_id = actual[:32]
    call.emu.store.put(
        MEDIA,
        media_id,
        {
            "filename": filename,
            "sha256": actual,
            "size": len(file_part.data),
            "content_type": file_part.content_type,
            "data_b64": base64.b64encode(file_part.data).decode("ascii"),
        },
    )
    call.emu.media_bytes[media_id] = file_part.data
    return f"{call.origin}/_emulator/media/{media_id}"


async def upload_image(call: Call) -> Any:
    return {"media_url": store_image(call)}


ROUTES: list[Route] = [
    ("POST", f"{BASE}/coupon-stocks", create_stock),
    ("GET", f"{BASE}/stocks", list_stocks),
    ("GET", f"{BASE}/stocks/{{stock_id}}", query_stock),
    *[("POST", f"{BASE}/stocks/{{stock_id}}/{action}", _transition(action)) for action in TRANSITIONS],
    ("GET", f"{BASE}/stocks/{{stock_id}}/merchants", list_merchants),
    ("GET", f"{BASE}/stocks/{{stock_id}}/items", list_items),
    ("POST", f"{BASE}/stocks/{{stock_id}}/modify-goods-id", modify_goods),
    ("GET", f"{BASE}/stocks/{{stock_id}}/use-flow", _flow("use", False)),
    ("GET", f"{BASE}/stocks/{{stock_id}}/use-flow-by-day", _flow("use", True)),
    ("GET", f"{BASE}/stocks/{{stock_id}}/refund-flow", _flow("refund", False)),
    ("GET", f"{BASE}/stocks/{{stock_id}}/refund-flow-by-day", _flow("refund", True)),
    ("POST", f"{BASE}/users/{{openid}}/coupons", send_coupon),
    ("GET", f"{BASE}/users/{{openid}}/coupons", list_user_coupons),
    ("GET", f"{BASE}/users/{{openid}}/coupons/{{coupon_id}}", query_coupon),
    ("POST", f"{BASE}/callbacks", set_callback),
    ("GET", f"{BASE}/callbacks", get_callback),
    ("POST", f"{BASE}/media/image-upload", upload_image),
    ("GET", DOWNLOAD_PATH, download_file),
]


def use_coupon(
    emu: Any,
    coupon_id: str,
    *,
    transaction_id: str | None = None,
    order_amount: int | None = None,
    consume_mchid: str | None = None,
) -> dict[str, Any]:
    """The admin "user used coupon X": SENDED → USED, then a COUPON.USE notification if a callback is set."""
    coupon = emu.store.get(COUPONS, coupon_id)
    if coupon is None:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", f"代金券不存在: coupon {coupon_id}")
    if coupon["status"] != "SENDED":
        raise invalid_request(f"coupon {coupon_id} is {coupon['status']}, only SENDED coupons can be used")
    stock = emu.store.get(STOCKS, coupon["stock_id"])
    assert stock is not None
    now = emu.now()
    amount = int(coupon.get("coupon_value") or 0)
    coupon["status"] = "USED"
    coupon["consume_information"] = {
        "consume_time": rfc3339(now),
        "consume_mchid": consume_mchid or stock["belong_merchant"],
        "transaction_id": transaction_id or f"4200000{secrets.randbelow(10**21):021d}",
        "order_amount": order_amount if order_amount is not None else amount * 10,
        "goods_detail": [],
    }
    emu.store.put(COUPONS, coupon_id, coupon)
    view = _coupon_view(coupon, stock, with_id=True)
    delivery = None
    callback = emu.store.get(CALLBACKS, stock["stock_creator_mchid"])
    merchant = emu.merchants.get(stock["stock_creator_mchid"])
    if callback is not None and callback.get("switch", True) and merchant is not None:
        envelope = emu.notifier.envelope(
            event_type="COUPON.USE",
            summary="代金券核销通知",
            resource=view,
            associated_data="coupon",
            original_type="coupon",
            apiv3_key=merchant.apiv3_key,
        )
        delivery = emu.notifier.send(callback["notify_url"], envelope)
    return {"coupon": view, "notification_id": delivery["id"] if delivery else None}


def refund_coupon(emu: Any, coupon_id: str, *, refund_amount: int | None = None) -> dict[str, Any]:
    """The admin "the order was refunded": a USED coupon returns to the user and enters the refund flow."""
    coupon = emu.store.get(COUPONS, coupon_id)
    if coupon is None:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", f"代金券不存在: coupon {coupon_id}")
    consume = coupon.get("consume_information")
    if coupon["status"] != "USED" or not consume:
        raise invalid_request(f"coupon {coupon_id} is {coupon['status']}, only USED coupons can be refunded")
    stock = emu.store.get(STOCKS, coupon["stock_id"])
    assert stock is not None
    coupon["status"] = "SENDED"
    coupon["refund_information"] = {
        "refund_time": rfc3339(emu.now()),
        "refund_id": f"5030000{secrets.randbelow(10**21):021d}",
        "transaction_id": consume.get("transaction_id", ""),
        "order_amount": consume.get("order_amount"),
        "refund_amount": refund_amount if refund_amount is not None else int(coupon.get("coupon_value") or 0),
    }
    emu.store.put(COUPONS, coupon_id, coupon)
    return {"coupon": _coupon_view(coupon, stock, with_id=True)}
