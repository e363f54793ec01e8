"""Every generated operation against a fake Requester (no network, no Client).

For each of the 56 operations: call the typed coroutine with values built from the spec's
examples, then check exactly what reached ``request()`` (method, path template, path params,
query, JSON body, request-number field) and that a realistic answer (the YAML's examples plus an
unknown field) structures into the operation's model, the unknown field kept in ``extra``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs
import cattrs
import pytest

from wxpay_async._converter import converter as sdk_converter
from wxpay_async._request import Request, Response
from wxpay_async.errors import ValidationError
from wxpay_async.models import favor as favor_models
from wxpay_async.pagination import AsyncPaginator, Page
from wxpay_async.resources import (
    BrandProductCouponResource,
    CertificatesResource,
    FavorResource,
    MerchantCouponResource,
    ProductCouponResource,
)
from wxpay_async.resources._base import Requester
from wxpay_async.validation import operations

from .test_resources import add_rule_fields

OPS = sorted(operations().values(), key=lambda o: (o["group"], o["name"]))
GROUPS = {
    "favor": FavorResource,
    "product_coupon": ProductCouponResource,
    "merchant_coupon": MerchantCouponResource,
    "certificates": CertificatesResource,
    "brand_product_coupon": BrandProductCouponResource,
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FILLED = "FILLED_BY_CORE_0001"


class FakeRequester:
    """Records each call; answers from a queue; fills a missing request number like the core."""

    def __init__(self, *answers: Any, validate: bool = True) -> None:
        self.converter: cattrs.Converter = sdk_converter
        self.validate = validate
        self.mchid = "1900000001"
        self.calls: list[dict[str, Any]] = []
        self.answers = list(answers)

    async def request(
        self,
        method: str,
        path: str,
        *,
        path_params: Mapping[str, str | int] | None = None,
        query: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_field: str | None = None,
        timeout: float | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        signed_payload: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        retry: Any = None,
    ) -> Response:
        # The Requester protocol's per-call options: resources always pass them (None when unset).
        assert headers is None or isinstance(headers, Mapping)
        call = {
            "method": method,
            "path": path,
            "path_params": dict(path_params or {}),
            "query": dict(query) if query is not None else None,
            "json": json,
            "idempotency_field": idempotency_field,
            "timeout": timeout,
            "content": content,
            "content_type": content_type,
            "signed_payload": signed_payload,
        }
        self.calls.append(call)
        key = None
        if idempotency_field:
            key = (json or {}).get(idempotency_field) or FILLED
        request = Request(method=method, base_url="https://api.example", target=path, idempotency_key=key)
        body = self.answers.pop(0) if self.answers else {}
        return Response(status=200, headers={}, content=_dumps(body), request=request)


def _dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def _requester_protocol_check(fake: FakeRequester) -> Requester:
    return fake  # mypy: the fake satisfies the Requester protocol


def sample(schema: dict[str, Any], name: str = "") -> Any:
    """A value for ``schema`` from its examples (request numbers made valid)."""
    kind = schema.get("type")
    if kind == "object":
        return {k: sample(v, k) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [sample(schema.get("items") or {}, name)]
    if "enum" in schema:
        return schema["enum"][0]
    if name.endswith("request_no"):
        return "REQ_20261125_0001"
    if schema.get("format") == "rfc3339":
        return "2026-11-25T10:00:00+08:00"
    if "example" in schema and not isinstance(schema["example"], dict | list):
        example = schema["example"]
        if kind == "integer":
            return int(example)
        if kind == "boolean":
            return example if isinstance(example, bool) else str(example).lower() == "true"
        return example if kind != "string" else str(example)
    if name == "notify_url":
        return "https://www.example.com/notify"
    return {"integer": 1, "number": 1.5, "boolean": True}.get(
        str(kind), f"{name or 'x'}-value"[: schema.get("maxLength")]
    )


def valid_stock() -> dict[str, Any]:
    begin = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(microsecond=0) + dt.timedelta(days=1)
    return {
        "stock_name": "满100减10元",
        "belong_merchant": "1900000001",
        "available_begin_time": begin.isoformat(),
        "available_end_time": (begin + dt.timedelta(days=30)).isoformat(),
        "stock_use_rule": {
            "max_coupons": 100,
            "max_amount": 100 * 1000,
            "max_coupons_per_user": 1,
            "natural_person_limit": False,
            "prevent_api_abuse": False,
        },
        "coupon_use_rule": {
            "fixed_normal_coupon": {"coupon_amount": 1000, "transaction_minimum": 10000},
            "available_merchants": ["1900000001"],
        },
        "no_cash": False,
        "stock_type": "NORMAL",
    }


def call_arguments(op: dict[str, Any]) -> tuple[list[str], dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """Positional path values, keyword arguments, expected query and expected JSON body."""
    positional = [f"{p['name']}-1" for p in op["path_params"]]
    kwargs: dict[str, Any] = {}
    query: dict[str, Any] = {}
    paging = {"offset", "limit", "page_token", "page_size"} if op.get("pagination") else set()
    for p in op["query_params"]:
        if p["required"] and p["name"] not in paging:
            kwargs[p["name"]] = query[p["name"]] = sample(p["schema"], p["name"])
    body: dict[str, Any] | None = None
    if op["body"] is not None:
        body = {name: sample(op["body"]["properties"][name], name) for name in op["body"].get("required") or []}
        add_rule_fields(op, body, sample)
        if (op["group"], op["name"]) == ("favor", "create_stock"):
            body = valid_stock()
        if (op["group"], op["name"]) in (
            ("favor", "set_callbacks"),
            ("product_coupon", "set_notify_config"),
            ("brand_product_coupon", "set_notify_config"),
        ):
            body["notify_url"] = "https://example.com/wxpay/notify"
        kwargs.update(body)
    if op.get("pagination"):
        size = op["pagination"]["max_limit"]
        query.update({"offset": 0, "limit": size} if op["pagination"]["style"] == "offset" else {"page_size": size})
    return positional, kwargs, query, body


def realistic_answer(op: dict[str, Any]) -> dict[str, Any]:
    answer = sample(op["response"]) if op.get("response") else {}
    answer["zz_field_added_later"] = {"kept": True}
    return answer


@pytest.mark.parametrize("op", OPS, ids=lambda o: f"{o['group']}.{o['name']}")
async def test_every_operation_calls_request_exactly(op: dict[str, Any]) -> None:
    answer = realistic_answer(op)
    fake = FakeRequester(answer)
    resource = GROUPS[op["group"]](fake)
    method = getattr(resource, op["name"])
    positional, kwargs, query, body = call_arguments(op)
    if op["kind"] == "upload":
        result = await method(*positional, PNG, filename="logo.png", timeout=3.0)
    else:
        outcome = method(*positional, **kwargs, timeout=3.0)
        if op.get("pagination"):
            assert isinstance(outcome, AsyncPaginator)
            page = await outcome
            assert isinstance(page, Page)
            result = page.response
            items_field = next(k for k, v in op["response"]["properties"].items() if v.get("type") == "array")
            assert page.items == list(getattr(result, items_field))
        else:
            result = await outcome

    [call] = fake.calls
    assert call["method"] == op["method"]
    assert call["path"] == op["path"]
    assert call["path_params"] == {p["name"]: v for p, v in zip(op["path_params"], positional, strict=True)}
    assert call["timeout"] == 3.0
    assert call["idempotency_field"] == op.get("idempotency_field")
    if op["kind"] == "upload":
        meta = json.dumps(
            {"filename": "logo.png", "sha256": hashlib.sha256(PNG).hexdigest()}, separators=(",", ":")
        ).encode()
        assert call["signed_payload"] == meta
        assert call["content_type"].startswith("multipart/form-data; boundary=")
        assert meta in call["content"] and PNG in call["content"]
        assert b'name="file"; filename="logo.png"' in call["content"]
        assert call["json"] is None
    else:
        assert (call["query"] or {}) == query
        if body is None:
            assert call["json"] is None
        else:
            idem = op.get("idempotency_field")
            sent = dict(call["json"])
            if idem and idem not in body:
                assert idem not in sent  # the core fills it
            assert sent == body

    if op.get("response") is None:  # an answer without a body (merchant_coupon.update_stock: 204)
        assert isinstance(result, dict)
        return
    assert attrs.has(type(result))
    assert result.extra == {"zz_field_added_later": {"kept": True}}
    for field, value in answer.items():
        if field == "zz_field_added_later":
            continue
        got = getattr(result, field)
        if isinstance(value, str | int | bool) and not isinstance(got, dt.datetime):
            assert got == value, field
        elif isinstance(got, dt.datetime):
            assert got.tzinfo is not None
    idem = op.get("idempotency_field")
    if idem and hasattr(result, idem) and idem not in answer:
        assert getattr(result, idem) == (body or {}).get(idem, FILLED)


async def test_request_number_used_is_on_the_result() -> None:
    fake = FakeRequester({"coupon_id": "123"}, {"coupon_id": "124"})
    favor = FavorResource(fake)
    filled = await favor.send_coupon("o1", stock_id="9856000", appid="wx1", stock_creator_mchid="1900000001")
    assert filled.out_request_no == FILLED and "out_request_no" not in fake.calls[0]["json"]
    mine = await favor.send_coupon(
        "o1", stock_id="9856000", appid="wx1", stock_creator_mchid="1900000001", out_request_no="MINE_1"
    )
    assert mine.out_request_no == "MINE_1" and fake.calls[1]["json"]["out_request_no"] == "MINE_1"


async def test_nested_parameters_accept_models_and_mappings() -> None:
    stock = valid_stock()
    fake = FakeRequester({"stock_id": "1", "create_time": "2026-11-25T10:00:00+08:00"})
    rule = favor_models.CreateStockStockUseRule(
        max_coupons=100, max_amount=100000, max_coupons_per_user=1, natural_person_limit=False, prevent_api_abuse=False
    )
    coupon_rule = favor_models.CreateStockCouponUseRule(
        fixed_normal_coupon=favor_models.CreateStockCouponUseRuleFixedNormalCoupon(
            coupon_amount=1000, transaction_minimum=10000
        ),
        available_merchants=["1900000001"],
    )
    begin = dt.datetime.fromisoformat(stock["available_begin_time"])
    result = await FavorResource(fake).create_stock(
        stock_name=stock["stock_name"],
        belong_merchant="1900000001",
        available_begin_time=begin,
        available_end_time=begin + dt.timedelta(days=30),
        stock_use_rule=rule,
        coupon_use_rule=coupon_rule,
        no_cash=False,
        stock_type="NORMAL",
    )
    assert fake.calls[0]["json"] == stock  # models unstructured, None omitted, datetimes RFC 3339
    assert result.create_time == dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
    assert result.out_request_no == FILLED


async def test_validation_runs_before_the_request_and_the_flag_turns_it_off() -> None:
    fake = FakeRequester()
    with pytest.raises(ValidationError) as info:
        await FavorResource(fake).send_coupon(
            "o1", stock_id="1", appid="wx1", stock_creator_mchid="1", out_request_no="has space"
        )
    assert info.value.field == "out_request_no" and fake.calls == []
    with pytest.raises(ValidationError, match="limit"):
        FavorResource(fake).list_stocks(stock_creator_mchid="1", limit=11)
    off = FakeRequester({"coupon_id": "1"}, validate=False)
    await FavorResource(off).send_coupon("o1", stock_id="1", appid="wx1", stock_creator_mchid="1", out_request_no="a b")
    assert off.calls[0]["json"]["out_request_no"] == "a b"


async def test_upload_checks_type_size_and_emptiness_before_sending() -> None:
    fake = FakeRequester()
    favor = FavorResource(fake)
    with pytest.raises(ValidationError, match="BMP"):
        await favor.upload_image(PNG, filename="logo.gif")
    with pytest.raises(ValidationError, match="2 MB"):
        await favor.upload_image(b"x" * (2 * 1024 * 1024 + 1), filename="big.png")
    with pytest.raises(ValidationError, match="empty"):
        await ProductCouponResource(fake).upload_image(b"", filename="a.jpg")
    with pytest.raises(ValidationError, match="filename"):
        await favor.upload_image(PNG)
    assert fake.calls == []


async def test_answers_with_unknown_enum_values_still_structure() -> None:
    # Request enums are Literal types; answers keep str so a value added later still reads.
    answer = realistic_answer(operations()["favor.get_stock"])
    fake = FakeRequester({**answer, "status": "some_new_status"})
    stock = await FavorResource(fake).get_stock("1", stock_creator_mchid="1")
    assert stock.status == "some_new_status"
