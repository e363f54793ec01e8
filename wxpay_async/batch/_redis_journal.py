"""A Redis journal, so several worker processes can share one batch (``redis`` extra).

Layout under ``wxpay:batch:{<id>}:`` (one hash tag: one Cluster slot): ``rows`` (hash key → outcome JSON), ``keys`` (hash key →
first input index, for duplicate detection), ``order`` (sorted set index → key, for the
result CSV in input order), and ``claim:<key>`` (a short-lived lock so two workers reading the
same input do not both send one row; if a worker dies, its claim expires and the row is sent
again later, harmlessly, with the same request number).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from .._redis import hash_tag, redis_client, refused_credentials
from ..errors import RedisConfigurationError
from ._journal import JournalError, RowOutcome


@contextlib.contextmanager
def _redis_errors(what: str) -> Iterator[None]:
    """redis-py's errors as the SDK's: a refused password says so, any other failure is a JournalError."""
    from redis.exceptions import RedisError

    try:
        yield
    except refused_credentials() as exc:
        raise RedisConfigurationError(
            f"Redis refused the journal's client ({type(exc).__name__} during {what}): check the password (and "
            "user) in the Redis URL"
        ) from None
    except (RedisError, OSError) as exc:
        raise JournalError(
            f"Redis journal failed during {what} ({type(exc).__name__}: {exc}); rows without a recorded outcome "
            "are sent again by the next run, with their same request numbers"
        ) from None


class RedisJournal:
    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: Any = None,
        claim_ttl: int = 120,
        commit_every: int = 200,
        worker: str | None = None,
        input_sha256: str | None = None,
        resume: bool | None = None,
    ) -> None:
        self._redis, self._owns_client = redis_client(url, client)
        self._claim_ttl = claim_ttl
        self._commit_every = commit_every
        self._prefix = ""
        self._pending: list[RowOutcome] = []
        self._input_sha256 = input_sha256
        self._resume = resume
        import os
        import socket

        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"

    async def open(self, batch_id: str) -> None:
        with _redis_errors("opening the journal"):
            self._prefix = f"wxpay:batch:{hash_tag(batch_id)}:"
            await self._redis.ping()
            meta = self._prefix + "meta"
            if self._resume and not await self._redis.exists(meta):
                raise JournalError(f"Redis holds no journal for batch {batch_id!r}; refusing to resume")
            if self._input_sha256 is not None:
                await self._redis.hsetnx(meta, "input_sha256", self._input_sha256)
                recorded = await self._redis.hget(meta, "input_sha256")
                recorded_text = recorded.decode() if isinstance(recorded, bytes) else str(recorded)
                if recorded_text != self._input_sha256:
                    raise JournalError(
                        f"the Redis journal of batch {batch_id!r} was made for another input file "
                        f"(SHA-256 {recorded_text[:12]}..., this input {self._input_sha256[:12]}...)"
                    )
            await self._redis.hsetnx(meta, "batch_id", batch_id)

    async def lookup(self, keys: Iterable[str]) -> dict[str, RowOutcome]:
        with _redis_errors("reading outcomes"):
            await self.flush()
            wanted = list(keys)
            if not wanted:
                return {}
            values = await self._redis.hmget(self._prefix + "rows", wanted)
            return {k: _decode(v) for k, v in zip(wanted, values, strict=True) if v is not None}

    async def first_index(self, key: str, index: int) -> int:
        with _redis_errors("recording a row key"):
            await self._redis.hsetnx(self._prefix + "keys", key, index)
            value = await self._redis.hget(self._prefix + "keys", key)
            return int(value)

    async def claim(self, key: str) -> bool:
        with _redis_errors("claiming a row"):
            ok = await self._redis.set(self._prefix + "claim:" + key, self.worker, nx=True, ex=self._claim_ttl)
            if ok:
                return True
            owner = await self._redis.get(self._prefix + "claim:" + key)
            return bool(owner is not None and owner.decode() == self.worker)

    async def record(self, outcome: RowOutcome) -> None:
        self._pending.append(outcome)
        if len(self._pending) >= self._commit_every:
            await self.flush()

    async def flush(self) -> None:
        with _redis_errors("writing outcomes"):
            if not self._pending:
                return
            pending, self._pending = self._pending, []
            pipe = self._redis.pipeline(transaction=False)
            pipe.hset(self._prefix + "rows", mapping={o.key: _encode(o) for o in pending})
            pipe.zadd(self._prefix + "order", {o.key: o.index for o in pending})
            await pipe.execute()

    async def close(self) -> None:
        await self.flush()
        if self._owns_client:
            await self._redis.aclose()

    async def outcomes(self) -> AsyncIterator[RowOutcome]:
        await self.flush()
        start = 0
        while True:
            with _redis_errors("reading outcomes"):
                keys = await self._redis.zrange(self._prefix + "order", start, start + 999)
                values = await self._redis.hmget(self._prefix + "rows", keys) if keys else []
            if not keys:
                return
            for value in values:
                if value is not None:
                    yield _decode(value)
            start += len(keys)


def _encode(o: RowOutcome) -> str:
    return json.dumps(
        {
            "key": o.key,
            "index": o.index,
            "request_no": o.request_no,
            "state": o.state,
            "coupon_id": o.coupon_id,
            "code": o.code,
            "message": o.message,
            "retryable": o.retryable,
        },
        ensure_ascii=False,
    )


def _decode(raw: bytes | str) -> RowOutcome:
    data = json.loads(raw)
    return RowOutcome(**data)
