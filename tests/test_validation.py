"""Client-side validation: each rule fails and passes; nothing goes on the wire when it fails."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxpay_async import CHINA_TZ, Client
from wxpay_async.emulator import sample_stock
from wxpay_async.errors import ValidationError
from wxpay_async.validation import (
    REQUEST_NUMBER,
    RFC3339_RULE,
    check_notify_url,
    check_request_number,
    parse_rfc3339,
    validate_request,
)

from .conftest import client_kwargs
from .fake_wechat import FakeWeChat, Reply

ROOT = Path(__file__).resolve().parents[1]


def stock(**changes: Any) -> dict[str, Any]:
    body = {**sample_stock("1900000001", max_coupons=10), "out_request_no": "REQ_1"}
    for path, value in changes.items():
        target = body
        *parents, leaf = path.split("__")
        for part in parents:
            target = target[part]
        target[leaf] = value
    return body


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"stock_name": "一二三四五六七八九十"}, "stock_name"),
        ({"stock_name": "a" * 21}, "stock_name"),
        ({"stock_name": "bad_name"}, "stock_name"),
        (
            {"coupon_use_rule__fixed_normal_coupon__coupon_amount": 5},
            "coupon_use_rule.fixed_normal_coupon.coupon_amount",
        ),
        (
            {"coupon_use_rule__fixed_normal_coupon__coupon_amount": 100001},
            "coupon_use_rule.fixed_normal_coupon.coupon_amount",
        ),
        (
            {"coupon_use_rule__fixed_normal_coupon__transaction_minimum": 99},
            "coupon_use_rule.fixed_normal_coupon.transaction_minimum",
        ),
        ({"stock_use_rule__max_coupons_per_user": 0}, "stock_use_rule.max_coupons_per_user"),
        ({"available_end_time": (dt.datetime.now(CHINA_TZ) + dt.timedelta(days=95)).isoformat()}, "available_end_time"),
        ({"stock_type": "DISCOUNT_CUT"}, "stock_type"),
        ({"out_request_no": "has space"}, "out_request_no"),
        ({"no_cash": None}, "no_cash"),
    ],
)
def test_stock_rules_fail(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_request("favor.create_stock", body=stock(**changes))
    assert info.value.field == field


def test_stock_rules_pass() -> None:
    validate_request("favor.create_stock", body=stock())
    # Where official sources disagree, what either allows passes (wechatpay-go's sample sends these):
    validate_request("favor.create_stock", body=stock(coupon_use_rule__fixed_normal_coupon__transaction_minimum=100))
    validate_request("favor.create_stock", body=stock(stock_use_rule__max_amount=999))
    validate_request("favor.create_stock", body=stock(pattern_info={"background_color": "COLOR010"}))
    validate_request("favor.create_stock", body=stock(pattern_info={"background_color": "Color010"}))
    validate_request("favor.create_stock", body=stock(stock_name="满100减10元优惠券"))  # 9 CJK characters
    validate_request("favor.create_stock", body=stock(stock_name="a" * 20))


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/wxpay/notify", True),
        ("http://127.0.0.1:8080/notify", True),
        ("http://example.com/notify", False),
        ("https://example.com/notify?x=1", False),
        ("https://example.com/notify#frag", False),
        ("notify", False),
    ],
)
def test_notify_url(url: str, ok: bool) -> None:
    if ok:
        check_notify_url("notify_url", url)
        validate_request("favor.set_callbacks", body={"mchid": "1900000001", "notify_url": url})
    else:
        with pytest.raises(ValidationError, match="notify_url"):
            validate_request("favor.set_callbacks", body={"mchid": "1900000001", "notify_url": url})


def test_required_enum_and_query_rules() -> None:
    with pytest.raises(ValidationError) as info:
        validate_request(
            "favor.send_coupon",
            path={"openid": "o"},
            body={"appid": "wx", "stock_creator_mchid": "1"},
            skip_required=("out_request_no",),
        )
    assert (info.value.field, info.value.rule) == ("stock_id", "required")
    validate_request(
        "favor.send_coupon",
        path={"openid": "o"},
        body={"stock_id": "1", "appid": "wx", "stock_creator_mchid": "1"},
        skip_required=("out_request_no",),
    )
    with pytest.raises(ValidationError, match="stock_creator_mchid"):
        validate_request("favor.get_stock", path={"stock_id": "1"}, query={})
    with pytest.raises(ValidationError, match="stock_id"):
        validate_request("favor.get_stock", path={"stock_id": ""}, query={"stock_creator_mchid": "1"})
    with pytest.raises(ValidationError, match="must be one of"):
        validate_request(
            "favor.list_stocks", query={"offset": 0, "limit": 10, "stock_creator_mchid": "1", "status": "bogus"}
        )
    validate_request(
        "favor.list_stocks", query={"offset": 0, "limit": 10, "stock_creator_mchid": "1", "status": "running"}
    )
    with pytest.raises(ValidationError, match=">= 1"):
        validate_request(
            "favor.send_coupon",
            path={"openid": "o"},
            body={"stock_id": "1", "appid": "wx", "stock_creator_mchid": "1", "coupon_value": 0},
            skip_required=("out_request_no",),
        )


@given(st.text(alphabet=st.sampled_from("0123456789azAZ_-|*"), min_size=1, max_size=128))
def test_valid_request_numbers_pass(number: str) -> None:
    check_request_number("out_request_no", number)


@given(st.text(min_size=1, max_size=140).filter(lambda s: not REQUEST_NUMBER.match(s)))
def test_invalid_request_numbers_fail(number: str) -> None:
    with pytest.raises(ValidationError):
        check_request_number("out_request_no", number)


async def test_nothing_is_sent_when_validation_fails_and_the_flag_turns_it_off(fake: FakeWeChat, server: Any) -> None:
    async with Client(**client_kwargs(fake, server, mode="public_key")) as wx:
        with pytest.raises(ValidationError):
            await wx.favor.create_stock(**{k: v for k, v in stock(stock_name="bad_name").items()})
        assert fake.received == []
    fake.queue(Reply(body={"notify_url": "http://example.com/?a=1", "update_time": "2025-01-01T00:00:00+08:00"}))
    async with Client(**client_kwargs(fake, server, mode="public_key", validate=False)) as wx:
        await wx.favor.set_callbacks(mchid="1900000001", notify_url="http://example.com/?a=1")
        assert len(fake.received) == 1


def in_days(days: float) -> str:
    return (dt.datetime.now(CHINA_TZ) + dt.timedelta(days=days)).replace(microsecond=0).isoformat()


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"available_begin_time": in_days(400), "available_end_time": in_days(401)}, "available_begin_time", "365"),
        ({"available_begin_time": in_days(2), "available_end_time": in_days(1)}, "available_end_time", "before"),
        ({"available_begin_time": "tomorrow"}, "available_begin_time", "RFC 3339"),
        ({"stock_use_rule__max_coupons": 0}, "stock_use_rule.max_coupons", ">= 1"),
        ({"stock_use_rule__max_coupons": "10"}, "stock_use_rule.max_coupons", "integer"),
        ({"no_cash": "no"}, "no_cash", "true or false"),
        ({"stock_name": ""}, "stock_name", "required"),
        ({"coupon_use_rule__limit_card": {"bin": ["12345"]}}, "coupon_use_rule.limit_card.bin[0]", "at least 6"),
        ({"coupon_use_rule__limit_card": {"bin": ["123456"] * 11}}, "coupon_use_rule.limit_card.bin", "at most 10"),
        ({"coupon_use_rule__trade_type": ["BOGUS"]}, "coupon_use_rule.trade_type[0]", "must be one of"),
        ({"coupon_use_rule__available_merchants": "1900000001"}, "coupon_use_rule.available_merchants", "list"),
        ({"stock_use_rule": "all"}, "stock_use_rule", "object"),
        ({"out_request_no": "x" * 129}, "out_request_no", "128"),
    ],
)
def test_generic_rules_fail(changes: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_request("favor.create_stock", body=stock(**changes))
    assert info.value.field == field
    assert rule in info.value.rule


def test_generic_rules_pass() -> None:
    validate_request(
        "favor.create_stock",
        body=stock(
            available_begin_time=in_days(300),
            available_end_time=in_days(390),
            coupon_use_rule__limit_card={"bin": ["123456", "123456789"], "name": "card"},
            coupon_use_rule__trade_type=["MICROAPP", "APPPAY"],
            out_request_no="x" * 128,
        ),
    )
    # Missing request numbers pass: the core fills them.
    body = {k: v for k, v in stock().items() if k != "out_request_no"}
    validate_request("favor.create_stock", body=body, skip_required=("out_request_no",))
    with pytest.raises(ValidationError, match="out_request_no"):
        validate_request("favor.create_stock", body=body)


def test_product_coupon_request_numbers_and_notify_config() -> None:
    path = {"openid": "o1"}
    ok = {"stock_id": "s", "appid": "wx", "brand_id": "b", "product_coupon_id": "p"}
    op = "product_coupon.send_coupon"
    validate_request(
        op, path=path, body={**ok, "send_request_no": "A_12-34" + "x" * 121}, skip_required=("send_request_no",)
    )
    # Officially 6-128 characters of 0-9 A-Z a-z _ - (no | or *, unlike cash coupons).
    for bad in ("A/1234", "A_1|2*3-4", "A1234", "x" * 129):
        with pytest.raises(ValidationError, match="6-128 characters") as info:
            validate_request(op, path=path, body={**ok, "send_request_no": bad}, skip_required=("send_request_no",))
        assert info.value.field == "send_request_no"
    use = {
        **ok,
        "stock_id": "s",
        "appid": "wx",
        "use_time": "2025-08-02T00:00:00+08:00",
        "out_request_no": "USE_000001",
    }
    path2 = {"openid": "o1", "coupon_code": "c1"}
    for bad in ("USE_1", "USE|000001", "U" * 41):
        with pytest.raises(ValidationError, match="6-40 characters"):
            validate_request("product_coupon.use_coupon", path=path2, body={**use, "out_request_no": bad})
    # use_coupon: exactly one of the payment order or the pay-score order.
    with pytest.raises(ValidationError, match="exactly one of"):
        validate_request("product_coupon.use_coupon", path=path2, body=use)
    order = {"transaction_id": "4200000001"}
    validate_request("product_coupon.use_coupon", path=path2, body={**use, "associated_order_info": order})
    validate_request("product_coupon.use_coupon", path=path2, body={**use, "associated_pay_score_order_info": order})
    with pytest.raises(ValidationError, match="exactly one of") as info:
        body = {**use, "associated_order_info": order, "associated_pay_score_order_info": order}
        validate_request("product_coupon.use_coupon", path=path2, body=body)
    assert info.value.field == "associated_pay_score_order_info"
    validate_request("product_coupon.set_notify_config", body={"notify_url": "https://example.com/n"})
    with pytest.raises(ValidationError, match="https"):
        validate_request("product_coupon.set_notify_config", body={"notify_url": "http://example.com/n"})


@given(st.text(alphabet=st.characters(codec="ascii"), min_size=0, max_size=140))
def test_spec_request_number_rule_matches_the_charset(number: str) -> None:
    """Through validate_request (the spec's pattern and maxLength) and check_request_number alike."""
    body = {"stock_id": "1", "appid": "wx", "stock_creator_mchid": "1", "out_request_no": number}
    expected_ok = REQUEST_NUMBER.fullmatch(number) is not None  # a value is matched whole ("0\n" is refused)
    try:
        validate_request("favor.send_coupon", path={"openid": "o"}, body=body)
        ok = True
    except ValidationError as exc:
        assert exc.field == "out_request_no"
        ok = False
    assert ok == expected_ok


def _outcome(check: Any) -> str:
    try:
        check()
    except ValidationError as exc:
        return str(exc)
    return "ok"


def test_compiled_checkers_agree_with_the_schema_walk() -> None:
    """The per-operation compiled checkers give exactly the reference walk's verdicts and messages."""
    from wxpay_async.validation import _object_checker, operations

    odd_values: list[Any] = [None, "", "x", "x" * 300, 0, -1, 10**12, True, 1.5, [], ["x"], [{}], {}, {"a": 1}]
    compared = 0
    for op in operations().values():
        schema = op["body"]
        if schema is None:
            continue
        check = _object_checker(schema)
        for name in schema.get("properties") or {}:
            for value in odd_values:
                body = {**{r: "1" for r in schema.get("required") or ()}, name: value}
                expected = _outcome(lambda b=body, s=schema: _walk_object("", s, b))
                assert _outcome(lambda b=body, c=check: c("", b)) == expected, (op["name"], name, value)
                compared += 1
    assert compared > 1000


# -- the reference: the schema walk validation used before checkers were compiled ------------
def _walk_value(field: str, schema: Mapping[str, Any], value: Any) -> None:
    kind = schema.get("type")
    if value is None:
        return
    if kind == "object":
        if not isinstance(value, Mapping):
            raise ValidationError(field, "must be an object")
        _walk_object(field + ".", schema, value)
    elif kind == "array":
        if not isinstance(value, list | tuple):
            raise ValidationError(field, "must be a list")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise ValidationError(field, f"at most {schema['maxItems']} items")
        for i, item in enumerate(value):
            _walk_value(f"{field}[{i}]", schema.get("items") or {}, item)
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(field, "must be an integer")
        if "minimum" in schema and value < schema["minimum"]:
            raise ValidationError(field, f"must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ValidationError(field, f"must be <= {schema['maximum']}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ValidationError(field, "must be true or false")
    elif kind == "string":
        if not isinstance(value, str):
            raise ValidationError(field, "must be a string")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ValidationError(field, schema.get("x-rule") or f"at most {schema['maxLength']} characters")
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise ValidationError(field, schema.get("x-rule") or f"at least {schema['minLength']} characters")
        if schema.get("format") == "rfc3339" and parse_rfc3339(value) is None:
            raise ValidationError(field, RFC3339_RULE)
    if "enum" in schema and value not in schema["enum"]:
        raise ValidationError(field, f"must be one of {', '.join(map(str, schema['enum']))}")
    if "pattern" in schema and isinstance(value, str) and not re.compile(schema["pattern"]).fullmatch(value):
        if "x-rule" in schema:
            raise ValidationError(field, schema["x-rule"])
        if field.rsplit(".", 1)[-1].endswith("request_no"):
            raise ValidationError(field, "request numbers are 1-128 characters of 0-9 A-Z a-z _ - | *")
        raise ValidationError(field, f"must match {schema['pattern']}")


def _walk_object(prefix: str, schema: Mapping[str, Any], value: Mapping[str, Any]) -> None:
    properties = schema.get("properties") or {}
    for name in schema.get("required") or ():
        if value.get(name) is None or value.get(name) == "":
            raise ValidationError(prefix + name, "required")
    for name, item in value.items():
        if name in properties:
            _walk_value(prefix + name, properties[name], item)
