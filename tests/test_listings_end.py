"""Listings end (issue 17 part 3): a server that keeps naming a next page cannot make a walk loop.

A real aiohttp server on 127.0.0.1 (tests/fake_wechat.py) checks each request's signature and
signs each answer; the tests count the signed requests that reached it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from wxpay_async import Client
from wxpay_async.errors import ValidationError
from wxpay_async.pagination import DEFAULT_MAX_PAGES, AsyncPaginator

from .conftest import client_kwargs
from .fake_wechat import FakeWeChat, Reply

Listing = Callable[..., AsyncPaginator[Any]]

#: (name, method under test, path prefix served, items field, one item)
TOKEN_LISTINGS: list[tuple[str, Callable[[Client], Listing], str, str, dict[str, Any]]] = [
    (
        "list_user_coupons",
        lambda wx: lambda **kw: wx.product_coupon.list_user_coupons("o1", appid="wx1", brand_id="b1", **kw),
        "/v3/marketing/partner/product-coupon/users/o1/coupons",
        "user_coupon_list",
        {"coupon_code": "c1", "stock_id": "s1"},
    ),
    (
        "list_stocks",
        lambda wx: lambda **kw: wx.product_coupon.list_stocks("p1", brand_id="b1", **kw),
        "/v3/marketing/partner/product-coupon/product-coupons/p1/stocks",
        "stock_list",
        {"stock_id": "s1", "product_coupon_id": "p1"},
    ),
    (
        "list_stock_associated_stores",
        lambda wx: lambda **kw: wx.product_coupon.list_stock_associated_stores("p1", "s1", brand_id="b1", **kw),
        "/v3/marketing/partner/product-coupon/product-coupons/p1/stocks/s1/associated-stores",
        "store_list",
        {"store_id": "st1"},
    ),
]

#: (name, method under test, path served, the n-th item)
OFFSET_LISTINGS: list[tuple[str, Callable[[Client], Listing], str, Callable[[int], Any]]] = [
    (
        "list_stocks",
        lambda wx: lambda **kw: wx.favor.list_stocks(stock_creator_mchid="1900000001", **kw),
        "/v3/marketing/favor/stocks",
        lambda n: {"stock_id": str(n)},
    ),
    (
        "list_stock_items",
        lambda wx: lambda **kw: wx.favor.list_stock_items("9856000", stock_creator_mchid="1900000001", **kw),
        "/v3/marketing/favor/stocks/9856000/items",
        str,  # goods ids
    ),
    (
        "list_stock_merchants",
        lambda wx: lambda **kw: wx.favor.list_stock_merchants("9856000", stock_creator_mchid="1900000001", **kw),
        "/v3/marketing/favor/stocks/9856000/merchants",
        str,  # merchant ids
    ),
    (
        "list_user_coupons",
        lambda wx: lambda **kw: wx.favor.list_user_coupons("o1", appid="wx1", **kw),
        "/v3/marketing/favor/users/o1/coupons",
        lambda n: {"coupon_id": str(n), "stock_id": "9856000"},
    ),
]


@pytest.fixture
async def wx(fake: FakeWeChat, server: TestServer) -> AsyncIterator[Client]:
    async with Client(**client_kwargs(fake, server, mode="public_key")) as client:
        fake.received.clear()
        yield client


def api_requests(fake: FakeWeChat, path: str) -> list[dict[str, str]]:
    """The query of every signed request that reached ``path``."""
    return [dict(parse_qsl(urlsplit(r.target).query)) for r in fake.received if urlsplit(r.target).path == path]


async def walk(paginator: AsyncPaginator[Any]) -> list[Any]:
    # Bounded in time so that a walk that never ends fails the test instead of hanging it.
    return await asyncio.wait_for(paginator.to_list(), timeout=30)


def serve(fake: FakeWeChat, path: str, answer: Callable[[dict[str, str]], dict[str, Any]]) -> None:
    def handler(request: web.Request, body: bytes) -> Reply:
        return Reply(body=answer(dict(request.query)))

    fake.handlers[("GET", path)] = handler


@pytest.mark.parametrize(
    ("name", "method", "path", "field", "item"), TOKEN_LISTINGS, ids=[t[0] for t in TOKEN_LISTINGS]
)
async def test_token_listing_stops_on_an_empty_page_naming_the_same_token(
    wx: Client, fake: FakeWeChat, name: str, method: Any, path: str, field: str, item: dict[str, Any]
) -> None:
    serve(fake, path, lambda q: {field: [], "next_page_token": "SAME", "total_count": 0})
    paginator = method(wx)()
    assert await walk(paginator) == []
    assert len(api_requests(fake, path)) == 1
    assert paginator.stop_reason == "empty_page"


@pytest.mark.parametrize(
    ("name", "method", "path", "field", "item"), TOKEN_LISTINGS, ids=[t[0] for t in TOKEN_LISTINGS]
)
async def test_token_listing_stops_on_an_empty_page_naming_a_new_token(
    wx: Client, fake: FakeWeChat, name: str, method: Any, path: str, field: str, item: dict[str, Any]
) -> None:
    counter = itertools.count()
    serve(fake, path, lambda q: {field: [], "next_page_token": f"T{next(counter)}"})
    paginator = method(wx)()
    assert await walk(paginator) == []
    assert len(api_requests(fake, path)) == 1


@pytest.mark.parametrize(
    ("name", "method", "path", "field", "item"), TOKEN_LISTINGS, ids=[t[0] for t in TOKEN_LISTINGS]
)
async def test_token_listing_stops_when_a_full_page_names_a_token_seen_before(
    wx: Client, fake: FakeWeChat, name: str, method: Any, path: str, field: str, item: dict[str, Any], caplog: Any
) -> None:
    serve(fake, path, lambda q: {field: [item, item], "next_page_token": "SAME"})
    paginator = method(wx)(page_size=2)
    with caplog.at_level(logging.WARNING, logger="wxpay_async.pagination"):
        items = await walk(paginator)
    queries = api_requests(fake, path)
    # page 1 (no token) names SAME; page 2 (SAME) names SAME again: fetched already, stop.
    assert [q.get("page_token") for q in queries] == [None, "SAME"]
    assert len(items) == 4
    assert paginator.stop_reason == "repeated_page"
    assert "already fetched" in caplog.text


@pytest.mark.parametrize(
    ("name", "method", "path", "field", "item"), TOKEN_LISTINGS, ids=[t[0] for t in TOKEN_LISTINGS]
)
async def test_token_listing_stops_at_max_pages_when_every_page_names_a_new_token(
    wx: Client, fake: FakeWeChat, name: str, method: Any, path: str, field: str, item: dict[str, Any]
) -> None:
    counter = itertools.count()
    serve(fake, path, lambda q: {field: [item], "next_page_token": f"T{next(counter)}"})
    paginator = method(wx)(page_size=1, max_pages=7)
    assert len(await walk(paginator)) == 7
    queries = api_requests(fake, path)
    assert [q.get("page_token") for q in queries] == [None, *(f"T{i}" for i in range(6))]
    assert paginator.stop_reason == "max_pages"
    # a second walk starts again from the first page and is bounded the same way
    fake.received.clear()
    assert len([p async for p in paginator.pages()]) == 7
    assert len(api_requests(fake, path)) == 7


async def test_default_max_pages_bounds_a_never_ending_token_listing(wx: Client, fake: FakeWeChat) -> None:
    _, method, path, field, item = TOKEN_LISTINGS[0]
    counter = itertools.count()
    serve(fake, path, lambda q: {field: [item], "next_page_token": f"T{next(counter)}"})
    paginator = method(wx)(page_size=1)
    assert len(await walk(paginator)) == DEFAULT_MAX_PAGES
    assert len(api_requests(fake, path)) == DEFAULT_MAX_PAGES
    assert paginator.stop_reason == "max_pages"


def offset_answer(
    item: Callable[[int], Any], item_count: Callable[[int, int], int], total: int | None
) -> Callable[[dict[str, str]], dict[str, Any]]:
    def answer(q: dict[str, str]) -> dict[str, Any]:
        offset, limit = int(q["offset"]), int(q["limit"])
        body: dict[str, Any] = {
            "data": [item(offset + i) for i in range(item_count(offset, limit))],
            "offset": offset,
            "limit": limit,
            "stock_id": "9856000",
        }
        if total is not None:
            body["total_count"] = total
        return body

    return answer


@pytest.mark.parametrize(("name", "method", "path", "item"), OFFSET_LISTINGS, ids=[t[0] for t in OFFSET_LISTINGS])
async def test_offset_listing_stops_at_max_pages_when_pages_never_end(
    wx: Client, fake: FakeWeChat, name: str, method: Any, path: str, item: Any
) -> None:
    # Full pages forever, and a total the walk never reaches.
    serve(fake, path, offset_answer(item, lambda offset, limit: limit, total=10**9))
    paginator = method(wx)(limit=3, max_pages=5)
    assert len(await walk(paginator)) == 15
    assert [int(q["offset"]) for q in api_requests(fake, path)] == [0, 3, 6, 9, 12]
    assert paginator.stop_reason == "max_pages"


@pytest.mark.parametrize(("name", "method", "path", "item"), OFFSET_LISTINGS, ids=[t[0] for t in OFFSET_LISTINGS])
async def test_offset_listing_stops_on_an_empty_page(
    wx: Client, fake: FakeWeChat, name: str, method: Any, path: str, item: Any
) -> None:
    # Two full pages, then empty pages that still claim a large total.
    serve(fake, path, offset_answer(item, lambda offset, limit: limit if offset < 6 else 0, total=10**9))
    paginator = method(wx)(limit=3)
    assert len(await walk(paginator)) == 6
    assert len(api_requests(fake, path)) == 3


async def test_offset_listing_without_total_is_bounded_by_default(wx: Client, fake: FakeWeChat) -> None:
    _, method, path, item = OFFSET_LISTINGS[0]
    serve(fake, path, offset_answer(item, lambda offset, limit: limit, total=None))
    paginator = method(wx)(limit=10, max_items=10**9)
    assert len(await walk(paginator)) == 10 * DEFAULT_MAX_PAGES
    assert len(api_requests(fake, path)) == DEFAULT_MAX_PAGES


async def test_max_pages_must_be_positive(wx: Client) -> None:
    with pytest.raises(ValidationError, match="max_pages"):
        wx.product_coupon.list_stocks("p1", brand_id="b1", max_pages=0)
    with pytest.raises(ValidationError, match="max_pages"):
        wx.favor.list_stocks(stock_creator_mchid="1900000001", max_pages=0)
