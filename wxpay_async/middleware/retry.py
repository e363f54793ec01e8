"""Retries transient failures of calls that are safe to repeat.

Only GETs and calls pinned by a request number are retried: for anything else a lost answer
means the outcome is unknown, and sending again could create a second stock or coupon.
Every retry goes back through the signer, so it carries the same body bytes with a fresh
nonce, timestamp and signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator

import attrs

from .._logmask import loggable_target
from .._request import Request, Response
from .._retry_after import parse_retry_after as parse_retry_after  # its home; importable here
from ..errors import (
    TRANSIENT_CODES,
    TRANSIENT_STATUSES,
    APIConnectionError,
    APITimeoutError,
    Attempt,
    OutcomeUnknownError,
    WxPayError,
    is_transient,
)
from ._base import Handler
from .idempotency import tagged

logger = logging.getLogger("wxpay_async.retry")

#: The default policy retries what :func:`~wxpay_async.errors.is_transient` calls transient.
RETRY_STATUSES = TRANSIENT_STATUSES
RETRY_CODES = TRANSIENT_CODES


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how long to wait before sending a call again.

    ``deadline`` bounds the whole call, every attempt and wait included; the per-attempt
    timeout is shortened so the last attempt still ends by it.
    """

    max_attempts: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    deadline: float | None = 60.0
    backoff_base: float = 0.2
    backoff_max: float = 5.0
    retry_after_max: float = 30.0
    statuses: frozenset[int] = RETRY_STATUSES
    codes: frozenset[str] = RETRY_CODES

    def should_retry_response(self, response: Response) -> bool:
        status = response.status
        if status < 400:  # every answer passes here: no body read for a success
            return False
        return is_transient(status, response.error_code(), statuses=self.statuses, codes=self.codes)

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base·2^n)] spreads retries of many workers apart."""
        return rng.uniform(0, min(self.backoff_max, self.backoff_base * (2**retry_number)))


NO_RETRY = RetryPolicy(max_attempts=1)

#: Called with the retried response (or None after a connection error) before each retry wait.
RetryListener = Callable[[Response | None], None]
_listener: contextvars.ContextVar[RetryListener | None] = contextvars.ContextVar("wxpay_retry_listener", default=None)


@contextlib.contextmanager
def observe_retries(listener: RetryListener) -> Iterator[None]:
    """Tell ``listener`` about every retry of calls made in this context (task-local).

    The batch sender uses it to slow down on 429s that the retry layer absorbs.
    """
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


class RetryMiddleware:
    def __init__(
        self,
        policy: RetryPolicy = RetryPolicy(),
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self._sleep = sleep
        self._monotonic = monotonic
        self._clock = clock
        self._rng = rng or random.Random()

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        policy = self.policy
        if policy.max_attempts == 1:
            try:
                return await call_next(request)
            except WxPayError as exc:
                error = call_failed(request, (), exc)
                raise error from error.__cause__  # exc itself keeps its cause
        # Calls that are not safe to repeat are sent again only when nothing went on the wire
        # (NotSentError: no pool connection...), and keep their own timeout as before.
        safe = request.retry_safe
        deadline = None if policy.deadline is None or not safe else self._monotonic() + policy.deadline
        # A first attempt whose own timeout ends before the deadline is sent as it is.
        short = request.timeout is not None and policy.deadline is not None and request.timeout < policy.deadline
        attempt = 0
        history: tuple[Attempt, ...] = ()  # the attempts before this one
        while True:
            attempt += 1
            retried: Response | None = None
            bounded = (
                request if deadline is None or (attempt == 1 and short) else self._bounded(request, deadline, history)
            )
            try:
                response = await call_next(bounded)
            except APIConnectionError as exc:
                delay = self._next_delay(attempt, deadline, None) if safe or exc.sent is False else None
                if delay is None:
                    error = call_failed(request, history, exc)
                    raise error from error.__cause__  # exc itself keeps its cause
                history += (attempt_of(attempt, exc),)
                logger.info(
                    "retrying %s %s in %.2fs after %s (attempt %d/%d)",
                    request.method,
                    loggable_target(request.target),
                    delay,
                    type(exc).__name__,
                    attempt,
                    policy.max_attempts,
                )
            except WxPayError as exc:
                error = call_failed(request, history, exc)
                raise error from error.__cause__  # exc itself keeps its cause
            else:
                if not safe or not policy.should_retry_response(response):
                    return response
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
                delay = self._next_delay(attempt, deadline, retry_after)
                if delay is None:
                    return response
                retried = response
                history += (answered(attempt, response),)
                logger.info(
                    "retrying %s %s in %.2fs after HTTP %d %s (attempt %d/%d, Request-ID %s)",
                    request.method,
                    loggable_target(request.target),
                    delay,
                    response.status,
                    response.error_code() or "",
                    attempt,
                    policy.max_attempts,
                    response.request_id,
                )
            listener = _listener.get()
            if listener is not None:
                listener(retried)
            await self._sleep(delay)

    def _next_delay(self, attempt: int, deadline: float | None, retry_after: float | None) -> float | None:
        """The wait before the next attempt, or None when no attempt is left in count or time."""
        if attempt >= self.policy.max_attempts:
            return None
        if retry_after is not None:
            delay = min(retry_after, self.policy.retry_after_max)
        else:
            delay = self.policy.backoff(attempt - 1, self._rng)
        if deadline is not None and self._monotonic() + delay >= deadline:
            return None
        return delay

    def _bounded(self, request: Request, deadline: float | None, history: tuple[Attempt, ...]) -> Request:
        if deadline is None:
            return request
        remaining = deadline - self._monotonic()
        if remaining <= 0:
            error = APITimeoutError(
                f"{request.method} {request.target}: deadline of {self.policy.deadline}s passed",
                idempotency_key=request.idempotency_key,
            )
            error.attempts = history
            raise error
        if request.timeout is None or request.timeout > remaining:
            return request.replace(timeout=remaining)
        return request


def attempt_of(number: int, exc: WxPayError) -> Attempt:
    """The record of an attempt that raised ``exc`` (it reached the wire unless it says it did not)."""
    reason = str(exc)
    return Attempt(number, getattr(exc, "sent", None) is not False, f"{type(exc).__name__}: {reason}"[:300])


def answered(number: int, response: Response) -> Attempt:
    """The record of an attempt WeChat Pay answered (a retried 429/5xx)."""
    code = response.error_code()
    return Attempt(number, True, f"HTTP {response.status}" + (f" {code}" if code else ""))


def call_failed(request: Request, history: tuple[Attempt, ...], exc: WxPayError) -> WxPayError:
    """The error a call raises when its last attempt raised ``exc`` after the attempts in ``history``.

    ``exc`` itself, carrying every attempt's outcome, unless it claims that nothing was sent
    while an earlier attempt reached the wire: then :class:`OutcomeUnknownError`, since
    WeChat Pay may have acted on that earlier attempt.
    """
    attempts = (*history, attempt_of(len(history) + 1, exc)) if exc.attempts == () else exc.attempts
    key = request.idempotency_key
    if getattr(exc, "sent", None) is False and any(a.reached_wire for a in history):
        reached = next(a for a in history if a.reached_wire)
        redo = (
            f"re-send with the same request number {key} (idempotency_key) to learn the outcome without acting twice"
            if key
            else "check the outcome before sending it again"
        )
        error = OutcomeUnknownError(
            f"{request.method} {request.target}: outcome unknown: attempt {reached.number} may have reached "
            f"WeChat Pay ({reached.outcome}), then attempt {len(attempts)} could not be sent ({type(exc).__name__}); "
            + redo,
            idempotency_key=key,
            attempts=attempts,
            sent=True if any(a.outcome.startswith("HTTP ") for a in history) else None,
        )
        error.__cause__ = exc
        return error
    exc.attempts = attempts
    return tagged(exc, key)
