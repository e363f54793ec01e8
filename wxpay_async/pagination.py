"""List operations: ``await`` for one page, ``async for`` for every item across pages.

    page = await wx.favor.list_stocks(stock_creator_mchid=mchid)          # Page: items, total, offset, limit
    async for stock in wx.favor.list_stocks(stock_creator_mchid=mchid):   # every stock, page after page
        ...

WeChat Pay pages two ways: offset/limit (cash coupons; ``limit`` ≤ 10 for stocks) and
page_token/page_size (product coupons). ``max_items`` bounds a walk, so a listing that never
ends (or a server that keeps answering full pages) cannot loop forever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

import attrs

from .errors import ValidationError

ItemT = TypeVar("ItemT")

#: Default bound on the items one ``async for`` walk yields.
DEFAULT_MAX_ITEMS = 100_000


@attrs.frozen(kw_only=True)
class Page(Generic[ItemT]):
    """One page of a listing.

    ``items`` are the page's entries; ``total`` the count the server reports (None when it
    reports none); ``offset``/``limit`` for offset paging, ``page_token``/``next_page_token`` for
    token paging; ``response`` the whole typed answer (``ListStocksResponse``...).
    """

    items: list[ItemT]
    total: int | None = None
    offset: int | None = None
    limit: int | None = None
    page_token: str | None = None
    next_page_token: str | None = None
    response: Any = attrs.field(default=None, repr=False)
    #: The ``Request-ID`` of the answer this page came from.
    request_id: str | None = attrs.field(default=None, repr=False, eq=False)

    @property
    def has_next(self) -> bool:
        """Whether another page follows this one."""
        if self.next_page_token:
            return True
        if self.offset is None or not self.items:
            return False
        if self.limit is not None and len(self.items) < self.limit:
            return False
        return self.total is None or self.offset + len(self.items) < self.total


#: A cursor: ``(offset, limit)`` or ``(page_token, page_size)``.
Cursor = tuple[Any, int]


class AsyncPaginator(Generic[ItemT]):
    """A listing, fetched lazily.

    ``await paginator`` → the first :class:`Page`; ``async for item in paginator`` → every item
    (at most ``max_items``); ``async for page in paginator.pages()`` → every page. Each walk
    starts again from the first page.
    """

    def __init__(
        self,
        fetch: Callable[[Cursor], Awaitable[Page[ItemT]]],
        *,
        style: str,
        first_cursor: Cursor,
        max_items: int = DEFAULT_MAX_ITEMS,
    ) -> None:
        if style not in ("offset", "token"):
            raise ValueError(f"unknown paging style {style!r}")
        if max_items < 1:
            raise ValidationError("max_items", "must be at least 1")
        self._fetch = fetch
        self.style = style
        self._first = first_cursor
        self.max_items = max_items

    def __await__(self) -> Generator[Any, None, Page[ItemT]]:
        return self._fetch(self._first).__await__()

    def _next_cursor(self, page: Page[ItemT], cursor: Cursor) -> Cursor | None:
        if not page.has_next:
            return None
        if self.style == "token":
            return (page.next_page_token, cursor[1])
        return (cursor[0] + len(page.items), cursor[1])

    async def pages(self) -> AsyncIterator[Page[ItemT]]:
        """Every page, until the last one or until ``max_items`` items have been seen."""
        cursor: Cursor | None = self._first
        seen = 0
        while cursor is not None:
            page = await self._fetch(cursor)
            yield page
            seen += len(page.items)
            if seen >= self.max_items:
                return
            cursor = self._next_cursor(page, cursor)

    async def __aiter__(self) -> AsyncIterator[ItemT]:
        yielded = 0
        async for page in self.pages():
            for item in page.items:
                if yielded >= self.max_items:
                    return
                yield item
                yielded += 1

    async def to_list(self) -> list[ItemT]:
        """Every item (at most ``max_items``) in one list."""
        return [item async for item in self]
