"""A token bucket per merchant: sends beyond the configured rate answer 429 like WeChat Pay."""

from __future__ import annotations

from ._clock import Clock


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; time comes from ``clock``."""

    __slots__ = ("_last", "_tokens", "burst", "clock", "rate")

    def __init__(self, rate: float, burst: float | None, clock: Clock) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(rate, 1.0)
        self.clock = clock
        self._tokens = self.burst
        self._last = clock()

    def try_acquire(self) -> bool:
        now = self.clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class RateLimiter:
    """Buckets by key (merchant id); ``rate <= 0`` disables limiting."""

    def __init__(self, rate: float, clock: Clock, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def configure(self, rate: float, burst: float | None = None) -> None:
        self.rate, self.burst = rate, burst
        self._buckets.clear()

    def allow(self, key: str) -> bool:
        if self.rate <= 0:
            return True
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self.clock)
        return bucket.try_acquire()
