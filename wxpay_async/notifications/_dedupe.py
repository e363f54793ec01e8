"""The dedupe protocol (claim → run → done, renewed while running) and its in-process store."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal, Protocol

ClaimState = Literal["claimed", "done", "busy"]


#: What renewing a claim found: still ours (``"renewed"``), gone and taken again (``"reclaimed"``:
#: the store lost it), or held by another delivery or marked done (``"lost"``).
RenewState = Literal["renewed", "reclaimed", "lost"]


class DedupeStore(Protocol):
    """Once-per-id processing across workers: an atomic claim → run → done protocol.

    ``claim`` atomically answers ``"done"`` (processed already: acknowledge), ``"busy"``
    (another worker holds an unexpired claim) or ``"claimed"`` (this ``token`` now holds the
    id for ``ttl`` seconds: run the callback). ``complete`` records the id as done for
    ``ttl`` seconds and drops the claim; ``release`` drops the claim after a failed callback so
    the next delivery runs it. A crashed worker's claim simply expires after its TTL.

    A store may also offer ``renew(notification_id, token, ttl) -> RenewState`` (both built-in
    stores do): the handler calls it every ``claim_ttl / 3`` seconds while the callback runs, so a
    claim outlives a slow callback. It extends the claim when ``token`` still holds it, takes it
    again when it has vanished and the id is not done, and answers ``"lost"`` otherwise. Without
    ``renew`` a callback longer than ``claim_ttl`` can run twice at once.
    """

    async def claim(self, notification_id: str, token: str, ttl: float) -> ClaimState: ...

    async def complete(self, notification_id: str, token: str, ttl: float) -> None: ...

    async def release(self, notification_id: str, token: str) -> None: ...


class InMemoryDedupeStore:
    """Bounded, TTL-expiring claims and done markers (one process)."""

    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        # id -> (token or "" when done, expiry)
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def _live(self, notification_id: str) -> tuple[str, float] | None:
        entry = self._entries.get(notification_id)
        if entry is not None and entry[1] < self._clock():
            del self._entries[notification_id]
            return None
        return entry

    def _put(self, notification_id: str, token: str, ttl: float) -> None:
        self._entries[notification_id] = (token, self._clock() + ttl)
        self._entries.move_to_end(notification_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def claim(self, notification_id: str, token: str, ttl: float) -> ClaimState:
        entry = self._live(notification_id)
        if entry is not None:
            return "done" if entry[0] == "" else "busy"
        self._put(notification_id, token, ttl)
        return "claimed"

    async def complete(self, notification_id: str, token: str, ttl: float) -> None:
        self._put(notification_id, "", ttl)

    async def release(self, notification_id: str, token: str) -> None:
        entry = self._live(notification_id)
        if entry is not None and entry[0] == token:
            del self._entries[notification_id]

    async def renew(self, notification_id: str, token: str, ttl: float) -> RenewState:
        entry = self._live(notification_id)
        if entry is None:
            self._put(notification_id, token, ttl)
            return "reclaimed"
        if entry[0] != token:
            return "lost"
        self._put(notification_id, token, ttl)
        return "renewed"
