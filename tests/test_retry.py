"""RetryMiddleware decisions, driven with a recorded sleep (our own seam) instead of real waits."""

from __future__ import annotations

import email.utils
import random

import pytest
from multidict import CIMultiDict

from wxpay_async import Request, Response, RetryPolicy
from wxpay_async.errors import APIConnectionError
from wxpay_async.middleware import RetryMiddleware, parse_retry_after


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.sleeps.append(delay)


def req(method: str = "GET", key: str | None = None) -> Request:
    return Request(method=method, base_url="http://127.0.0.1", target="/v3/x", idempotency_key=key, timeout=5.0)


def resp(request: Request, status: int, body: bytes = b"", **headers: str) -> Response:
    return Response(status=status, headers=CIMultiDict(headers), content=body, request=request)


async def run(mw: RetryMiddleware, request: Request, outcomes: list[object]) -> tuple[Response | None, int]:
    calls = 0

    async def call_next(r: Request) -> Response:
        nonlocal calls
        outcome = outcomes[min(calls, len(outcomes) - 1)]
        calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, int)
        return resp(r, outcome, body_for(outcome))

    def body_for(status: int) -> bytes:
        return b'{"code":"SYSTEM_ERROR"}' if status >= 400 else b"{}"

    return await mw(request, call_next), calls


async def test_retry_after_seconds_is_honoured_and_capped() -> None:
    sleep = Recorder()
    mw = RetryMiddleware(RetryPolicy(retry_after_max=10), sleep=sleep)
    request = req()

    async def call_next(r: Request) -> Response:
        return resp(r, 429, **{"Retry-After": "3"}) if not sleep.sleeps else resp(r, 200)

    assert (await mw(request, call_next)).status == 200
    assert sleep.sleeps == [3.0]
    sleep2 = Recorder()
    mw2 = RetryMiddleware(RetryPolicy(retry_after_max=10), sleep=sleep2)

    async def call_next2(r: Request) -> Response:
        return resp(r, 503, **{"Retry-After": "120"}) if not sleep2.sleeps else resp(r, 200)

    await mw2(request, call_next2)
    assert sleep2.sleeps == [10.0]


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    assert parse_retry_after(date, now) == pytest.approx(7, abs=1)
    assert parse_retry_after("garbage", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-5", now) is None  # never "retry at once": the normal backoff applies


async def test_backoff_is_jittered_exponential_and_capped() -> None:
    sleep = Recorder()
    policy = RetryPolicy(max_attempts=8, backoff_base=0.5, backoff_max=2.0, deadline=None)
    mw = RetryMiddleware(policy, sleep=sleep, rng=random.Random(7))
    response, calls = await run(mw, req(), [500])
    assert response is not None and response.status == 500 and calls == 8
    caps = [min(2.0, 0.5 * 2**i) for i in range(7)]
    assert all(0 <= s <= cap for s, cap in zip(sleep.sleeps, caps, strict=True))
    assert len(set(sleep.sleeps)) > 1


async def test_only_retry_safe_requests_are_retried() -> None:
    mw = RetryMiddleware(RetryPolicy(), sleep=Recorder())
    _, calls = await run(mw, req("POST"), [500, 200])
    assert calls == 1
    _, calls = await run(mw, req("POST", key="k1"), [500, 200])
    assert calls == 2
    with pytest.raises(APIConnectionError):
        await run(mw, req("POST"), [APIConnectionError("reset"), 200])


async def test_4xx_is_not_retried_but_system_error_code_is() -> None:
    mw = RetryMiddleware(RetryPolicy(), sleep=Recorder())
    _, calls = await run(mw, req(), [400, 200])
    assert calls == 2  # body says SYSTEM_ERROR
    calls = 0

    async def call_next(r: Request) -> Response:
        nonlocal calls
        calls += 1
        return resp(r, 400, b'{"code":"PARAM_ERROR"}')

    assert (await mw(req(), call_next)).status == 400 and calls == 1


async def test_deadline_stops_retries_before_sleeping_past_it() -> None:
    now = [0.0]
    sleep_calls: list[float] = []

    async def fake_sleep(delay: float) -> None:
        sleep_calls.append(delay)
        now[0] += delay

    policy = RetryPolicy(max_attempts=100, deadline=1.0, backoff_base=0.3, backoff_max=0.3)
    mw = RetryMiddleware(policy, sleep=fake_sleep, monotonic=lambda: now[0], rng=random.Random(1))
    seen_timeouts: list[float | None] = []

    async def call_next(r: Request) -> Response:
        seen_timeouts.append(r.timeout)
        return resp(r, 503)

    response = await mw(req(), call_next)
    assert response.status == 503
    assert sum(sleep_calls) < 1.0
    assert all(t is not None and t <= 1.0 for t in seen_timeouts)


async def test_observe_retries_reports_each_retry_in_this_task_only() -> None:
    from wxpay_async.middleware import observe_retries

    seen: list[int | None] = []
    mw = RetryMiddleware(RetryPolicy(), sleep=Recorder())
    with observe_retries(lambda r: seen.append(None if r is None else r.status)):
        await run(mw, req(), [429, APIConnectionError("reset"), 200])
    assert seen == [429, None]
    await run(mw, req(), [429, 200])
    assert seen == [429, None]  # outside the context: not reported
