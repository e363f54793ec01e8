"""What a typed call returned besides the model: the HTTP answer, for ``with_raw_response``.

``await client.favor.with_raw_response.get_stock(stock_id, stock_creator_mchid=mchid)`` sends the
same signed, verified, retried call as ``client.favor.get_stock(...)`` and answers a
:class:`RawResponse`: ``status``, ``headers``, ``content``, ``request_id``, and ``parse()`` for
the typed model (a :class:`~wxpay_async.pagination.Page` for list operations). Non-2xx answers
still raise :class:`~wxpay_async.errors.APIStatusError`, which carries the same details.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from ._request import Headers, Response

if TYPE_CHECKING:
    from .pagination import AsyncPaginator, OffsetPage, OffsetPaginator, Page, TokenPage, TokenPaginator

T = TypeVar("T")
P = ParamSpec("P")

__all__ = ["RawResponse", "to_raw_response"]


class RawResponse(Generic[T]):
    """The verified HTTP answer of one typed call; ``parse()`` gives the model it would have returned."""

    def __init__(self, response: Response, parse: Callable[[], T]) -> None:
        self.http_response = response
        self._parse = parse
        self._parsed: list[T] = []

    @property
    def status(self) -> int:
        return self.http_response.status

    @property
    def headers(self) -> Headers:
        return self.http_response.headers

    @property
    def content(self) -> bytes:
        return self.http_response.content

    @property
    def request_id(self) -> str | None:
        """The ``Request-ID`` WeChat Pay answered with (quote it to WeChat Pay support)."""
        return self.http_response.request_id

    @property
    def idempotency_key(self) -> str | None:
        """The request number this call used (``out_request_no``...), when it has one."""
        return self.http_response.request.idempotency_key

    def json(self) -> Any:
        return self.http_response.json()

    def parse(self) -> T:
        """The typed answer (structured once, then cached)."""
        if not self._parsed:
            self._parsed.append(self._parse())
        return self._parsed[0]

    def __repr__(self) -> str:
        return f"RawResponse(status={self.status}, request_id={self.request_id!r}, content=<{len(self.content)} bytes>)"


class _Capture:
    """Where the resource layer leaves the answer of a call made through ``with_raw_response``."""

    def __init__(self) -> None:
        self.response: Response | None = None
        self.parse: Callable[[], Any] | None = None

    def set(self, response: Response, parse: Callable[[], Any]) -> None:
        if self.response is None:  # the call's own answer, never a nested one
            self.response, self.parse = response, parse

    def wrap(self, outer: Callable[[Any], Any]) -> None:
        inner = self.parse
        if inner is not None:
            self.parse = lambda: outer(inner())


_capture: contextvars.ContextVar[_Capture | None] = contextvars.ContextVar("wxpay_raw_capture", default=None)


def active_capture() -> _Capture | None:
    """The capture of the ``with_raw_response`` call running in this context, if any."""
    return _capture.get()


@overload
def to_raw_response(
    func: Callable[P, OffsetPaginator[T]],
) -> Callable[P, Coroutine[Any, Any, RawResponse[OffsetPage[T]]]]: ...


@overload
def to_raw_response(
    func: Callable[P, TokenPaginator[T]],
) -> Callable[P, Coroutine[Any, Any, RawResponse[TokenPage[T]]]]: ...


@overload
def to_raw_response(
    func: Callable[P, AsyncPaginator[T]],
) -> Callable[P, Coroutine[Any, Any, RawResponse[Page[T]]]]: ...


@overload
def to_raw_response(func: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, RawResponse[T]]]: ...


def to_raw_response(func: Callable[P, Any]) -> Callable[P, Coroutine[Any, Any, RawResponse[Any]]]:
    """Wrap a typed resource method so it answers :class:`RawResponse` instead of the model."""

    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> RawResponse[Any]:
        capture = _Capture()
        token = _capture.set(capture)
        try:
            await func(*args, **kwargs)
        finally:
            _capture.reset(token)
        if capture.response is None or capture.parse is None:
            raise RuntimeError(f"{getattr(func, '__name__', func)!r} made no call to capture")
        return RawResponse(capture.response, capture.parse)

    wrapped.__name__ = getattr(func, "__name__", "wrapped")
    wrapped.__doc__ = getattr(func, "__doc__", None)
    return wrapped
