"""List operations: ``await`` for one page, ``async for`` for every item across pages.

    page = await wx.favor.list_stocks(stock_creator_mchid=mchid)          # OffsetPage: items, total, offset, limit
    async for stock in wx.favor.list_stocks(stock_creator_mchid=mchid):   # every stock, page after page
        ...

WeChat Pay pages two ways: offset/limit (cash coupons; ``limit`` ≤ 10 for stocks) and
page_token/page_size (product coupons). Each style has its page class, which holds its next-page
rule (:class:`OffsetPage`, :class:`TokenPage`), and its paginator (:class:`OffsetPaginator`,
:class:`TokenPaginator`); the stop rules below are the same for both.

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
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

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


#: A cursor: ``(offset, limit)`` or ``(page_token, page_size)``.
Cursor = tuple[Any, int]


@attrs.frozen(kw_only=True)
class Page(Generic[ItemT]):
    """One page of a listing: the base of :class:`OffsetPage` and :class:`TokenPage`.

    ``items`` are the page's entries; ``total`` the count the server reports (None when it
    reports none); ``response`` the whole typed answer (``ListStocksResponse``...). Each paging
    style's class says where the next page starts (:meth:`next_cursor`).
    """

    items: list[ItemT]
    total: int | None = None
    response: Any = attrs.field(default=None, repr=False)
    #: The ``Request-ID`` of the answer this page came from.
    request_id: str | None = attrs.field(default=None, repr=False, eq=False)

    #: The query parameter naming a page's size (``limit`` or ``page_size``).
    size_name: ClassVar[str] = ""

    @property
    def has_next(self) -> bool:
        """Whether the listing says another page follows this one."""
        raise NotImplementedError

    def next_cursor(self, cursor: Cursor) -> Cursor | None:
        """Where the page after this one (fetched at ``cursor``) starts; None after the last."""
        raise NotImplementedError

    @staticmethod
    def query(cursor: Cursor) -> dict[str, Any]:
        """The query parameters that ask for the page at ``cursor``."""
        raise NotImplementedError

    @classmethod
    def from_answer(cls, answer: Any, cursor: Cursor, items_field: str) -> Page[Any]:
        """The page of a typed listing answer (``items_field`` names its list) fetched at ``cursor``."""
        raise NotImplementedError


@attrs.frozen(kw_only=True)
class OffsetPage(Page[ItemT]):
    """A page of an offset/limit listing (the cash coupons').

    ``offset``/``limit`` as the answer echoes them (the request's when it does not). The next
    page starts after this page's items, unless this page is short, empty or reaches ``total``.
    """

    offset: int = 0
    limit: int | None = None

    size_name: ClassVar[str] = "limit"

    @property
    def has_next(self) -> bool:
        if not self.items:
            return False
        if self.limit is not None and len(self.items) < self.limit:
            return False
        return self.total is None or self.offset + len(self.items) < self.total

    def next_cursor(self, cursor: Cursor) -> Cursor | None:
        return (cursor[0] + len(self.items), cursor[1]) if self.has_next else None

    @staticmethod
    def query(cursor: Cursor) -> dict[str, Any]:
        return {"offset": cursor[0], "limit": cursor[1]}

    @classmethod
    def from_answer(cls, answer: Any, cursor: Cursor, items_field: str) -> OffsetPage[Any]:
        """The page of a typed offset-listing answer fetched at ``cursor``."""
        offset = getattr(answer, "offset", None)
        limit = getattr(answer, "limit", None)
        return cls(
            items=list(getattr(answer, items_field, None) or []),
            total=getattr(answer, "total_count", None),
            offset=cursor[0] if offset is None else offset,
            limit=cursor[1] if limit is None else limit,
            response=answer,
            request_id=getattr(answer, "request_id", None),
        )


@attrs.frozen(kw_only=True)
class TokenPage(Page[ItemT]):
    """A page of a page_token/page_size listing (the product coupons').

    ``page_token`` is the token this page was fetched with (None for the first page);
    ``next_page_token`` the one the answer names for the next page (None after the last).
    """

    page_token: str | None = None
    next_page_token: str | None = None
    page_size: int | None = None

    size_name: ClassVar[str] = "page_size"

    @property
    def has_next(self) -> bool:
        return bool(self.next_page_token)

    def next_cursor(self, cursor: Cursor) -> Cursor | None:
        return (self.next_page_token, cursor[1]) if self.next_page_token else None

    @staticmethod
    def query(cursor: Cursor) -> dict[str, Any]:
        return {"page_token": cursor[0], "page_size": cursor[1]}

    @classmethod
    def from_answer(cls, answer: Any, cursor: Cursor, items_field: str) -> TokenPage[Any]:
        """The page of a typed token-listing answer fetched at ``cursor``."""
        return cls(
            items=list(getattr(answer, items_field, None) or []),
            total=getattr(answer, "total_count", None),
            page_token=cursor[0],
            next_page_token=getattr(answer, "next_page_token", None) or None,
            page_size=cursor[1],
            response=answer,
            request_id=getattr(answer, "request_id", None),
        )


class AsyncPaginator(Generic[ItemT]):
    """A listing, fetched lazily.

    ``await paginator`` → the first :class:`Page`; ``async for item in paginator`` → every item
    (at most ``max_items``); ``async for page in paginator.pages()`` → every page (at most
    ``max_pages``). Each walk starts again from the first page. Each page is one signed request,
    which spends the merchant's quota; the walk's stop rules are in the module docstring.
    List operations answer its subclasses :class:`OffsetPaginator` and :class:`TokenPaginator`.
    """

    #: The class of this listing's pages (its paging style).
    page_type: ClassVar[type[Page[Any]]] = Page

    def __init__(
        self,
        fetch: Callable[[Cursor], Awaitable[Page[ItemT]]],
        *,
        first_cursor: Cursor,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        if max_items < 1:
            raise ValidationError("max_items", "must be at least 1")
        if max_pages < 1:
            raise ValidationError("max_pages", "must be at least 1")
        self._fetch = fetch
        self._first = first_cursor
        self.max_items = max_items
        self.max_pages = max_pages
        #: Which rule ended the last walk (None before one ends).
        self.stop_reason: StopReason | None = None

    def __await__(self) -> Generator[Any, None, Page[ItemT]]:
        return self._fetch(self._first).__await__()

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
            following = page.next_cursor(cursor)
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


class OffsetPaginator(AsyncPaginator[ItemT]):
    """An offset/limit listing: its pages are :class:`OffsetPage`."""

    page_type = OffsetPage

    def __init__(
        self,
        fetch: Callable[[Cursor], Awaitable[OffsetPage[ItemT]]],
        *,
        first_cursor: Cursor,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        super().__init__(fetch, first_cursor=first_cursor, max_items=max_items, max_pages=max_pages)

    def __await__(self) -> Generator[Any, None, OffsetPage[ItemT]]:
        return cast("Generator[Any, None, OffsetPage[ItemT]]", super().__await__())

    def pages(self) -> AsyncIterator[OffsetPage[ItemT]]:
        return cast("AsyncIterator[OffsetPage[ItemT]]", super().pages())


class TokenPaginator(AsyncPaginator[ItemT]):
    """A page_token/page_size listing: its pages are :class:`TokenPage`."""

    page_type = TokenPage

    def __init__(
        self,
        fetch: Callable[[Cursor], Awaitable[TokenPage[ItemT]]],
        *,
        first_cursor: Cursor,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        super().__init__(fetch, first_cursor=first_cursor, max_items=max_items, max_pages=max_pages)

    def __await__(self) -> Generator[Any, None, TokenPage[ItemT]]:
        return cast("Generator[Any, None, TokenPage[ItemT]]", super().__await__())

    def pages(self) -> AsyncIterator[TokenPage[ItemT]]:
        return cast("AsyncIterator[TokenPage[ItemT]]", super().pages())
