"""List operations: ``await`` for the first page, ``async for`` for every item across pages.

    page = await wx.favor.list_stocks(stock_creator_mchid=mchid)          # one page
    async for stock in wx.favor.list_stocks(stock_creator_mchid=mchid):   # every stock
        ...

WeChat Pay pages two ways: offset/limit (cash coupons, limit ≤ 10 for stocks) and
page_token/page_size (product coupons). ``max_items`` bounds a walk so a runaway listing
cannot loop forever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

from .errors import ValidationError

PageT = TypeVar("PageT")
ItemT = TypeVar("ItemT")

#: Default bound on items yielded by one ``async for`` walk.
DEFAULT_MAX_ITEMS = 100_000


class AsyncPaginator(Generic[PageT, ItemT]):
    """Fetches pages lazily; iterate it once per walk (each ``async for`` starts again)."""

    def __init__(
        self,
        fetch: Callable[[Any], Awaitable[PageT]],
        *,
        items: Callable[[PageT], list[ItemT]],
        next_cursor: Callable[[PageT, Any, int], Any],
        first_cursor: Any,
        max_items: int = DEFAULT_MAX_ITEMS,
    ) -> None:
        if max_items < 1:
            raise ValidationError("max_items", "must be at least 1")
        self._fetch = fetch
        self._items = items
        self._next = next_cursor
        self._first = first_cursor
        self.max_items = max_items

    def __await__(self) -> Generator[Any, None, PageT]:
        return self._fetch(self._first).__await__()

    async def pages(self) -> AsyncIterator[PageT]:
        cursor = self._first
        seen = 0
        while cursor is not None:
            page = await self._fetch(cursor)
            yield page
            count = len(self._items(page))
            seen += count
            if count == 0 or seen >= self.max_items:
                return
            cursor = self._next(page, cursor, count)

    async def __aiter__(self) -> AsyncIterator[ItemT]:
        yielded = 0
        async for page in self.pages():
            for item in self._items(page):
                if yielded >= self.max_items:
                    return
                yield item
                yielded += 1


def offset_cursor(total: Callable[[Any], int | None]) -> Callable[[Any, Any, int], Any]:
    """Next (offset, limit) after a page of ``count`` items, or None at the end."""

    def step(page: Any, cursor: Any, count: int) -> Any:
        offset, limit = cursor
        following = offset + count
        known_total = total(page)
        if known_total is not None and following >= known_total:
            return None
        if count < limit:
            return None
        return (following, limit)

    return step


def token_cursor(next_token: Callable[[Any], str | None]) -> Callable[[Any, Any, int], Any]:
    """Next page_token, or None when the page carries none."""

    def step(page: Any, cursor: Any, count: int) -> Any:
        token = next_token(page)
        return (token, cursor[1]) if token else None

    return step
