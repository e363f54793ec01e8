"""AsyncPaginator: await → first Page, async for → every item across pages, max_items guard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wxpay_async._converter import converter as sdk_converter
from wxpay_async._request import Request, Response
from wxpay_async.errors import ValidationError
from wxpay_async.pagination import OffsetPage, OffsetPaginator, Page, TokenPage, TokenPaginator
from wxpay_async.resources import FavorResource, ProductCouponResource


def offset_source(total: int, calls: list[tuple[Any, int]]) -> Any:
    async def fetch(cursor: tuple[Any, int]) -> OffsetPage[int]:
        calls.append(cursor)
        offset, limit = cursor
        items = list(range(offset, min(offset + limit, total)))
        return OffsetPage(items=items, total=total, offset=offset, limit=limit)

    return fetch


async def test_three_pages_offset() -> None:
    calls: list[tuple[Any, int]] = []
    paginator = OffsetPaginator(offset_source(25, calls), first_cursor=(0, 10))
    assert [i async for i in paginator] == list(range(25))
    assert calls == [(0, 10), (10, 10), (20, 10)]


async def test_await_gives_the_first_page_only() -> None:
    calls: list[tuple[Any, int]] = []
    page = await OffsetPaginator(offset_source(25, calls), first_cursor=(0, 10))
    assert (page.items, page.total, page.offset, page.limit, page.has_next) == (list(range(10)), 25, 0, 10, True)
    assert calls == [(0, 10)]


async def test_exact_multiple_stops_without_an_empty_extra_page() -> None:
    calls: list[tuple[Any, int]] = []
    assert len(await OffsetPaginator(offset_source(20, calls), first_cursor=(0, 10)).to_list()) == 20
    assert calls == [(0, 10), (10, 10)]


async def test_max_items_guard_stops_an_endless_listing() -> None:
    calls: list[tuple[Any, int]] = []

    async def endless(cursor: tuple[Any, int]) -> OffsetPage[int]:
        calls.append(cursor)
        return OffsetPage(
            items=list(range(cursor[0], cursor[0] + cursor[1])), total=None, offset=cursor[0], limit=cursor[1]
        )

    paginator = OffsetPaginator(endless, first_cursor=(0, 10), max_items=25)
    assert [i async for i in paginator] == list(range(25))
    assert len(calls) == 3
    pages = [p async for p in paginator.pages()]
    assert len(pages) == 3
    with pytest.raises(ValidationError):
        OffsetPaginator(endless, first_cursor=(0, 10), max_items=0)


async def test_token_pages() -> None:
    tokens: list[Any] = []
    book = {None: ([1, 2], "t2"), "t2": ([3, 4], "t3"), "t3": ([5], None)}

    async def fetch(cursor: tuple[Any, int]) -> TokenPage[int]:
        tokens.append(cursor[0])
        items, following = book[cursor[0]]
        return TokenPage(items=items, total=5, page_size=cursor[1], page_token=cursor[0], next_page_token=following)

    assert await TokenPaginator(fetch, first_cursor=(None, 2)).to_list() == [1, 2, 3, 4, 5]
    assert tokens == [None, "t2", "t3"]


class Pages:
    """A fake Requester serving favor stock pages of a listing of ``total`` stocks."""

    def __init__(self, total: int) -> None:
        self.converter = sdk_converter
        self.validate = True
        self.mchid = "1900000001"
        self.total = total
        self.queries: list[dict[str, Any]] = []

    async def request(self, method: str, path: str, **kw: Any) -> Response:
        query = dict(kw["query"])
        self.queries.append(query)
        offset, limit = query["offset"], query["limit"]
        data = [
            {
                "stock_id": str(i),
                "stock_creator_mchid": "1",
                "stock_name": "s",
                "status": "running",
                "create_time": "2026-01-01T00:00:00+08:00",
                "description": "",
                "available_begin_time": "2026-01-01T00:00:00+08:00",
                "available_end_time": "2026-01-02T00:00:00+08:00",
                "stock_use_rule": {
                    "max_coupons": 10,
                    "max_amount": 1000,
                    "max_coupons_per_user": 1,
                    "natural_person_limit": False,
                    "prevent_api_abuse": False,
                },
                "no_cash": False,
                "stock_type": "NORMAL",
                "distributed_coupons": 0,
                "singleitem": False,
            }
            for i in range(offset, min(offset + limit, self.total))
        ]
        body = {"data": data, "total_count": self.total, "offset": offset, "limit": limit}
        return Response(
            status=200,
            headers={},
            content=json.dumps(body).encode(),
            request=Request(method=method, base_url="https://x", target=path),
        )


async def test_generated_list_method_walks_three_pages() -> None:
    fake = Pages(25)
    favor = FavorResource(fake)
    ids = [s.stock_id async for s in favor.list_stocks(stock_creator_mchid="1900000001", status="running")]
    assert ids == [str(i) for i in range(25)]
    assert [(q["offset"], q["limit"]) for q in fake.queries] == [(0, 10), (10, 10), (20, 10)]
    assert all(q["stock_creator_mchid"] == "1900000001" and q["status"] == "running" for q in fake.queries)
    page = await favor.list_stocks(stock_creator_mchid="1900000001", offset=20)
    assert (len(page.items), page.total, page.offset, page.has_next) == (5, 25, 20, False)
    assert page.response.total_count == 25
    capped = [s async for s in favor.list_stocks(stock_creator_mchid="1900000001", max_items=12)]
    assert len(capped) == 12


async def test_page_size_bounds_follow_the_spec() -> None:
    favor = FavorResource(Pages(0))
    with pytest.raises(ValidationError, match="between 1 and 10"):
        favor.list_stocks(stock_creator_mchid="1", limit=11)
    with pytest.raises(ValidationError, match="between 1 and 10"):
        favor.list_stocks(stock_creator_mchid="1", limit=0)
    with pytest.raises(ValidationError, match="page_size"):
        ProductCouponResource(Pages(0)).list_stocks("p1", brand_id="b", page_size=51)


async def test_stop_reasons_without_a_server() -> None:
    tokens: list[Any] = []

    async def same_token(cursor: tuple[Any, int]) -> TokenPage[int]:
        tokens.append(cursor[0])
        return TokenPage(items=[1], page_size=cursor[1], page_token=cursor[0], next_page_token="SAME")

    paginator = TokenPaginator(same_token, first_cursor=(None, 1))
    assert paginator.stop_reason is None
    assert await paginator.to_list() == [1, 1]
    assert (tokens, paginator.stop_reason) == ([None, "SAME"], "repeated_page")

    calls: list[tuple[Any, int]] = []
    short = OffsetPaginator(offset_source(5, calls), first_cursor=(0, 10))
    assert await short.to_list() == list(range(5))
    assert short.stop_reason == "last_page"
    capped = OffsetPaginator(offset_source(50, calls), first_cursor=(0, 10), max_items=15)
    assert len(await capped.to_list()) == 15
    assert capped.stop_reason == "max_items"
    with pytest.raises(ValidationError, match="max_pages"):
        TokenPaginator(same_token, first_cursor=(None, 1), max_pages=0)


def test_each_paging_style_has_its_own_next_page_rule() -> None:
    # offset: the next page starts after this page's items; a short page, an empty page or
    # reaching total ends the listing, whatever else the page says.
    full = OffsetPage(items=[1, 2], total=10, offset=4, limit=2)
    assert (full.has_next, full.next_cursor((4, 2))) == (True, (6, 2))
    assert OffsetPage(items=[1], total=10, offset=4, limit=2).next_cursor((4, 2)) is None
    assert OffsetPage(items=[1, 2], total=6, offset=4, limit=2).next_cursor((4, 2)) is None
    assert OffsetPage(items=[], total=None, offset=4, limit=2).next_cursor((4, 2)) is None
    assert OffsetPage.query((4, 2)) == {"offset": 4, "limit": 2}
    # token: the answer's next_page_token, and nothing else, names the next page.
    token = TokenPage(items=[1], total=10, page_token="a", next_page_token="b", page_size=1)
    assert (token.has_next, token.next_cursor(("a", 1))) == (True, ("b", 1))
    assert TokenPage(items=[1, 2], total=100, next_page_token=None).next_cursor((None, 2)) is None
    assert TokenPage.query(("b", 5)) == {"page_token": "b", "page_size": 5}
    assert (OffsetPage.size_name, TokenPage.size_name) == ("limit", "page_size")
    assert (OffsetPaginator.page_type, TokenPaginator.page_type) == (OffsetPage, TokenPage)
    assert isinstance(full, Page) and isinstance(token, Page)
    assert not hasattr(token, "offset") and not hasattr(full, "next_page_token")


async def test_generated_listings_answer_their_styles_pages() -> None:
    favor = FavorResource(Pages(3))
    paginator = favor.list_stocks(stock_creator_mchid="1900000001")
    assert isinstance(paginator, OffsetPaginator)
    assert isinstance(await paginator, OffsetPage)
    assert isinstance(ProductCouponResource(Pages(0)).list_stocks("p1", brand_id="b"), TokenPaginator)
