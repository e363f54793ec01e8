"""What a typed call returned besides the model: Request-ID, raw responses, per-call options, with_options."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest

from wxpay_async import Client
from wxpay_async._converter import converter
from wxpay_async._request import Request, Response
from wxpay_async.emulator import RunningEmulator, create_running_stock, run_emulator
from wxpay_async.errors import InternalServerError
from wxpay_async.middleware import NO_RETRY, Handler, RetryPolicy
from wxpay_async.models.favor import GetStockResponse, SendCouponResponse
from wxpay_async.pagination import Page

APPID = "wx233544546545989"


class Recorder:
    """A user middleware keeping every request it sees."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        self.requests.append(request)
        return await call_next(request)


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    async with run_emulator() as running:
        yield running


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def wx(emu: RunningEmulator, recorder: Recorder) -> AsyncIterator[Client]:
    retry = RetryPolicy(backoff_base=0.01, backoff_max=0.02)
    async with Client(**emu.client_kwargs(), middleware=[recorder], retry=retry) as client:
        yield client


async def test_models_and_pages_carry_the_request_id(wx: Client) -> None:
    stock_id = await create_running_stock(wx, max_coupons=3)
    stock = await wx.favor.get_stock(stock_id, stock_creator_mchid=wx.mchid)
    assert stock.request_id and len(stock.request_id) >= 16
    assert "request_id" not in repr(stock)
    assert "request_id" not in converter.unstructure(stock)  # never sent back as JSON
    page = await wx.favor.list_stocks(stock_creator_mchid=wx.mchid)
    assert page.request_id and page.request_id == page.response.request_id
    sent = await wx.favor.send_coupon("u1", stock_id=stock_id, appid=APPID, stock_creator_mchid=wx.mchid)
    assert sent.request_id and sent.request_id != stock.request_id
    out_request_no: str = sent.out_request_no  # typed as present: the SDK always fills it
    assert out_request_no
    # A request_id key in the JSON is an unknown field, not the header.
    odd = converter.structure({"coupon_id": "1", "request_id": "x"}, SendCouponResponse)
    assert odd.request_id is None and odd.extra == {"request_id": "x"}


async def test_with_raw_response(wx: Client) -> None:
    stock_id = await create_running_stock(wx, max_coupons=3)
    raw = await wx.favor.with_raw_response.get_stock(stock_id, stock_creator_mchid=wx.mchid)
    assert raw.status == 200
    assert raw.request_id == raw.headers["Request-ID"]
    assert raw.json()["stock_id"] == stock_id and raw.content.startswith(b"{")
    parsed = raw.parse()
    assert isinstance(parsed, GetStockResponse) and parsed.stock_id == stock_id
    assert parsed.request_id == raw.request_id and raw.parse() is parsed
    assert parsed == await wx.favor.get_stock(stock_id, stock_creator_mchid=wx.mchid)

    sent = await wx.favor.with_raw_response.send_coupon(
        "u2", stock_id=stock_id, appid=APPID, stock_creator_mchid=wx.mchid
    )
    assert sent.idempotency_key and sent.parse().out_request_no == sent.idempotency_key

    listed = await wx.favor.with_raw_response.list_stocks(stock_creator_mchid=wx.mchid, limit=5)
    page = listed.parse()
    assert isinstance(page, Page) and any(s.stock_id == stock_id for s in page.items)
    assert page.request_id == listed.request_id and page.limit == 5
    assert "RawResponse(status=200" in repr(listed)


async def test_per_call_retry_and_extra_headers(emu: RunningEmulator, wx: Client, recorder: Recorder) -> None:
    stock_id = await create_running_stock(wx, max_coupons=3)
    emu.push_faults({"kind": "system_error", "path_prefix": "/v3/marketing/favor/stocks/"})
    with pytest.raises(InternalServerError):
        await wx.favor.get_stock(stock_id, stock_creator_mchid=wx.mchid, retry=NO_RETRY)
    emu.push_faults({"kind": "system_error", "path_prefix": "/v3/marketing/favor/stocks/"})
    recorder.requests.clear()
    stock = await wx.favor.get_stock(stock_id, stock_creator_mchid=wx.mchid, extra_headers={"X-Trace": "t-1"})
    assert stock.stock_id == stock_id
    assert [r.headers.get("X-Trace") for r in recorder.requests] == ["t-1", "t-1"]  # retried by the default policy


async def test_with_options_shares_and_does_not_close(emu: RunningEmulator, wx: Client, recorder: Recorder) -> None:
    stock_id = await create_running_stock(wx, max_coupons=3)
    quick = wx.with_options(timeout=3.5, retry=NO_RETRY, extra_headers={"X-Tenant": "a"})
    assert quick.transport is wx.transport and quick.key_source is wx.key_source
    assert quick.timeout == 3.5 and wx.timeout != 3.5 and quick.favor._client is quick
    emu.push_faults({"kind": "system_error", "path_prefix": "/v3/marketing/favor/stocks/"})
    recorder.requests.clear()
    with pytest.raises(InternalServerError):
        await quick.favor.get_stock(stock_id, stock_creator_mchid=wx.mchid)
    assert len(recorder.requests) == 1
    assert recorder.requests[0].headers["X-Tenant"] == "a" and recorder.requests[0].timeout == 3.5
    nested = quick.with_options(extra_headers={"X-Other": "b"})
    got = await nested.favor.get_stock(stock_id, stock_creator_mchid=wx.mchid)
    assert got.stock_id == stock_id
    assert recorder.requests[-1].headers["X-Tenant"] == "a" and recorder.requests[-1].headers["X-Other"] == "b"
    await quick.aclose()
    await nested.aclose()
    # The original still works: its session, keys and pool were not closed.
    assert (await wx.favor.get_stock(stock_id, stock_creator_mchid=wx.mchid)).stock_id == stock_id
    assert "X-Tenant" not in recorder.requests[-1].headers


async def test_with_options_before_start_starts_the_original() -> None:
    async with run_emulator() as emu:
        wx = Client(**emu.client_kwargs(mode="certificate"))
        try:
            copy = wx.with_options(timeout=10)
            stock_id = await create_running_stock(copy, max_coupons=1)
            assert wx.certificate_manager is not None and wx._started
            assert (await wx.favor.get_stock(stock_id, stock_creator_mchid=wx.mchid)).stock_id == stock_id
        finally:
            await wx.aclose()


def test_answer_models_document_their_fields() -> None:
    doc = GetStockResponse.__doc__ or ""
    assert "Attributes:" in doc and "stock_id" in doc and "request_id" in doc
    from wxpay_async.resources import FavorResource

    text = FavorResource.send_coupon.__doc__ or ""
    assert "Args:" in text and "stock_id" in text and "Raises:" in text and "APIStatusError" in text
    fields: Any = attrs.fields(SendCouponResponse)
    assert fields.out_request_no.type in ("str", str)
