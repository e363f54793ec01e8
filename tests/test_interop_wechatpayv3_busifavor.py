"""Merchant coupons with a client we did not write: the community ``wechatpayv3`` (2.0.4).

Its ``marketing_busifavor_*`` functions build, sign and send their own requests to the emulator and
verify its answers with the platform public key; each request they sent is then checked by the
SDK's own validation, so the emulator and ``validate_request`` accept what a real client sends.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from wxpay_async import Client
from wxpay_async.emulator import rfc3339, run_emulator
from wxpay_async.validation import request_rules, validate_request

wechatpayv3 = pytest.importorskip("wechatpayv3", reason="wechatpayv3 is a test-only dependency")

APPID = "wx233544546545989"


def _client(emu: Any, sent: list[tuple[str, str, Any]]) -> Any:
    from wechatpayv3 import WeChatPay, WeChatPayType

    wp = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=emu.mchid,
        private_key=emu.merchant_private_key_pem.decode(),
        cert_serial_no=emu.merchant_serial,
        appid=APPID,
        apiv3_key=emu.apiv3_key,
        public_key=emu.public_key_pem.decode(),
        public_key_id=emu.public_key_id,
        timeout=(5, 10),
    )
    wp._core._gate_way = emu.base_url  # the documented way to point it elsewhere is not public
    request = wp._core.request

    def recording(path: str, method: Any = None, data: Any = None, **kwargs: Any) -> Any:
        sent.append((path, method.value if method is not None else "GET", data))
        return request(path, method, data, **kwargs) if method is not None else request(path, data=data, **kwargs)

    wp._core.request = recording
    return wp


def _ok(result: tuple[int, str]) -> Any:
    code, text = result
    assert 200 <= code < 300, (code, text)
    return json.loads(text) if text else None


#: wechatpayv3 path (without the query) -> our operation, for the validation replay.
OPERATIONS = [
    ("POST", "/v3/marketing/busifavor/stocks", "create_stock"),
    ("GET", "/v3/marketing/busifavor/stocks/{stock_id}", "get_stock"),
    ("PATCH", "/v3/marketing/busifavor/stocks/{stock_id}/budget", "update_stock_budget"),
    ("PATCH", "/v3/marketing/busifavor/stocks/{stock_id}", "update_stock"),
    ("GET", "/v3/marketing/busifavor/users/{openid}/coupons", "list_user_coupons"),
    ("GET", "/v3/marketing/busifavor/users/{openid}/coupons/{coupon_code}/appids/{appid}", "get_user_coupon"),
    ("POST", "/v3/marketing/busifavor/coupons/use", "use_coupon"),
    ("POST", "/v3/marketing/busifavor/coupons/return", "return_coupon"),
    ("POST", "/v3/marketing/busifavor/coupons/deactivate", "deactivate_coupon"),
    ("POST", "/v3/marketing/busifavor/coupons/associate", "associate_order"),
    ("POST", "/v3/marketing/busifavor/coupons/disassociate", "disassociate_order"),
    ("POST", "/v3/marketing/busifavor/callbacks", "set_callbacks"),
    ("GET", "/v3/marketing/busifavor/callbacks", "get_callbacks"),
]


def _operation(method: str, path: str) -> tuple[str, dict[str, str]]:
    parts = path.split("/")
    for m, template, name in OPERATIONS:
        pattern = template.split("/")
        if m == method and len(pattern) == len(parts):
            params = {p[1:-1]: q for p, q in zip(pattern, parts, strict=True) if p.startswith("{")}
            if all(p.startswith("{") or p == q for p, q in zip(pattern, parts, strict=True)):
                return name, params
    raise AssertionError(f"no operation for {method} {path}")


def _typed_query(name: str, query: dict[str, str]) -> dict[str, Any]:
    """URL query values are text; the SDK validates the values a caller passes (ints for integers)."""
    types = {p["name"]: p["schema"].get("type") for p in request_rules()[f"merchant_coupon.{name}"]["query_params"]}
    return {k: int(v) if types.get(k) == "integer" else v for k, v in query.items()}


async def test_wechatpayv3_drives_a_merchant_coupon_lifecycle() -> None:
    sent: list[tuple[str, str, Any]] = []
    async with run_emulator(mode="public_key") as emu, Client(**emu.client_kwargs()) as ours:
        wp = _client(emu, sent)
        now = time.time()

        def create() -> dict[str, Any]:
            return _ok(  # type: ignore[no-any-return]
                wp.marketing_busifavor_stock_create(
                    stock_name="互通商家券",
                    belong_merchant=emu.mchid,
                    goods_name="全场可用",
                    stock_type="NORMAL",
                    coupon_use_rule={
                        "coupon_available_time": {
                            "available_begin_time": rfc3339(now - 60),
                            "available_end_time": rfc3339(now + 86400),
                        },
                        "fixed_normal_coupon": {"discount_amount": 100, "transaction_minimum": 1000},
                        "use_method": "OFF_LINE",
                    },
                    stock_send_rule={"max_coupons": 10, "max_coupons_per_user": 5},
                    out_request_no="interopbusi001",
                    coupon_code_mode="WECHATPAY_MODE",
                )
            )

        created = await asyncio.to_thread(create)
        stock_id = created["stock_id"]
        send = await ours.merchant_coupon.send_coupon(openid="o-interop", appid=APPID, stock_id=stock_id)
        assert send.send_coupon_result is not None
        code = send.send_coupon_result.coupon_code

        def journey() -> dict[str, Any]:
            seen: dict[str, Any] = {}
            seen["stock"] = _ok(wp.marketing_busifavor_stock_query(stock_id))
            seen["list"] = _ok(wp.marketing_busifavor_user_coupon("o-interop", stock_id=stock_id))
            seen["detail"] = _ok(wp.marketing_busifavor_coupon_detail(code, "o-interop"))
            _ok(wp.marketing_busifavor_coupon_associate(stock_id, code, "MCH_102233445", "interopassoc01"))
            _ok(wp.marketing_busifavor_coupon_disassociate(stock_id, code, "MCH_102233445", "interopdisas01"))
            seen["use"] = _ok(
                wp.marketing_busifavor_coupon_use(
                    code, rfc3339(time.time()), "1002600620019090123143254435", stock_id=stock_id
                )
            )
            _ok(wp.marketing_busifavor_coupon_return(code, stock_id, "interopreturn01"))
            _ok(wp.marketing_busifavor_coupon_deactivate(code, stock_id, "interopdeact01", "此券使用时间设置错误"))
            seen["budget"] = _ok(
                wp.marketing_busifavor_stock_budget(
                    stock_id, "interopbudget01", target_max_coupons=20, current_max_coupons=10
                )
            )
            _ok(wp.marketing_busifavor_stock_modify(stock_id, "interopmodify01", comment="互通"))
            _ok(wp.marketing_busifavor_callback_update(notify_url="https://www.example.com/busifavor"))
            seen["callbacks"] = _ok(wp.marketing_busifavor_callback_query())
            return seen

        seen = await asyncio.to_thread(journey)
        after = await ours.merchant_coupon.get_user_coupon("o-interop", code, APPID)
        stock = await ours.merchant_coupon.get_stock(stock_id)

    assert seen["stock"]["stock_id"] == stock_id and seen["stock"]["coupon_code_mode"] == "WECHATPAY_MODE"
    assert [c["coupon_code"] for c in seen["list"]["data"]] == [code]
    assert seen["detail"]["coupon_state"] == "SENDED"
    assert seen["use"]["stock_id"] == stock_id and seen["use"]["wechatpay_use_time"]
    assert seen["budget"]["max_coupons"] == 20
    assert seen["callbacks"]["notify_url"] == "https://www.example.com/busifavor"
    assert after.coupon_state == "DEACTIVATED" and stock.comment == "互通"
    assert stock.stock_send_rule is not None and stock.stock_send_rule.max_coupons == 20

    # Every request wechatpayv3 sent passes the SDK's own validation of that operation.
    assert len(sent) == 13
    for path, method, data in sent:
        parts = urlsplit(path)
        name, params = _operation(method, parts.path)
        query = _typed_query(name, dict(parse_qsl(parts.query)))
        body = data if method != "GET" else None
        validate_request(f"merchant_coupon.{name}", path=params, query=query or None, body=body)
