"""List operations: ``await`` for one page, ``async for`` for every item across pages.

    page = await wx.favor.list_stocks(stock_creator_mchid=mchid)          # Page: items, total, offset, limit
    async for stock in wx.favor.list_stocks(stock_creator_mchid=mchid):   # every stock, page after page
        ...

WeChat Pay pages two ways: offset/limit (cash coupons; ``limit`` ≤ 10 for stocks) and
page_token/page_size (product coupons).

Every page is one signed request, and every signed request spends the merchant's quota (the
product-coupon listings allow 20 requests a second per merchant), so a walk always ends. It stops:

- after the last page (offset paging: a short page, or ``total`` reached; token paging: no
  ``next_page_token``);
- on an empty page, whatever the answer says follows it;
- when the answer names a page already fetched in this walk (a ``next_page_token`` seen before);
- after ``max_pages`` pages (default :data:`DEFAULT_MAX_PAGES`) or ``max_items`` items (default
  :data:`DEFAULT_MAX_ITEMS`), whichever comes first.

:attr:`AsyncPaginator.stop_reason` tells which rule ended the last walk; the three that mean the
listing may hold more (``"empty_page"``, ``"repeated_page"``, ``"max_pages"``) are also logged as warnings on the
``wxpay_async.pagination`` logger.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, Generic, Literal, TypeVar

import attrs

from .errors import ValidationError

ItemT = TypeVar("ItemT")

logger = logging.getLogger("wxpay_async.pagination")

#: Default bound on the items one ``async for`` walk yields.
DEFAULT_MAX_ITEMS = 100_000

#: Default bound on the pages (signed requests) one walk fetches: 10,000 stocks at the cash
#: coupons' 10 a page, 50,000 entries at the product coupons' 50 a page.
DEFAULT_MAX_PAGES = 1_000

#: Why a walk ended: ``"last_page"`` (the listing said so), ``"empty_page"``, ``"repeated_page"``
#: (the answer named a page already fetched), ``"max_pages"``, ``"max_items"``.
StopReason = Literal["last_page", "empty_page", "repeated_page", "max_pages", "max_items"]


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
    (at most ``max_items``); ``async for page in paginator.pages()`` → every page (at most
    ``max_pages``). Each walk starts again from the first page. Each page is one signed request,
    which spends the merchant's quota; the walk's stop rules are in the module docstring.
    """

    def __init__(
        self,
        fetch: Callable[[Cursor], Awaitable[Page[ItemT]]],
        *,
        style: str,
        first_cursor: Cursor,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        if style not in ("offset", "token"):
            raise ValueError(f"unknown paging style {style!r}")
        if max_items < 1:
            raise ValidationError("max_items", "must be at least 1")
        if max_pages < 1:
            raise ValidationError("max_pages", "must be at least 1")
        self._fetch = fetch
        self.style = style
        self._first = first_cursor
        self.max_items = max_items
        self.max_pages = max_pages
        #: Which rule ended the last walk (None before one ends).
        self.stop_reason: StopReason | None = None

    def __await__(self) -> Generator[Any, None, Page[ItemT]]:
        return self._fetch(self._first).__await__()

    def _next_cursor(self, page: Page[ItemT], cursor: Cursor) -> Cursor | None:
        if not page.has_next:
            return None
        if self.style == "token":
            return (page.next_page_token, cursor[1])
        return (cursor[0] + len(page.items), cursor[1])

    async def pages(self) -> AsyncIterator[Page[ItemT]]:
        """Every page, until a stop rule ends the walk (see the module docstring)."""
        self.stop_reason = None
        cursor: Cursor = self._first
        fetched = {cursor}
        items = 0
        while True:
            page = await self._fetch(cursor)
            yield page
            items += len(page.items)
            following = self._next_cursor(page, cursor)
            reason: StopReason | None = None
            if following is None:
                reason = "last_page"
            elif not page.items:
                reason = "empty_page"
                logger.warning("listing stopped at an empty page that names a next page; it may hold more")
            elif items >= self.max_items:
                reason = "max_items"
            elif following in fetched:
                reason = "repeated_page"
                logger.warning("listing stopped: the answer named a page already fetched in this walk")
            elif len(fetched) >= self.max_pages:
                reason = "max_pages"
                logger.warning("listing stopped after max_pages=%d pages; it may hold more", self.max_pages)
            if reason is not None:
                self.stop_reason = reason
                return
            assert following is not None
            fetched.add(following)
            cursor = following

    async def __aiter__(self) -> AsyncIterator[ItemT]:
        yielded = 0
        async for page in self.pages():
            for item in page.items:
                if yielded >= self.max_items:
                    self.stop_reason = "max_items"
                    return
                yield item
                yielded += 1

    async def to_list(self) -> list[ItemT]:
        """Every item (at most ``max_items``) in one list."""
        return [item async for item in self]
