"""Every generated operation against a real aiohttp server on 127.0.0.1.

For each of the 56 operations: call the typed coroutine with values built from the spec's
examples, then check what the server received (method, escaped path, query, exact JSON body)
and that a realistic answer (the YAML's examples plus an unknown field) structures into the
model, the unknown field kept in ``extra``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from wxpay_async import Client
from wxpay_async.crypto import parse_any_authorization, request_message, rsa_verify
from wxpay_async.emulator import sample_from_schema as sample
from wxpay_async.emulator import sample_stock
from wxpay_async.pagination import AsyncPaginator, Page
from wxpay_async.validation import operations

from .conftest import brand_client_kwargs, client_kwargs
from .fake_wechat import FakeWeChat, Reply

OPS = sorted(operations().values(), key=lambda o: (o["group"], o["name"]))
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def add_rule_fields(op: dict[str, Any], body: dict[str, Any], sample: Callable[[dict[str, Any], str], Any]) -> None:
    """Add to ``body`` the fields the operation's cross-field rules make required, valued by ``sample``.

    Both call_arguments builders (here against the wire, in test_resources_fake against a fake requester)
    need a body the validator accepts; each has its own ``sample``, the rules are read once here.
    """
    for rule in op.get("rules") or ():
        if isinstance(rule, dict) and rule["rule"] == "exactly_one_of":  # e.g. use_coupon's two order kinds
            first = rule["fields"][0]
            body[first] = sample(op["body"]["properties"][first], first)
        if isinstance(rule, dict) and rule["rule"] == "required_with" and rule["with"] in body:
            body[rule["field"]] = sample(op["body"]["properties"][rule["field"]], rule["field"])


async def answered_model(outcome: Any) -> Any:
    """What a resource method's call answers: the awaited model, or for a listing (a paginator) the
    response of its first page. The wire tests here and the official-example tests both read it so.
    """
    if isinstance(outcome, AsyncPaginator):
        page = await outcome
        assert isinstance(page, Page)
        return page.response
    assert inspect.isawaitable(outcome)
    return await outcome


def call_arguments(op: dict[str, Any]) -> tuple[list[str], dict[str, Any], dict[str, str], dict[str, Any]]:
    """Positional path values, keyword arguments, expected query and expected body."""
    # Values that need percent-encoding; an openid keeps to WeChat's OpenID alphabet (validation.OPENID).
    positional = ["oUser-1_x" if p["name"] == "openid" else f"{p['name']}-1/ä" for p in op["path_params"]]
    kwargs: dict[str, Any] = {}
    query: dict[str, str] = {}
    paging = {"offset", "limit", "page_token", "page_size"} if op.get("pagination") else set()
    for p in op["query_params"]:
        if p["required"] and p["name"] not in paging:
            value = sample(p["schema"], p["name"])
            kwargs[p["name"]] = value
            query[p["name"]] = str(value).lower() if isinstance(value, bool) else str(value)
    body: dict[str, Any] = {}
    if op["body"] is not None:
        for name in op["body"].get("required") or []:
            body[name] = sample(op["body"]["properties"][name], name)
        add_rule_fields(op, body, sample)
        if op["name"] == "create_stock" and op["group"] == "favor":
            body = {**sample_stock("1900000001", max_coupons=10), "out_request_no": "REQ_20261125_0001"}
        kwargs.update(body)
    if op.get("pagination"):
        start = (
            {"offset": "0", "limit": str(op["pagination"]["max_limit"])}
            if op["pagination"]["style"] == "offset"
            else {"page_size": str(op["pagination"]["max_limit"])}
        )
        query.update(start)
    return positional, kwargs, query, body


def realistic_answer(op: dict[str, Any]) -> dict[str, Any]:
    answer = sample(op["response"]) if op.get("response") else {}
    answer["zz_field_added_later"] = {"kept": True}
    return answer


@pytest.fixture
async def wx(fake: FakeWeChat, server: TestServer) -> Client:
    async with Client(**client_kwargs(fake, server, mode="public_key")) as client:
        yield client  # type: ignore[misc]


@pytest.fixture
async def brand_wx(fake: FakeWeChat, server: TestServer) -> Client:
    async with Client(**brand_client_kwargs(fake, server)) as client:
        yield client  # type: ignore[misc]


@pytest.mark.parametrize("op", OPS, ids=lambda o: f"{o['group']}.{o['name']}")
async def test_operation_on_the_wire(wx: Client, brand_wx: Client, fake: FakeWeChat, op: dict[str, Any]) -> None:
    if op["group"] == "brand_product_coupon":
        wx = brand_wx  # a brand identity calls the brand paths (品牌直连)
    answer = realistic_answer(op)
    fake.queue(Reply(body=answer, certificates=op["path"] == "/v3/certificates"))
    method = getattr(getattr(wx, op["group"]), op["name"])
    positional, kwargs, query, body = call_arguments(op)
    if op["kind"] == "upload":
        result = await method(*positional, PNG, filename="logo.png")
    else:
        result = await answered_model(method(*positional, **kwargs))
    got = fake.received[-1]
    assert got.method == op["method"]
    split = urlsplit(got.target)
    expected_path = op["path"]
    for p, value in zip(op["path_params"], positional, strict=True):
        expected_path = expected_path.replace("{" + p["name"] + "}", quote(value, safe=""))
    assert split.path == expected_path
    assert dict(parse_qsl(split.query, keep_blank_values=True)) == query
    if op["kind"] == "upload":
        ctype = got.headers["Content-Type"]
        assert ctype.startswith("multipart/form-data; boundary=")
        meta = json.dumps(
            {"filename": "logo.png", "sha256": __import__("hashlib").sha256(PNG).hexdigest()}, separators=(",", ":")
        ).encode()
        assert meta in got.body and PNG in got.body
        auth = parse_any_authorization(got.headers["Authorization"])[1]
        message = request_message(got.method, got.target, auth["timestamp"], auth["nonce_str"], meta)
        assert rsa_verify(fake.merchant.certificate, message, auth["signature"]), "the signature must cover meta"
    elif op["body"] is not None:
        sent = json.loads(got.body)
        idem = op.get("idempotency_field")
        assert {k: v for k, v in sent.items() if k != idem} == {k: v for k, v in body.items() if k != idem}
        if idem:
            assert sent[idem] == body.get(idem, sent[idem])
    else:
        assert got.body == b""
    if op["group"] == "brand_product_coupon":
        assert got.headers["Authorization"].startswith('WECHATPAY-BRAND-SHA256-RSA2048 brand_id="120344",')
        assert got.headers["Wechatpay-Serial"] == fake.public_key_id  # required on every brand request
    if op.get("response") is None:  # an answer without a body (merchant_coupon.update_stock: 204)
        assert isinstance(result, dict)
        return
    assert result.extra == {"zz_field_added_later": {"kept": True}}
    for field, value in answer.items():
        if field != "zz_field_added_later" and isinstance(value, str) and "time" not in field:
            assert getattr(result, field) == value


async def test_request_number_is_filled_and_returned(wx: Client, fake: FakeWeChat) -> None:
    fake.queue(Reply(body={"coupon_id": "123"}))
    r = await wx.favor.send_coupon("o1", stock_id="9856000", appid="wx1", stock_creator_mchid="1900000001")
    sent = json.loads(fake.received[-1].body)
    assert r.coupon_id == "123" and r.out_request_no == sent["out_request_no"]


RULE = {
    "max_coupons": 10,
    "max_amount": 1000,
    "max_coupons_per_user": 1,
    "natural_person_limit": False,
    "prevent_api_abuse": False,
}


async def test_paginator_walks_three_pages(wx: Client, fake: FakeWeChat) -> None:
    def page(offset: int, n: int) -> Reply:
        return Reply(
            body={
                "data": [
                    {
                        "stock_id": str(offset + i),
                        "stock_creator_mchid": "1",
                        "stock_name": "s",
                        "status": "running",
                        "create_time": "2025-01-01T00:00:00+08:00",
                        "description": "",
                        "available_begin_time": "2025-01-01T00:00:00+08:00",
                        "available_end_time": "2025-01-02T00:00:00+08:00",
                        "stock_use_rule": RULE,
                        "no_cash": False,
                        "stock_type": "NORMAL",
                        "distributed_coupons": 0,
                        "singleitem": False,
                    }
                    for i in range(n)
                ],
                "total_count": 25,
                "offset": offset,
                "limit": 10,
            }
        )

    fake.queue(page(0, 10), page(10, 10), page(20, 5))
    ids = [s.stock_id async for s in wx.favor.list_stocks(stock_creator_mchid="1900000001")]
    assert ids == [str(i) for i in range(25)]
    offsets = [dict(parse_qsl(urlsplit(r.target).query))["offset"] for r in fake.received[-3:]]
    assert offsets == ["0", "10", "20"]
    fake.queue(page(0, 10), page(10, 10))
    capped = [s async for s in wx.favor.list_stocks(stock_creator_mchid="1900000001", max_items=12)]
    assert len(capped) == 12


async def test_token_paginator_follows_next_page_token(wx: Client, fake: FakeWeChat) -> None:
    fake.queue(
        Reply(body={"total_count": 3, "store_list": [{"store_id": "a"}, {"store_id": "b"}], "next_page_token": "t2"}),
        Reply(body={"total_count": 3, "store_list": [{"store_id": "c"}]}),
    )
    stores = [s async for s in wx.product_coupon.list_stock_associated_stores("p1", "s1", brand_id="b1")]
    assert [s.store_id for s in stores] == ["a", "b", "c"]
    assert dict(parse_qsl(urlsplit(fake.received[-1].target).query))["page_token"] == "t2"


async def test_page_size_bounds(wx: Client) -> None:
    from wxpay_async.errors import ValidationError

    with pytest.raises(ValidationError, match="limit"):
        wx.favor.list_stocks(stock_creator_mchid="1", limit=11)


async def test_upload_checks_type_and_size(wx: Client, fake: FakeWeChat) -> None:
    from wxpay_async.errors import ValidationError

    with pytest.raises(ValidationError, match="JPG"):
        await wx.favor.upload_image(PNG, filename="logo.gif")
    with pytest.raises(ValidationError, match="2 MB"):
        await wx.favor.upload_image(b"x" * (2 * 1024 * 1024 + 1), filename="big.png")
    assert fake.received == []


async def test_flow_helper_downloads_and_checks(wx: Client, fake: FakeWeChat, server: TestServer) -> None:
    import hashlib

    csv_bytes = "批次id,优惠id\n`1,`2\n".encode()

    def serve(request: web.Request, body: bytes) -> Reply:
        return Reply(body=csv_bytes, signature="none")

    fake.handlers[("GET", "/v3/billdownload/file")] = serve
    url = str(server.make_url("/v3/billdownload/file?token=t"))
    fake.queue(Reply(body={"url": url, "hash_value": hashlib.sha1(csv_bytes).hexdigest(), "hash_type": "SHA1"}))
    flow = await wx.favor.get_use_flow("9856000")
    assert await wx.favor.download_flow(flow) == csv_bytes


async def test_answer_of_another_shape_is_read_leniently(wx: Client, fake: FakeWeChat) -> None:
    """A signed 2xx answer that is valid JSON never fails because of its shape (issue #10)."""
    fake.queue(Reply(body={"unexpected": True, "coupon_id": 123}))
    coupon = await wx.favor.send_coupon("o1", stock_id="1", appid="wx1", stock_creator_mchid="1900000001")
    assert coupon.coupon_id == "123"  # a number where text is expected is read as text
    assert coupon.extra == {"unexpected": True}
    assert coupon.raw == {"unexpected": True, "coupon_id": 123}
    assert coupon.out_request_no  # the request number the SDK filled is still reported

    fake.queue(Reply(body={"stock_id": ["not", "text"], "create_time": "not a time", "distributed_coupons": "7"}))
    stock = await wx.favor.get_stock("9856000", stock_creator_mchid="1900000001")
    assert stock.stock_id is None and stock.create_time is None  # did not fit: None, still in .raw
    assert stock.distributed_coupons == 7
    assert stock.raw["create_time"] == "not a time"

    # A field official models guarantee (typed as present) that an answer lacks is None, not an error.
    fake.queue(Reply(body={"stock_id": "9856000", "zz_new": 1}))  # create_time (guaranteed) is absent
    created = await wx.favor.get_stock("9856000", stock_creator_mchid="1900000001")
    assert created.stock_id == "9856000" and created.create_time is None and created.extra == {"zz_new": 1}

    fake.queue(Reply(body={"total_count": 1}))
    page = await wx.favor.list_stocks(stock_creator_mchid="1900000001")
    assert page.total == 1 and page.items == [] and page.response.offset is None
