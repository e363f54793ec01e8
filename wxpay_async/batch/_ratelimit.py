"""Client-side pacing: a token bucket whose rate backs off on 429s (AIMD)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from ..errors import ValidationError


def aimd_settings(
    rate: float, burst: float | None, min_rate: float, increase_per_second: float | None
) -> tuple[float, float, float]:
    """The defaults and bounds both limiters (:class:`AdaptiveTokenBucket`, ``RedisRateLimiter``)
    give their settings: ``(burst, min_rate, increase)``, burst a tenth of ``rate`` (at least 1),
    ``min_rate`` no higher than ``rate``, the additive increase a tenth of ``rate`` per second."""
    if not rate > 0:  # NaN included
        raise ValidationError("rate", "must be positive")
    return (
        float(burst if burst is not None else max(1.0, rate / 10)),
        min(min_rate, float(rate)),
        increase_per_second if increase_per_second is not None else float(rate) / 10,
    )


class AdaptiveTokenBucket:
    """At most ``rate`` acquisitions per second, bursts up to ``burst``.

    Multiplicative decrease on each rate-limit signal (at most once per ``cooldown``), additive
    increase back towards the configured rate while calls succeed: the classic AIMD that lets
    many senders share WeChat Pay's per-merchant limit without hammering it.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        min_rate: float = 1.0,
        decrease: float = 0.5,
        increase_per_second: float | None = None,
        cooldown: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.burst, self.min_rate, self._increase = aimd_settings(rate, burst, min_rate, increase_per_second)
        self._clock = clock
        self.max_rate = self.rate = float(rate)
        self._decrease = decrease
        self._cooldown = cooldown
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()
        self._last_decrease = float("-inf")
        self.waited = 0.0  # seconds callers spent waiting for tokens (the limiter's share of time)
        self.decreases = 0
        self._lock = asyncio.Lock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        if self.rate < self.max_rate and now - self._last_decrease > self._cooldown:
            self.rate = min(self.max_rate, self.rate + elapsed * self._increase)

    async def acquire(self) -> None:
        async with self._lock:  # FIFO: waiters are served in arrival order
            now = self._clock()
            self._refill(now)
            if self._tokens < 1.0:
                wait = (1.0 - self._tokens) / self.rate
                self.waited += wait
                await self._sleep(wait)
                self._refill(self._clock())
            self._tokens -= 1.0

    def on_rate_limited(self) -> None:
        now = self._clock()
        if now - self._last_decrease < self._cooldown:
            return
        self._last_decrease = now
        self.rate = max(self.min_rate, self.rate * self._decrease)
        self._tokens = min(self._tokens, 0.0)
        self.decreases += 1


class RateLimiter(Protocol):
    """What the batch sender paces with: :class:`AdaptiveTokenBucket` (one process) or
    :class:`~wxpay_async.batch.RedisRateLimiter` (one rate shared by every worker of a merchant)."""

    rate: float
    waited: float
    decreases: int

    async def acquire(self) -> None: ...

    def on_rate_limited(self) -> None: ...
