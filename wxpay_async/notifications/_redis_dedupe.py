"""The dedupe store shared by worker processes through Redis (``redis`` extra)."""

from __future__ import annotations

from typing import Any

from .._redis import hash_tag, redis_client
from ..errors import WxPayError
from ._dedupe import ClaimState, RenewState

_CLAIM = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 'done' end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'claimed' end
return 'busy'
"""
_COMPLETE = """
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 'renewed' end
if holder then return 'lost' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'lost' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'reclaimed'
"""


class RedisDedupeStore:
    """A :class:`DedupeStore` shared by every worker process through Redis (``redis`` extra).

    ``<prefix>{<id>}:claim`` is taken with ``SET NX PX`` (the lease, holding this delivery's
    token, renewed while the callback runs) and ``<prefix>{<id>}:done`` is the done marker (one hash
    tag: one Cluster slot); each
    step is one atomic Lua script, so two workers can never both run the callback for one id
    while a claim or marker lives.

    Redis holds these keys in memory: a restart without persistence, ``FLUSHDB``, eviction under
    ``maxmemory`` or a failover to a replica that missed the write loses them, and a re-delivery
    after that runs the callback again (at least once; see :class:`NotificationHandler`). Use a
    ``noeviction`` policy (or keep these keys out of eviction's reach) and persistence if
    re-runs are costly, and make the callback idempotent either way.
    """

    def __init__(
        self, url: str = "redis://127.0.0.1:6379/0", *, client: Any = None, prefix: str = "wxpay:notify:"
    ) -> None:
        self._redis, self._owns_client = redis_client(url, client)
        self._prefix = prefix

    def _keys(self, notification_id: str) -> tuple[str, str]:
        base = self._prefix + hash_tag(notification_id)
        return base + ":claim", base + ":done"

    async def claim(self, notification_id: str, token: str, ttl: float) -> ClaimState:
        state = await self._redis.eval(_CLAIM, 2, *self._keys(notification_id), token, max(1, int(ttl * 1000)))
        return _state(state, ("claimed", "done", "busy"), "claim")  # type: ignore[return-value]

    async def complete(self, notification_id: str, token: str, ttl: float) -> None:
        await self._redis.eval(_COMPLETE, 2, *self._keys(notification_id), token, max(1, int(ttl * 1000)))

    async def release(self, notification_id: str, token: str) -> None:
        await self._redis.eval(_RELEASE, 1, self._keys(notification_id)[0], token)

    async def renew(self, notification_id: str, token: str, ttl: float) -> RenewState:
        state = await self._redis.eval(_RENEW, 2, *self._keys(notification_id), token, max(1, int(ttl * 1000)))
        return _state(state, ("renewed", "reclaimed", "lost"), "renew")  # type: ignore[return-value]

    async def aclose(self) -> None:
        if self._owns_client:
            await self._redis.aclose()


def _state(answer: Any, states: tuple[str, ...], script: str) -> str:
    """A script's answer, one of ``states``; anything else is a WxPayError naming the script."""
    text = answer.decode() if isinstance(answer, bytes) else str(answer)
    if text not in states:
        raise WxPayError(f"unexpected dedupe {script} answer {text!r}")
    return text
