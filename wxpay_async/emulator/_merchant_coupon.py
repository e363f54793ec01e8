"""Merchant coupons (商家券, ``/v3/marketing/busifavor``): stocks, code modes, sends, a coupon state machine.

Shapes are those of the official Go models (wechatpay-apiv3/wechatpay-go
``services/merchantexclusivecoupon/models.go``, abbreviated ``GO`` below); rules come from their
field comments, quoted where they are applied:

- code modes (``CouponCodeMode``): ``WECHATPAY_MODE`` — WeChat Pay assigns a 22-digit code
  (wechatpayv3 ``marketing_busifavor_stock_create``: "系统分配券code。（固定22位纯数字）");
  ``MERCHANT_API`` — the send names the code (``SendCouponRequest.coupon_code``: "要求接口指定code发券
  的批次必传"); ``MERCHANT_UPLOAD`` — codes uploaded to the stock are dispatched in upload order
  (``CouponCodeEntity.code_status`` AVAILABLE → DISPATCHED).
- budgets (``StockSendRule``): ``max_coupons`` in total, ``max_coupons_by_day``,
  ``max_coupons_per_user``; a budget change names the current value beside the target one
  (``ModifyBudgetBody``) and a current value that is not the stock's is refused.
- coupon states (``CouponStatus``): SENDED → USED (use) → SENDED (return: 申请退券 gives the coupon
  back) ; SENDED → DEACTIVATED (deactivate). ``use`` of an unavailable coupon, ``return`` of an
  unused one, ``deactivate`` of a used one: 400 INVALID_REQUEST.
- order association (``AssociateTradeInfoRequest``): one ``out_trade_no`` per coupon; disassociating
  another order number is refused.
- subsidies (``SubsidyPayRequest``/``SubsidyReturnRequest``): only for stocks created with
  ``subsidy: true`` and used coupons; the returns of one coupon never exceed its subsidy
  ("单个券code回退总金额不能超过补差金额").
- ``COUPON.SEND`` (领券事件, event ``EVENT_TYPE_BUSICOUPON_SEND``) is delivered signed and AES-GCM
  encrypted to the URL set with ``POST /callbacks`` after each send
  (https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter9_2_15.shtml; the page itself could not be read
  here: field names as its referrers quote them, see tests/official/FINDINGS-merchant-coupon.md).

Error codes: 400 PARAM_ERROR / INVALID_REQUEST, 404 NOT_FOUND, 403 NOT_ENOUGH (budget or uploaded
codes used up) and 400 ALREADY_EXISTS (a request number reused with another body) follow the other
families; the busifavor pages' own error tables could not be read (FINDINGS-merchant-coupon.md).
Every POST/PATCH with a request number is idempotent: the same number and body answer the first answer.
``send_gov_card`` (消费卡) is not emulated: no API creates the card it sends (404 NOT_FOUND).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from ._call import Call, Route
from ._clock import CST, parse_rfc3339, rfc3339
from ._errors import ApiError, invalid_request, param_error
from ._idempotency import answer_once
from ._validate import public, query_int, request_no, require_int, require_obj, require_str

BASE = "/v3/marketing/busifavor"
STOCKS = "mc_stocks"
COUPONS = "mc_user_coupons"
CODES = "mc_codes"
REQUESTS = "mc_requests"
USER_COUNTS = "mc_user_counts"
CALLBACKS = "mc_callbacks"
PAY_RECEIPTS = "mc_subsidy_pay"
RETURN_RECEIPTS = "mc_subsidy_return"

STOCK_TYPES = ("NORMAL", "DISCOUNT", "EXCHANGE")
CODE_MODES = ("WECHATPAY_MODE", "MERCHANT_API", "MERCHANT_UPLOAD")
USE_METHODS = ("OFF_LINE", "MINI_PROGRAMS", "SELF_CONSUME", "PAYMENT_CODE")
DEFAULT_VALIDITY = 30 * 86400
#: The 429 code of the other v3 marketing APIs (the busifavor error tables could not be read).
RATE_LIMIT_CODE = "FREQUENCY_LIMIT_EXCEED"
#: ``CouponEntity`` fields copied from the stock, in the official order (GO#CouponEntity).
STOCK_FIELDS_ON_COUPON = (
    "belong_merchant",
    "stock_name",
    "comment",
    "goods_name",
    "stock_type",
    "display_pattern_info",
    "coupon_use_rule",
    "custom_entrance",
)
#: ``StockGetResponse`` fields (GO#StockGetResponse), in the official order.
STOCK_FIELDS = (
    "stock_name",
    "belong_merchant",
    "comment",
    "goods_name",
    "stock_type",
    "coupon_use_rule",
    "stock_send_rule",
    "custom_entrance",
    "display_pattern_info",
    "stock_state",
    "coupon_code_mode",
    "stock_id",
    "coupon_code_count",
    "notify_config",
    "send_count_information",
    "subsidy",
)


def _not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", what)


def _enum(data: dict[str, Any], field: str, allowed: tuple[str, ...]) -> str:
    value = data.get(field)
    if value not in allowed:
        raise param_error(field, f"must be one of {', '.join(allowed)}", value)
    return str(value)


async def _idempotent(call: Call, op: str, field: str, run: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``run`` once per (op, merchant, request number); a replay answers the stored first answer.

    ``op`` is the spec's operation name: the request number is checked by that operation's rule
    (``_request_numbers``; ``use_request_no`` is string[1,32], the others string[1,128]).
    """
    number = request_no(call.data, field, f"merchant_coupon.{op}")
    return await answer_once(call, REQUESTS, f"{op}|{call.mchid}|{number}", field, number, run)


def _today(call: Call) -> str:
    return dt.datetime.fromtimestamp(int(call.emu.now()), CST).date().isoformat()


def _stock(call: Call, stock_id: str) -> dict[str, Any]:
    stock = call.emu.store.get(STOCKS, stock_id)
    if stock is None:
        raise _not_found(f"未找到批次: {stock_id}")
    return stock


def _stock_view(stock: dict[str, Any]) -> dict[str, Any]:
    view = {k: stock[k] for k in STOCK_FIELDS if k in stock}
    if stock["coupon_code_mode"] == "MERCHANT_UPLOAD":  # GO#StockGetResponse.coupon_code_count
        view["coupon_code_count"] = {"total_count": stock["_uploaded"], "available_count": len(stock["_queue"])}
    return view


def _coupon(call: Call, stock_id: str | None, code: str) -> dict[str, Any]:
    if stock_id:
        found = call.emu.store.get(COUPONS, f"{stock_id}|{code}")
    else:  # WECHATPAY_MODE codes are unique: the stock may be omitted (GO#UseCouponRequest.stock_id)
        found = next((c for c in call.emu.store.values(COUPONS) if c["coupon_code"] == code), None)
        if found is not None and found["_code_mode"] != "WECHATPAY_MODE":
            raise param_error("stock_id", "is required for MERCHANT_API and MERCHANT_UPLOAD stocks")
    if found is None:
        raise _not_found(f"未找到券: {code}")
    return found


def _coupon_view(coupon: dict[str, Any]) -> dict[str, Any]:
    return public(coupon)


async def create_stock(call: Call) -> Any:
    body = call.data

    async def run() -> Any:
        require_str(body, "stock_name", max_len=21)
        require_str(body, "belong_merchant")
        require_str(body, "goods_name", max_len=15)
        _enum(body, "stock_type", STOCK_TYPES)
        mode = _enum(body, "coupon_code_mode", CODE_MODES)
        rule = require_obj(body, "coupon_use_rule")
        require_obj(rule, "coupon_available_time", path="coupon_use_rule.")
        _enum(rule, "use_method", USE_METHODS)
        send_rule = require_obj(body, "stock_send_rule")
        require_int(send_rule, "max_coupons_per_user", minimum=1, maximum=100, path="stock_send_rule.")
        for field in ("max_coupons", "max_coupons_by_day"):
            if field in send_rule:
                require_int(send_rule, field, minimum=1, maximum=1_000_000_000, path="stock_send_rule.")
        stock_id = str(call.emu.store.next_id("mc_stock", 1_200_000_000_000_001))
        stock = {
            **{k: body[k] for k in STOCK_FIELDS if k in body},
            "stock_id": stock_id,
            "stock_state": "RUNNING",
            "coupon_code_mode": mode,
            "send_count_information": {"total_send_num": 0, "today_send_num": 0},
            "_creator": call.mchid,
            "_queue": [],
            "_uploaded": 0,
            "_per_day": {},
        }
        call.emu.store.put(STOCKS, stock_id, stock)
        return {"stock_id": stock_id, "create_time": rfc3339(call.emu.now())}

    return await _idempotent(call, "create_stock", "out_request_no", run)


async def get_stock(call: Call) -> Any:
    return _stock_view(_stock(call, call.params["stock_id"]))


async def update_stock(call: Call) -> Any:
    async def run() -> Any:
        stock = _stock(call, call.params["stock_id"])
        if "stock_name" in call.data:  # GO#ModifyStockInfoBody.stock_name: "注：该字段暂不支持修改"
            raise invalid_request("stock_name 暂不支持修改: the stock name cannot be changed")
        for field in ("custom_entrance", "comment", "goods_name", "display_pattern_info", "notify_config", "subsidy"):
            if field in call.data:
                stock[field] = call.data[field]
        for field in ("coupon_use_rule", "stock_send_rule"):
            if isinstance(call.data.get(field), dict):
                stock[field] = {**stock.get(field, {}), **call.data[field]}
        call.emu.store.put(STOCKS, stock["stock_id"], stock)
        return None  # 204: wechatpay-go ModifyStockInfo reads no answer

    return await _idempotent(call, "update_stock", "out_request_no", run)


async def update_stock_budget(call: Call) -> Any:
    async def run() -> Any:
        stock = _stock(call, call.params["stock_id"])
        rule = stock["stock_send_rule"]
        targets = [f for f in ("target_max_coupons", "target_max_coupons_by_day") if f in call.data]
        if len(targets) != 1:  # GO#ModifyBudgetBody: "target_max_coupons与target_max_coupons_by_day只能修改一个"
            raise param_error("target_max_coupons", "send exactly one of target_max_coupons, target_max_coupons_by_day")
        target = targets[0]
        field = target.removeprefix("target_")
        current_field = "current_" + field
        value = require_int(call.data, target, minimum=1, maximum=1_000_000_000)
        current = require_int(call.data, current_field, minimum=0)
        if current != rule.get(field):  # "注：当前批次即未修改的批次"
            raise invalid_request(f"{current_field} 与批次当前值不一致: the stock's {field} is {rule.get(field)}")
        sent = stock["send_count_information"]
        floor = sent["total_send_num"] if field == "max_coupons" else sent.get("today_send_num", 0)
        if value < floor:
            raise invalid_request(f"{target} 不能小于已发放数量: {floor} coupons were already sent")
        rule[field] = value
        call.emu.store.put(STOCKS, stock["stock_id"], stock)
        answer = {"max_coupons": rule.get("max_coupons", 0)}
        if "max_coupons_by_day" in rule:
            answer["max_coupons_by_day"] = rule["max_coupons_by_day"]
        return answer

    return await _idempotent(call, "update_stock_budget", "modify_budget_request_no", run)


async def upload_codes(call: Call) -> Any:
    async def run() -> Any:
        stock = _stock(call, call.params["stock_id"])
        if stock["coupon_code_mode"] != "MERCHANT_UPLOAD":
            raise invalid_request("批次不是商户上传code模式: the stock's coupon_code_mode is not MERCHANT_UPLOAD")
        codes = call.data.get("coupon_code_list")
        if not isinstance(codes, list) or not 1 <= len(codes) <= 200:  # "条目个数限制为【1，200】"
            raise param_error("coupon_code_list", "must hold 1 to 200 codes", codes)
        now = rfc3339(call.emu.now())
        success: list[str] = []
        exist: list[str] = []
        duplicate: list[str] = []
        fail: list[dict[str, str]] = []
        seen: set[str] = set()
        for code in codes:
            if not isinstance(code, str) or not 1 <= len(code) <= 32:  # "单个券code长度为【1，32】"
                fail.append({"coupon_code": str(code), "code": "PARAM_ERROR", "message": "code 长度为1-32"})
            elif code in seen:
                if code not in duplicate:
                    duplicate.append(code)
            elif call.emu.store.get(CODES, f"{stock['stock_id']}|{code}") is not None:
                exist.append(code)
            else:
                seen.add(code)
                success.append(code)
                call.emu.store.put(
                    CODES, f"{stock['stock_id']}|{code}", {"code": code, "code_status": "AVAILABLE", "upload_time": now}
                )
        stock["_queue"] = [*stock["_queue"], *success]
        stock["_uploaded"] += len(success)
        call.emu.store.put(STOCKS, stock["stock_id"], stock)
        answer: dict[str, Any] = {
            "stock_id": stock["stock_id"],
            "total_count": stock["_uploaded"],
            "success_count": len(success),
            "success_codes": success,
            "success_time": now,
            "fail_count": len(fail),
        }
        for name, values in (("fail_codes", fail), ("exist_codes", exist), ("duplicate_codes", duplicate)):
            if values:
                answer[name] = values
        return answer

    return await _idempotent(call, "upload_coupon_codes", "upload_request_no", run)


def _code(call: Call) -> dict[str, Any]:
    stock = _stock(call, call.params["stock_id"])
    code = call.emu.store.get(CODES, f"{stock['stock_id']}|{call.params['coupon_code']}")
    if code is None or code.get("_deleted"):
        raise _not_found(f"未找到预存code: {call.params['coupon_code']}")
    return code


async def list_codes(call: Call) -> Any:
    stock = _stock(call, call.params["stock_id"])
    offset = query_int(call.query, "offset", 0, maximum=1_000_000)
    limit = query_int(call.query, "limit", 20, minimum=1, maximum=100)
    status = call.query.get("status")
    prefix = f"{stock['stock_id']}|"
    codes = [
        public(c)
        for key, c in sorted(call.emu.store.table(CODES).items())
        if key.startswith(prefix) and not c.get("_deleted") and (not status or c["code_status"] == status)
    ]
    codes.sort(key=lambda c: (c["upload_time"], c["code"]))
    return {
        "stock_id": stock["stock_id"],
        "total_count": len(codes),
        "data": codes[offset : offset + limit],
        "offset": offset,
        "limit": len(codes[offset : offset + limit]),  # "返回数据的实际个数"
    }


async def get_code(call: Call) -> Any:
    code = _code(call)
    answer: dict[str, Any] = {"code_information": public(code)}
    coupon = call.emu.store.get(COUPONS, f"{call.params['stock_id']}|{code['code']}")
    if coupon is not None:
        answer["coupon_information"] = _coupon_view(coupon)
    return answer


async def delete_code(call: Call) -> Any:
    number = require_str(call.query, "delete_request_no", location="query")
    key = f"delete_code|{call.mchid}|{call.params['stock_id']}|{call.params['coupon_code']}|{number}"
    previous = call.emu.store.get(REQUESTS, key)
    if previous is not None:
        return previous["answer"]
    code = _code(call)
    if code["code_status"] != "AVAILABLE":  # only an undispatched code can be deleted
        raise invalid_request("code 已被分配，不能删除: the code was already dispatched")
    stock = _stock(call, call.params["stock_id"])
    stock["_queue"] = [c for c in stock["_queue"] if c != code["code"]]
    call.emu.store.put(STOCKS, stock["stock_id"], stock)
    code["_deleted"] = True
    call.emu.store.put(CODES, f"{stock['stock_id']}|{code['code']}", code)
    answer = {"stock_id": stock["stock_id"], "delete_time": rfc3339(call.emu.now())}
    call.emu.store.put(REQUESTS, key, {"answer": answer})
    return answer


def _validity(stock: dict[str, Any], now: float) -> tuple[str, str]:
    """(available_start_time, expire_time) of a coupon received now (GO#FavorAvailableTime)."""
    rule = (stock.get("coupon_use_rule") or {}).get("coupon_available_time") or {}
    begin = parse_rfc3339(rule.get("available_begin_time")) or now
    end = parse_rfc3339(rule.get("available_end_time")) or now + DEFAULT_VALIDITY
    start = max(begin, now) + 86400 * int(rule.get("wait_days_after_receive") or 0)
    if rule.get("available_day_after_receive"):
        end = min(end, start + 86400 * int(rule["available_day_after_receive"]))
    return rfc3339(start), rfc3339(end)


def _issue(call: Call, stock: dict[str, Any], openid: str, appid: str, number: str) -> dict[str, Any]:
    emu = call.emu
    if stock["stock_state"] != "RUNNING":
        raise invalid_request(f"批次状态不是RUNNING: stock_state is {stock['stock_state']}")
    rule = stock["stock_send_rule"]
    sent = stock["send_count_information"]
    per_day: dict[str, int] = stock["_per_day"]
    today = _today(call)
    if rule.get("max_coupons") is not None and sent["total_send_num"] >= rule["max_coupons"]:
        raise ApiError(403, "NOT_ENOUGH", "批次预算不足: max_coupons reached")
    if rule.get("max_coupons_by_day") is not None and per_day.get(today, 0) >= rule["max_coupons_by_day"]:
        raise ApiError(403, "NOT_ENOUGH", "批次当天预算不足: max_coupons_by_day reached")
    user_key = f"{stock['stock_id']}|{openid}"
    user = emu.store.get(USER_COUNTS, user_key) or {"count": 0}
    if user["count"] >= rule["max_coupons_per_user"]:
        raise invalid_request("用户领取已达到上限: max_coupons_per_user reached", field="openid")
    mode = stock["coupon_code_mode"]
    wanted = call.data.get("coupon_code")
    if mode == "MERCHANT_API":
        code = require_str(call.data, "coupon_code")  # "要求接口指定code发券的批次必传"
        if emu.store.get(COUPONS, f"{stock['stock_id']}|{code}") is not None:
            raise ApiError(400, "ALREADY_EXISTS", f"coupon_code 已存在: {code}")
    elif wanted is not None:
        raise param_error("coupon_code", f"only MERCHANT_API stocks take a code (the stock is {mode})", wanted)
    elif mode == "MERCHANT_UPLOAD":
        if not stock["_queue"]:
            raise ApiError(403, "NOT_ENOUGH", "预存code不足: the stock has no uploaded code left")
        code = stock["_queue"][0]  # uploaded codes are dispatched in upload order
        stock["_queue"] = stock["_queue"][1:]
    else:
        code = str(emu.store.next_id("mc_code", 1_000_000_000_000_000_000_001))  # 22 digits
    now = emu.now()
    start, end = _validity(stock, now)
    coupon = {
        **{k: stock[k] for k in STOCK_FIELDS_ON_COUPON if k in stock},
        "transferable": bool(rule.get("transferable", False)),
        "shareable": bool(rule.get("shareable", False)),
        "coupon_state": "SENDED",
        "coupon_code": code,
        "stock_id": stock["stock_id"],
        "available_start_time": start,
        "expire_time": end,
        "receive_time": rfc3339(now),
        "send_request_no": number,
        "_openid": openid,
        "_appid": appid,
        "_code_mode": mode,
        "_creator": stock["_creator"],
        "_sender": call.mchid,
    }
    if mode == "MERCHANT_UPLOAD":
        record = emu.store.get(CODES, f"{stock['stock_id']}|{code}") or {"code": code}
        record.update(code_status="DISPATCHED", dispatched_time=rfc3339(now), openid=openid, coupon_code=code)
        emu.store.put(CODES, f"{stock['stock_id']}|{code}", record)
    sent["total_send_num"] += 1
    per_day[today] = per_day.get(today, 0) + 1
    sent["today_send_num"] = per_day[today]
    user["count"] += 1
    emu.store.put(USER_COUNTS, user_key, user)
    emu.store.put(STOCKS, stock["stock_id"], stock)
    emu.store.put(COUPONS, f"{stock['stock_id']}|{code}", coupon)
    emu.ledger.issue(
        kind="merchant",
        coupon_id=f"{stock['stock_id']}|{code}",
        stock_id=stock["stock_id"],
        openid=openid,
        request_no=number,
        mchid=call.mchid,
        at=coupon["receive_time"],
        coupon_code=code,
    )
    return coupon


def _notify_sent(call: Call, coupon: dict[str, Any]) -> None:
    """``COUPON.SEND`` to the merchant's callback URL (领券事件回调通知, chapter9_2_15)."""
    config = call.emu.store.get(CALLBACKS, coupon["belong_merchant"]) or call.emu.store.get(CALLBACKS, call.mchid)
    merchant = call.emu.merchants.get(call.mchid)
    if config is None or merchant is None:
        return
    resource = {
        "event_type": "EVENT_TYPE_BUSICOUPON_SEND",
        "coupon_code": coupon["coupon_code"],
        "stock_id": coupon["stock_id"],
        "send_time": coupon["receive_time"],
        "openid": coupon["_openid"],
        "unionid": "",
        "send_channel": "BUSICOUPON_SEND_CHANNEL_API",
        "send_merchant": coupon["_sender"],
    }
    envelope = call.emu.notifier.envelope(
        event_type="COUPON.SEND",
        summary="商家券用户领券通知",
        resource=resource,
        associated_data="busifavor",
        original_type="busifavor",
        apiv3_key=merchant.apiv3_key,
    )
    call.emu.notifier.send(config["notify_url"], envelope)


async def send_coupon(call: Call) -> Any:
    call.emu.rate_limit(call.mchid, RATE_LIMIT_CODE)
    number = call.data.get("out_request_no", "")
    issued: list[dict[str, Any]] = []

    async def run() -> Any:
        openid = require_str(call.data, "openid")
        appid = require_str(call.data, "appid")
        stock = _stock(call, require_str(call.data, "stock_id"))
        coupon = _issue(call, stock, openid, appid, number)
        issued.append(coupon)
        return {
            "send_coupon_result": {
                "stock_id": stock["stock_id"],
                "out_request_no": number,
                "coupon_code": coupon["coupon_code"],
            }
        }

    answer = await _idempotent(call, "send_coupon", "out_request_no", run)
    call.count_send("merchant", number, issued, _notify_sent)
    return answer


async def send_gov_card(call: Call) -> Any:
    raise _not_found(f"未找到消费卡: {call.params['card_id']} (consumption cards are not emulated)")


def _action(op: str, field: str, apply: Callable[[Call, dict[str, Any], str], dict[str, Any]]) -> Any:
    async def handler(call: Call) -> Any:
        async def run() -> Any:
            code = require_str(call.data, "coupon_code")
            coupon = _coupon(call, call.data.get("stock_id"), code)
            answer = apply(call, coupon, rfc3339(call.emu.now()))
            call.emu.store.put(COUPONS, f"{coupon['stock_id']}|{coupon['coupon_code']}", coupon)
            return answer

        return await _idempotent(call, op, field, run)

    handler.__name__ = op
    return handler


def _use(call: Call, coupon: dict[str, Any], now: str) -> dict[str, Any]:
    require_str(call.data, "appid")
    if parse_rfc3339(call.data.get("use_time")) is None:
        raise param_error("use_time", "must be an RFC 3339 time", call.data.get("use_time"))
    if call.data.get("openid") not in (None, coupon["_openid"]):
        raise invalid_request("openid 与券不匹配: the coupon belongs to another user", field="openid")
    if coupon["coupon_state"] != "SENDED":
        raise invalid_request(f"券状态不可核销: coupon_state is {coupon['coupon_state']}")
    expire = parse_rfc3339(coupon["expire_time"])
    if expire is not None and expire < call.emu.now():
        coupon["coupon_state"] = "EXPIRED"
        raise invalid_request("券已过期: the coupon expired")
    coupon.update(coupon_state="USED", use_request_no=call.data["use_request_no"], use_time=now)
    return {"stock_id": coupon["stock_id"], "openid": coupon["_openid"], "wechatpay_use_time": now}


def _return(call: Call, coupon: dict[str, Any], now: str) -> dict[str, Any]:
    if coupon["coupon_state"] != "USED":  # 申请退券: a used coupon goes back to the user
        raise invalid_request(f"券未核销，不能退券: coupon_state is {coupon['coupon_state']}")
    coupon.update(coupon_state="SENDED", return_request_no=call.data["return_request_no"], return_time=now)
    return {"wechatpay_return_time": now}


def _deactivate(call: Call, coupon: dict[str, Any], now: str) -> dict[str, Any]:
    if coupon["coupon_state"] != "SENDED":  # 使券失效: only a coupon the user can still use
        raise invalid_request(f"券状态不可失效: coupon_state is {coupon['coupon_state']}")
    coupon.update(
        coupon_state="DEACTIVATED", deactivate_request_no=call.data["deactivate_request_no"], deactivate_time=now
    )
    if "deactivate_reason" in call.data:
        coupon["deactivate_reason"] = call.data["deactivate_reason"]
    return {"wechatpay_deactivate_time": now}


def _associate(call: Call, coupon: dict[str, Any], now: str) -> dict[str, Any]:
    out_trade_no = require_str(call.data, "out_trade_no")
    if coupon.get("associate_out_trade_no") not in (None, out_trade_no):
        raise invalid_request("券已关联其他订单: the coupon is associated with another order")
    coupon["associate_out_trade_no"] = out_trade_no
    return {"wechatpay_associate_time": now}


def _disassociate(call: Call, coupon: dict[str, Any], now: str) -> dict[str, Any]:
    out_trade_no = require_str(call.data, "out_trade_no")
    if coupon.get("associate_out_trade_no") != out_trade_no:
        raise invalid_request("券未关联该订单: the coupon is not associated with this out_trade_no")
    del coupon["associate_out_trade_no"]
    return {"wechatpay_disassociate_time": now}


async def get_user_coupon(call: Call) -> Any:
    matches = [
        c
        for c in call.emu.store.values(COUPONS)
        if c["coupon_code"] == call.params["coupon_code"]
        and c["_openid"] == call.params["openid"]
        and c["_appid"] == call.params["appid"]
    ]
    if not matches:
        raise _not_found(f"未找到用户券: {call.params['coupon_code']}")
    return _coupon_view(matches[0])


async def list_user_coupons(call: Call) -> Any:
    q = call.query
    appid = require_str(q, "appid", location="query")
    offset = query_int(q, "offset", 0, maximum=1_000_000)
    limit = query_int(q, "limit", 20, minimum=1, maximum=50)
    coupons = [
        c
        for c in call.emu.store.values(COUPONS)
        if c["_openid"] == call.params["openid"]
        and c["_appid"] == appid
        and (not q.get("stock_id") or c["stock_id"] == q["stock_id"])
        and (not q.get("coupon_state") or c["coupon_state"] == q["coupon_state"])
        and (not q.get("creator_merchant") or c["_creator"] == q["creator_merchant"])
        and (not q.get("belong_merchant") or c["belong_merchant"] == q["belong_merchant"])
        and (not q.get("sender_merchant") or c["_sender"] == q["sender_merchant"])
    ]
    coupons.sort(key=lambda c: (c["receive_time"], c["coupon_code"]))
    page = coupons[offset : offset + limit]
    return {"data": [_coupon_view(c) for c in page], "total_count": len(coupons), "limit": limit, "offset": offset}


async def set_callbacks(call: Call) -> Any:
    mchid = call.data.get("mchid") or call.mchid
    url = call.emu.check_notify_url(call.data.get("notify_url"))
    config = {"mchid": mchid, "notify_url": url, "update_time": rfc3339(call.emu.now())}
    call.emu.store.put(CALLBACKS, mchid, config)
    return config


async def get_callbacks(call: Call) -> Any:
    mchid = call.query.get("mchid") or call.mchid
    config = call.emu.store.get(CALLBACKS, mchid)
    if config is None:
        raise _not_found(f"未设置事件通知地址: {mchid}")
    return {"mchid": mchid, "notify_url": config["notify_url"]}


async def subsidy_pay(call: Call) -> Any:
    async def run() -> Any:
        stock = _stock(call, require_str(call.data, "stock_id"))
        coupon = _coupon(call, stock["stock_id"], require_str(call.data, "coupon_code"))
        if not stock.get("subsidy"):  # GO#StockGetResponse.subsidy: "该批次发放的券是否允许进行补差"
            raise invalid_request("批次不允许补差: the stock was not created with subsidy=true")
        if coupon["coupon_state"] != "USED":
            raise invalid_request("券未核销，不能补差: only a used coupon is subsidised")
        amount = require_int(call.data, "amount", minimum=1)
        now = rfc3339(call.emu.now())
        receipt = {
            "subsidy_receipt_id": str(call.emu.store.next_id("mc_subsidy_pay", 1_120_200_119_165_100_000_001)),
            "stock_id": stock["stock_id"],
            "coupon_code": coupon["coupon_code"],
            "transaction_id": require_str(call.data, "transaction_id"),
            "payer_merchant": require_str(call.data, "payer_merchant"),
            "payee_merchant": require_str(call.data, "payee_merchant"),
            "amount": amount,
            "description": require_str(call.data, "description"),
            "status": "PAY_RECEIPT_SUCCESS",
            "success_time": now,
            "out_subsidy_no": call.data["out_subsidy_no"],
            "create_time": now,
        }
        call.emu.store.put(PAY_RECEIPTS, receipt["subsidy_receipt_id"], receipt)
        return receipt

    return await _idempotent(call, "create_subsidy_pay_receipt", "out_subsidy_no", run)


async def subsidy_return(call: Call) -> Any:
    async def run() -> Any:
        stock_id = require_str(call.data, "stock_id")
        code = require_str(call.data, "coupon_code")
        transaction_id = require_str(call.data, "transaction_id")
        paid = [
            r
            for r in call.emu.store.values(PAY_RECEIPTS)
            if r["stock_id"] == stock_id and r["coupon_code"] == code and r["transaction_id"] == transaction_id
        ]
        if not paid:
            raise _not_found("未找到补差付款单: no subsidy was paid for this coupon and transaction")
        pay = paid[0]
        amount = require_int(call.data, "amount", minimum=1)
        returned = sum(
            r["amount"]
            for r in call.emu.store.values(RETURN_RECEIPTS)
            if r["subsidy_receipt_id"] == pay["subsidy_receipt_id"]
        )
        if returned + amount > pay["amount"]:  # "单个券Code回退总金额不能超过补差金额"
            raise invalid_request(f"回退金额超过补差金额: {returned} of {pay['amount']} already returned")
        now = rfc3339(call.emu.now())
        receipt = {
            "subsidy_return_receipt_id": str(
                call.emu.store.next_id("mc_subsidy_return", 1_120_200_119_165_200_000_001)
            ),
            "stock_id": stock_id,
            "coupon_code": code,
            "transaction_id": transaction_id,
            "refund_id": require_str(call.data, "refund_id"),
            "payer_merchant": require_str(call.data, "payer_merchant"),
            "payee_merchant": require_str(call.data, "payee_merchant"),
            "amount": amount,
            "description": require_str(call.data, "description"),
            "status": "RETURN_RECEIPT_SUCCESS",
            "return_done_time": now,
            "subsidy_receipt_id": pay["subsidy_receipt_id"],
            "out_subsidy_return_no": call.data["out_subsidy_return_no"],
            "return_create_time": now,
        }
        pay["status"] = (
            "PAY_RECEIPT_FULL_RETURN" if returned + amount == pay["amount"] else "PAY_RECEIPT_PARTIAL_RETURN"
        )
        call.emu.store.put(PAY_RECEIPTS, pay["subsidy_receipt_id"], pay)
        call.emu.store.put(RETURN_RECEIPTS, receipt["subsidy_return_receipt_id"], receipt)
        return receipt

    return await _idempotent(call, "create_subsidy_return_receipt", "out_subsidy_return_no", run)


async def get_pay_receipt(call: Call) -> Any:
    receipt = call.emu.store.get(PAY_RECEIPTS, call.params["subsidy_receipt_id"])
    if receipt is None:
        raise _not_found(f"未找到补差付款单: {call.params['subsidy_receipt_id']}")
    return receipt


async def list_pay_receipts(call: Call) -> Any:
    stock_id = require_str(call.query, "stock_id", location="query")
    code = require_str(call.query, "coupon_code", location="query")
    out_no = call.query.get("out_subsidy_no")
    receipts = [
        r
        for r in call.emu.store.values(PAY_RECEIPTS)
        if r["stock_id"] == stock_id and r["coupon_code"] == code and (not out_no or r["out_subsidy_no"] == out_no)
    ]
    return {"pay_receipt_list": sorted(receipts, key=lambda r: r["subsidy_receipt_id"])}


async def get_return_receipt(call: Call) -> Any:
    receipt = call.emu.store.get(RETURN_RECEIPTS, call.params["subsidy_return_receipt_id"])
    if receipt is None:
        raise _not_found(f"未找到补差回退单: {call.params['subsidy_return_receipt_id']}")
    return receipt


S = f"{BASE}/stocks/{{stock_id}}"
ROUTES: list[Route] = [
    ("POST", f"{BASE}/stocks", create_stock),
    ("GET", S, get_stock),
    ("PATCH", S, update_stock),
    ("PATCH", f"{S}/budget", update_stock_budget),
    ("POST", f"{S}/couponcodes", upload_codes),
    ("GET", f"{S}/couponcodes", list_codes),
    ("GET", f"{S}/couponcodes/{{coupon_code}}", get_code),
    ("DELETE", f"{S}/couponcodes/{{coupon_code}}", delete_code),
    ("POST", f"{BASE}/coupons/send", send_coupon),
    ("POST", f"{BASE}/coupons/{{card_id}}/send", send_gov_card),
    ("POST", f"{BASE}/coupons/use", _action("use_coupon", "use_request_no", _use)),
    ("POST", f"{BASE}/coupons/return", _action("return_coupon", "return_request_no", _return)),
    ("POST", f"{BASE}/coupons/deactivate", _action("deactivate_coupon", "deactivate_request_no", _deactivate)),
    ("POST", f"{BASE}/coupons/associate", _action("associate_order", "out_request_no", _associate)),
    ("POST", f"{BASE}/coupons/disassociate", _action("disassociate_order", "out_request_no", _disassociate)),
    ("GET", f"{BASE}/users/{{openid}}/coupons", list_user_coupons),
    ("GET", f"{BASE}/users/{{openid}}/coupons/{{coupon_code}}/appids/{{appid}}", get_user_coupon),
    ("POST", f"{BASE}/callbacks", set_callbacks),
    ("GET", f"{BASE}/callbacks", get_callbacks),
    ("POST", f"{BASE}/subsidy/pay-receipts", subsidy_pay),
    ("GET", f"{BASE}/subsidy/pay-receipts", list_pay_receipts),
    ("GET", f"{BASE}/subsidy/pay-receipts/{{subsidy_receipt_id}}", get_pay_receipt),
    ("POST", f"{BASE}/subsidy/return-receipts", subsidy_return),
    ("GET", f"{BASE}/subsidy/return-receipts/{{subsidy_return_receipt_id}}", get_return_receipt),
]
