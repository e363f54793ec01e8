"""RedisRateLimiter: one per-merchant rate for every batch worker, with the AIMD of the local bucket."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from .._redis import redis_client, refused_credentials
from ..errors import RedisConfigurationError, ValidationError
from ._ratelimit import AdaptiveTokenBucket, aimd_settings

logger = logging.getLogger("wxpay_async.batch")

# What both scripts start with: Redis' clock (one for every host) and the settings they share,
# ARGV[1] the configured rate and ARGV[4] the cooldown.
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local max_rate = tonumber(ARGV[1])
local cooldown = tonumber(ARGV[4])
"""

# A shared token bucket as reservations (the GCRA view): each call takes one token, letting the
# balance go negative, and answers how long the caller waits for its slot at the shared rate.
# One script call is atomic, so workers can neither double-spend a token nor race the refill.
# Time is Redis' own (TIME): one clock for every host. The rate recovers additively
# (``increase`` per second, after ``cooldown`` since the last halving) up to the configured rate.
_ACQUIRE = (
    _PRELUDE
    + """
local burst = tonumber(ARGV[2])
local increase = tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'updated', 'rate', 'last_decrease')
local tokens = tonumber(s[1]) or burst
local updated = tonumber(s[2]) or now
local rate = tonumber(s[3]) or max_rate
local last_decrease = tonumber(s[4])
if rate > max_rate then rate = max_rate end
local elapsed = math.max(0, now - updated)
tokens = math.min(burst, tokens + elapsed * rate)
if rate < max_rate and (last_decrease == nil or now - last_decrease > cooldown) then
  rate = math.min(max_rate, rate + elapsed * increase)
end
local n = tonumber(ARGV[6]) or 1
tokens = tokens - n
local wait = 0
if tokens < 0 then wait = -tokens / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now), 'rate', tostring(rate))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {tostring(wait), tostring(rate)}
"""
)

# Multiplicative decrease, at most once per cooldown for all workers together: the first 429
# any worker sees halves the rate every worker paces with; the ones right after it do nothing.
_DECREASE = (
    _PRELUDE
    + """
local min_rate = tonumber(ARGV[2])
local decrease = tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'rate', 'last_decrease', 'tokens')
local rate = tonumber(s[1]) or max_rate
local last_decrease = tonumber(s[2])
if last_decrease ~= nil and now - last_decrease < cooldown then return {0, tostring(rate)} end
rate = math.max(min_rate, rate * decrease)
local tokens = math.min(tonumber(s[3]) or 0, 0)
redis.call('HSET', KEYS[1], 'rate', tostring(rate), 'last_decrease', tostring(now), 'tokens', tostring(tokens))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, tostring(rate)}
"""
)


class RedisRateLimiter:
    """At most ``rate`` acquisitions per second for one merchant, summed over every process.

    The bucket lives in Redis under ``<prefix><mchid>`` (one atomic Lua script per acquisition),
    so three workers started with ``--qps 500`` send 500/s together, not 1,500/s. A 429 seen by
    any worker halves the shared rate (at most once per ``cooldown``) and it climbs back by
    ``increase_per_second`` (default a tenth of ``rate``), exactly as :class:`AdaptiveTokenBucket`
    does for one process. Give every worker the same ``rate``.

    Tokens are reserved ``batch`` at a time (one script call per ``batch`` acquisitions, default
    about rate/25, at most 50) and handed out locally at the shared rate's spacing, so Redis round
    trips per send stay far below one.

    Should Redis become unreachable, the limiter logs it and paces this process alone with a
    local bucket at ``rate / fallback_share`` (``fallback_share``: the number of workers, which a
    fleet sender keeps at the number of live hosts it last saw). Every ``probe_interval`` seconds
    it tries the shared bucket again and returns to it as soon as Redis answers.
    A client passed as ``client`` is never closed here.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        mchid: str,
        rate: float,
        client: Any = None,
        prefix: str = "wxpay:ratelimit:",
        burst: float | None = None,
        min_rate: float = 1.0,
        decrease: float = 0.5,
        increase_per_second: float | None = None,
        cooldown: float = 1.0,
        fallback_share: int = 1,
        batch: int | None = None,
        probe_interval: float = 2.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.burst, self.min_rate, self._increase = aimd_settings(rate, burst, min_rate, increase_per_second)
        if not mchid:
            raise ValidationError("mchid", "required: the rate is per merchant")
        self._redis, self._owns_client = redis_client(url, client)
        self.key = prefix + mchid
        self.max_rate = float(rate)
        self.rate = float(rate)  # the shared rate as last seen by this process
        self._decrease = decrease
        self._cooldown = cooldown
        self._sleep = sleep
        self._ttl_ms = max(60_000, int(cooldown * 1000) * 10)
        self.fallback_share = max(1, fallback_share)
        self.batch = max(1, batch if batch is not None else min(50, int(rate // 25)))
        self._probe_interval = probe_interval
        self._slots: deque[float] = deque()
        self._reserve_lock = asyncio.Lock()
        self._ahead: asyncio.Task[None] | None = None
        self._fallback: AdaptiveTokenBucket | None = None
        self._fallback_since = 0.0
        self.fallbacks = 0  # times this process fell back to its local share
        self.evals = 0  # script calls (Redis round trips) made for acquisitions
        self._pending: set[asyncio.Task[None]] = set()
        self.waited = 0.0
        self.decreases = 0  # halvings this process triggered

    def __repr__(self) -> str:
        return f"RedisRateLimiter(key={self.key!r}, rate={self.max_rate})"

    @property
    def in_fallback(self) -> bool:
        return self._fallback is not None

    async def acquire(self) -> None:
        from redis.exceptions import RedisError

        if self._fallback is not None and time.monotonic() - self._fallback_since >= self._probe_interval:
            self._fallback_since = time.monotonic()  # one probe per interval, whatever its outcome
            try:
                await self._reserve()
            except refused_credentials() as exc:
                raise self._refused(exc) from None
            except (RedisError, OSError):
                pass
            else:
                logger.warning("shared rate limiter %s reachable again; back to the shared rate", self.key)
                self._fallback = None
        if self._fallback is None:
            try:
                if not self._slots:
                    async with self._reserve_lock:
                        if not self._slots:
                            await self._reserve()
            except refused_credentials() as exc:
                raise self._refused(exc) from None
            except (RedisError, OSError) as exc:
                self._use_fallback(exc)
            else:
                at = self._slots.popleft()
                if self.batch > 1 and len(self._slots) <= self.batch // 2 and self._ahead is None:
                    # Reserve the next tokens while these are used: no stall of a round trip.
                    self._ahead = asyncio.get_running_loop().create_task(self._reserve_ahead())
                seconds = at - time.monotonic()
                if seconds > 0:
                    self.waited += seconds
                    await self._sleep(seconds)
                return
        assert self._fallback is not None
        before = self._fallback.waited
        await self._fallback.acquire()
        self.waited += self._fallback.waited - before

    def _refused(self, exc: BaseException) -> RedisConfigurationError:
        """A password Redis refuses is a configuration error, not an outage to pace through alone."""
        return RedisConfigurationError(
            f"Redis refused the shared rate limiter's client ({type(exc).__name__}): check the password "
            f"(and user) in the Redis URL; nothing was acquired for {self.key}"
        )

    async def _reserve_ahead(self) -> None:
        from redis.exceptions import RedisError

        try:
            async with self._reserve_lock:
                if len(self._slots) <= self.batch // 2:
                    await self._reserve()
        except (RedisError, OSError):
            pass  # the next acquire without a slot meets the error and falls back
        finally:
            self._ahead = None

    async def _reserve(self) -> None:
        """Take ``batch`` tokens from the shared bucket; queue the moments each may be used."""
        n = self.batch
        self.evals += 1
        wait, rate = await self._redis.eval(
            _ACQUIRE, 1, self.key, self.max_rate, self.burst, self._increase, self._cooldown, self._ttl_ms, n
        )
        self.rate = float(rate)
        last = time.monotonic() + float(wait)
        spacing = 1.0 / self.rate if self.rate > 0 else 0.0
        first = last - (n - 1) * spacing
        now = time.monotonic()
        self._slots.extend(max(now, first + i * spacing) for i in range(n))

    def on_rate_limited(self) -> None:
        """Halve the shared rate (the script runs in the background: callers are synchronous)."""
        if self._fallback is not None:
            self._fallback.on_rate_limited()
            return
        task = asyncio.get_running_loop().create_task(self._decrease_shared())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _decrease_shared(self) -> None:
        from redis.exceptions import RedisError

        try:
            applied, rate = await self._redis.eval(
                _DECREASE, 1, self.key, self.max_rate, self.min_rate, self._decrease, self._cooldown, self._ttl_ms
            )
        except (RedisError, OSError) as exc:
            self._use_fallback(exc)
            assert self._fallback is not None
            self._fallback.on_rate_limited()
            return
        self.rate = float(rate)
        if int(applied):
            self.decreases += 1

    def _use_fallback(self, exc: BaseException) -> None:
        if self._fallback is None:
            share = self.max_rate / self.fallback_share
            logger.warning(
                "shared rate limiter %s unreachable (%s); pacing this worker alone at %g/s (1/%d of the rate) "
                "until Redis answers again",
                self.key,
                type(exc).__name__,
                share,
                self.fallback_share,
            )
            self._fallback = AdaptiveTokenBucket(share, min_rate=min(self.min_rate, share), sleep=self._sleep)
            self._fallback_since = time.monotonic()
            self._slots.clear()
            self.fallbacks += 1
            self.rate = share

    async def aclose(self) -> None:
        if self._ahead is not None:
            await asyncio.gather(self._ahead, return_exceptions=True)
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._owns_client:
            await self._redis.aclose()
