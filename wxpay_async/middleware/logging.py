"""Logs every attempt at DEBUG (and failures at INFO) with the WeChat Pay Request-ID."""

from __future__ import annotations

import logging
import time

from .._logmask import loggable_target
from .._request import Request, Response
from ..errors import WxPayError
from ._base import Handler

logger = logging.getLogger("wxpay_async.http")


class LoggingMiddleware:
    """Never logs headers or bodies: they carry signatures and personal data."""

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except WxPayError as exc:
            log_failure(request, start, exc)
            raise
        log_response(request, response, start)
        return response


def log_failure(request: Request, start: float, exc: WxPayError) -> None:
    """An attempt that raised, at INFO (``start``: its ``time.perf_counter()``)."""
    logger.info(
        "%s %s failed after %.1f ms: %s",
        request.method,
        loggable_target(request.target),
        (time.perf_counter() - start) * 1000,
        type(exc).__name__,
    )


def log_response(request: Request, response: Response, start: float) -> None:
    """An answer at DEBUG, a non-2xx one at INFO (Client runs these inside its exchange step)."""
    if logger.isEnabledFor(logging.DEBUG) or not response.is_success:
        logger.log(
            logging.DEBUG if response.is_success else logging.INFO,
            "%s %s -> %d %s in %.1f ms (Request-ID %s)",
            request.method,
            loggable_target(request.target),
            response.status,
            response.error_code() or "",
            (time.perf_counter() - start) * 1000,
            response.request_id,
        )
