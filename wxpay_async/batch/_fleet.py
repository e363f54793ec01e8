"""Batch sends on a fleet: hosts share one batch through a Redis Streams consumer group.

The input is loaded once into a stream of chunks (``chunk_rows`` rows per entry); every host runs
the same command and reads chunks with ``XREADGROUP``. A host renews its hold on the chunks it
works (``XCLAIM ... JUSTID`` resets their idle time, every ``lease / 3`` seconds); a chunk idle
for ``lease`` seconds belongs to a dead host and the next host that looks takes it with
``XAUTOCLAIM``. Outcomes are written pipelined with the chunk's ``XACK`` (one round trip per
chunk), so Redis round trips per row stay far below one.

Exactly-once does not rest on any of this: every row's request number derives from (batch id,
row key), so a row sent twice (a host killed mid-chunk, a Redis restarted empty) is answered by
WeChat Pay with the original coupon. The coordination only decides who sends what, and when
the batch is finished: a host returns only when every row of the batch has an outcome.

Redis layout, every key under one hash tag (one Cluster slot) ``wxpay:batch:{<id>}:``:

``meta`` (hash: input fingerprint, epoch, total rows once loaded, stop reason, finish time),
``load`` (the loader's lock), ``stream`` (chunks; group ``senders``), ``rows`` (key → outcome JSON),
``order`` (key by input index, for the result file), ``keys`` (key → first index: duplicates),
``hosts`` (consumer → last heartbeat, Unix time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .._redis import hash_tag, mask_url, redis_client, refused_credentials
from ..errors import RedisConfigurationError, ValidationError
from ..errors import RedisUnavailable as RedisUnavailable  # its home is errors.py; importable here
from ._journal import JournalError, RowOutcome
from ._redis_journal import _decode, _encode
from ._redis_ratelimit import RedisRateLimiter
from ._rows import BatchRow, InvalidRow, read_rows
from ._sender import BatchSender, BatchSummary

if TYPE_CHECKING:
    from .._client import Client

logger = logging.getLogger("wxpay_async.batch")
_T = TypeVar("_T")

GROUP = "senders"
#: Exit status of ``send-batch`` when Redis stayed unreachable past ``--redis-wait`` (EX_TEMPFAIL).
EXIT_REDIS_UNAVAILABLE = 75
DEFAULT_EXPIRE = 7 * 86400.0

# Mark the batch finished (once) and give every key of it that has no expiry one (KEYS[1]: meta).
_EXPIRE_ONCE = """
redis.call('HSETNX', KEYS[1], 'finished', ARGV[2])
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) == -1 then
    redis.call('PEXPIRE', key, ARGV[1])
  end
end
return 1
"""

# Renew this consumer's hold on the chunks it still works: XCLAIM (idle reset to 0) only the
# entries the group still lists under this consumer; answer the ones another host took over.
# Also the heartbeat (hosts zset) and what a host must know: epoch, stop reason, live hosts.
_HEARTBEAT = """
local me = ARGV[1]
local now = tonumber(ARGV[2])
local live_after = tonumber(ARGV[3])
local group = ARGV[4]
local lost = {}
for i = 5, #ARGV do
  local p = redis.pcall('XPENDING', KEYS[1], group, ARGV[i], ARGV[i], 1)
  if type(p) == 'table' and not p.err and p[1] and p[1][2] == me then
    redis.call('XCLAIM', KEYS[1], group, me, 0, ARGV[i], 'JUSTID')
  else
    table.insert(lost, ARGV[i])
  end
end
redis.call('ZADD', KEYS[3], now, me)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 86400)
local live = redis.call('ZCOUNT', KEYS[3], live_after, '+inf')
local m = redis.call('HMGET', KEYS[2], 'epoch', 'stopped', 'loaded', 'rows')
return {lost, m[1] or false, m[2] or false, m[3] or false, m[4] or false, live, redis.call('HLEN', KEYS[4])}
"""


@attrs.define(kw_only=True)
class FleetSummary(BatchSummary):
    """:class:`BatchSummary` for one host of a fleet, plus what the whole batch looks like."""

    batch_rows: int = 0  # rows in the input (0 until loaded)
    batch_done: int = 0  # rows of the batch with an outcome, sent by any host
    live_hosts: int = 0
    loaded_here: bool = False
    chunks: int = 0  # chunks this host worked
    taken_over: int = 0  # chunks this host took over from a silent host
    redis_outages: int = 0
    redis_waited: float = 0.0
    reloaded: int = 0  # times the batch was loaded again after Redis lost it
    batch_failed: int = 0  # failed rows of the whole batch (known once the result file is written)

    def describe(self) -> str:
        text = super().describe()
        lines = [
            f"  batch rows done:  {self.batch_done}/{self.batch_rows} (all hosts; {self.live_hosts} live)",
            f"  chunks worked:    {self.chunks} ({self.taken_over} taken over from silent hosts)",
        ]
        if self.redis_outages:
            lines.append(f"  redis outages:    {self.redis_outages} waited out ({self.redis_waited:.1f}s)")
        if self.reloaded:
            lines.append(
                f"  redis lost state: {self.reloaded}x; reloaded the input, rows sent before were sent again with "
                "their same request numbers (answered with the original coupons)"
            )
        return text + "\n" + "\n".join(lines)


def batch_prefix(batch_id: str) -> str:
    return f"wxpay:batch:{hash_tag(batch_id)}:"


class Fleet:
    """The Redis side of one batch for one host: keys, outage-tolerant calls, status."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        batch_id: str,
        consumer: str | None = None,
        lease: float = 10.0,
        outage_limit: float = 60.0,
        expire: float = DEFAULT_EXPIRE,
    ) -> None:
        if url is None and client is None:
            raise ValidationError("url", "a Redis URL or client is required")
        self.url_shown = mask_url(url) if url else repr(client)
        self.redis, self._owns = redis_client(url or "", client)
        self.batch_id = batch_id
        self.prefix = batch_prefix(batch_id)
        self.meta = self.prefix + "meta"
        self.stream = self.prefix + "stream"
        self.rows = self.prefix + "rows"
        self.order = self.prefix + "order"
        self.keys = self.prefix + "keys"
        self.hosts = self.prefix + "hosts"
        self.load_lock = self.prefix + "load"
        self.consumer = consumer or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease = lease
        self.outage_limit = outage_limit
        self.expire = expire
        self._outage_since: float | None = None
        self.outages = 0
        self.waited = 0.0
        self.after_outage = False

    def all_keys(self) -> list[str]:
        return [self.meta, self.stream, self.rows, self.order, self.keys, self.hosts, self.load_lock]

    async def call(self, what: str, make: Callable[[], Awaitable[_T]]) -> _T:
        """``make()`` with Redis outages waited out (bounded backoff) up to ``outage_limit``."""
        from redis.exceptions import BusyLoadingError, ConnectionError, ReadOnlyError, TimeoutError

        transient: tuple[type[BaseException], ...] = (
            ConnectionError,
            TimeoutError,
            BusyLoadingError,
            ReadOnlyError,
            OSError,
        )
        with contextlib.suppress(ImportError):
            from redis.exceptions import ClusterDownError, TryAgainError

            transient = (*transient, ClusterDownError, TryAgainError)
        delay = 0.1
        while True:
            try:
                result = await make()
            except refused_credentials() as exc:
                # Not an outage: waiting cannot fix a wrong password or a user without rights.
                raise RedisConfigurationError(
                    f"Redis {self.url_shown} refused this client ({type(exc).__name__} during {what}): check the "
                    "password (and user) in the Redis URL; nothing was sent"
                ) from None
            except transient as exc:
                now = time.monotonic()
                if self._outage_since is None:
                    self._outage_since = now
                    self.outages += 1
                    logger.warning(
                        "Redis %s unreachable (%s during %s); waiting up to %.0fs for it",
                        self.url_shown,
                        type(exc).__name__,
                        what,
                        self.outage_limit,
                    )
                if now - self._outage_since > self.outage_limit:
                    raise RedisUnavailable(
                        f"Redis {self.url_shown} unreachable for more than {self.outage_limit:.0f}s "
                        f"({type(exc).__name__} during {what}); stopped. Nothing was sent twice; rows without an "
                        "outcome are sent by the next run, with the same request numbers"
                    ) from None
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
                continue
            if self._outage_since is not None:
                waited = time.monotonic() - self._outage_since
                self.waited += waited
                self._outage_since = None
                self.after_outage = True
                logger.warning("Redis %s answers again after %.1fs; resuming", self.url_shown, waited)
            return result

    async def status(self) -> dict[str, Any]:
        """Progress of the batch: rows, rows with an outcome, live hosts (from the heartbeats)."""
        now = time.time()

        async def read() -> list[Any]:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hgetall(self.meta)
            pipe.hlen(self.rows)
            pipe.zrangebyscore(self.hosts, now - self.lease, "+inf")
            pipe.exists(self.stream)
            result: list[Any] = await pipe.execute()
            return result

        meta_raw, done, hosts, has_stream = await self.call("status", read)
        meta = {_text(k): _text(v) for k, v in meta_raw.items()}
        pending = 0
        holders: dict[str, int] = {}
        if has_stream:
            from redis.exceptions import ResponseError

            with contextlib.suppress(ResponseError):  # NOGROUP: nothing handed out yet
                info = await self.call("status", lambda: self.redis.xpending(self.stream, GROUP))
                pending = int(info.get("pending", 0))
                for entry in info.get("consumers") or []:
                    holders[_text(entry["name"])] = int(entry["pending"])
        return {
            "batch_id": self.batch_id,
            "exists": bool(meta),
            "loaded": meta.get("loaded") == "1",
            "rows": int(meta.get("rows") or 0),
            "done": int(done),
            "stopped": meta.get("stopped") or None,
            "finished": meta.get("finished") or None,
            "live_hosts": sorted(_text(h) for h in hosts),
            "chunks_held": pending,
            "held_by": holders,
            "input_sha256": meta.get("input_sha256"),
        }

    async def outcomes(self) -> AsyncIterator[RowOutcome]:
        start = 0
        while True:
            keys = await self.call("results", partial(self.redis.zrange, self.order, start, start + 999))
            if not keys:
                return
            values = await self.call("results", partial(self.redis.hmget, self.rows, keys))
            for value in values:
                if value is not None:
                    yield _decode(value)
            start += len(keys)

    async def outcome_counts(self) -> dict[str, int]:
        """Rows by outcome (``sent``, ``failed``, ``duplicate``, and ``failed:<code>``), one HSCAN pass."""
        counts: dict[str, int] = {}
        cursor: Any = 0
        while True:
            cursor, found = await self.call("status", partial(self.redis.hscan, self.rows, cursor, count=5000))
            for raw in found.values():
                o = _decode(raw)
                counts[o.state] = counts.get(o.state, 0) + 1
                if o.state == "failed":
                    name = f"failed:{o.code}" + (" (retryable)" if o.retryable else "")
                    counts[name] = counts.get(name, 0) + 1
            if int(cursor) == 0:
                return counts

    async def expire_all(self) -> None:
        """Finished: every key of the batch expires ``expire`` seconds after the batch finished.

        A key that already expires keeps its moment (a late host on a finished batch does not
        push the expiry back); a key without one (recreated by a late host) gets it. One script:
        ``PEXPIRE ... NX`` would need Redis 7.
        """
        ms = max(1, int(self.expire * 1000))
        keys = self.all_keys()
        await self.call("expire", lambda: self.redis.eval(_EXPIRE_ONCE, len(keys), *keys, ms, repr(time.time())))

    async def cleanup(self) -> int:
        """Delete every key of the batch; the number of keys deleted."""

        async def delete() -> int:
            pipe = self.redis.pipeline(transaction=False)
            for key in self.all_keys():
                pipe.delete(key)
            return sum(int(n) for n in await pipe.execute())

        return await self.call("cleanup", delete)

    async def aclose(self) -> None:
        if self._owns:
            await self.redis.aclose()


class FleetJournal:
    """The :class:`~wxpay_async.batch.Journal` a :class:`FleetSender` records into.

    Outcomes are buffered and written in one pipeline with the ``XACK`` of every chunk whose rows
    all have an outcome now (outcomes first: an acknowledged chunk never lacks one).
    """

    def __init__(self, fleet: Fleet, *, commit_every: int = 200, commit_interval: float = 0.25) -> None:
        self.fleet = fleet
        self._commit_every = commit_every
        self._commit_interval = commit_interval
        self._pending: list[RowOutcome] = []
        self._acks: list[str] = []
        self.held: dict[str, set[str]] = {}  # chunk entry id -> keys without an outcome yet
        self._chunk_of: dict[str, list[str]] = {}  # a key can be in two chunks (re-queued on --resume)
        self._lock = asyncio.Lock()
        self._last = time.monotonic()
        self.round_trips = 0
        self.wake = asyncio.Event()

    def hold(self, entry_id: str, keys: Iterable[str]) -> None:
        wanted = set(keys)
        self.held[entry_id] = wanted
        for key in wanted:
            entries = self._chunk_of.setdefault(key, [])
            if entry_id not in entries:
                entries.append(entry_id)
        if not wanted:
            del self.held[entry_id]
            self._acks.append(entry_id)

    def forget(self) -> None:
        """Redis lost the batch: the chunks held belong to a stream that no longer exists."""
        self.held.clear()
        self._chunk_of.clear()
        self._acks.clear()

    async def open(self, batch_id: str) -> None:
        return None

    async def lookup(self, keys: Iterable[str]) -> dict[str, RowOutcome]:
        wanted = list(keys)
        if not wanted:
            return {}
        values = await self.fleet.call("lookup", lambda: self.fleet.redis.hmget(self.fleet.rows, wanted))
        self.round_trips += 1
        return {k: _decode(v) for k, v in zip(wanted, values, strict=True) if v is not None}

    async def first_index(self, key: str, index: int) -> int:
        return index  # the loader found the duplicates

    async def claim(self, key: str) -> bool:
        return True  # the consumer group hands each chunk to one host

    async def record(self, outcome: RowOutcome) -> None:
        self._pending.append(outcome)
        for entry in self._chunk_of.pop(outcome.key, ()):
            keys = self.held.get(entry)
            if keys is None:
                continue
            keys.discard(outcome.key)
            if not keys:
                del self.held[entry]
                self._acks.append(entry)
        if len(self._pending) >= self._commit_every or self._acks:
            self.wake.set()  # the flusher writes them (sending goes on while Redis is away)

    async def flusher(self) -> None:
        """Write outcomes and acknowledgements in the background, at most ``commit_interval`` apart."""
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
            # arrives as the wake-up completes (python/cpython#86296), and run() then waited for
            # this task forever (seen with redis-py 8's timing: tests/test_fleet.py, exhausted stock).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._commit_interval):
                    await self.wake.wait()
            self.wake.clear()
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending and not self._acks:
                self._last = time.monotonic()
                return
            pending, self._pending = self._pending, []
            acks, self._acks = self._acks, []
            f = self.fleet

            async def write() -> None:
                pipe = f.redis.pipeline(transaction=False)
                if pending:
                    pipe.hset(f.rows, mapping={o.key: _encode(o) for o in pending})
                    pipe.zadd(f.order, {o.key: o.index for o in pending})
                if acks:
                    pipe.xack(f.stream, GROUP, *acks)
                await pipe.execute()

            try:
                await f.call("writing outcomes", write)
            except BaseException:
                self._pending[:0] = pending  # kept for the next try (writes are idempotent)
                self._acks[:0] = acks
                raise
            self.round_trips += 1
            self._last = time.monotonic()

    async def close(self) -> None:
        await self.flush()

    def outcomes(self) -> AsyncIterator[RowOutcome]:
        return self.fleet.outcomes()


class FleetSender(BatchSender):
    """A :class:`BatchSender` that shares its batch with every host running the same batch id.

    ``source`` must be re-readable (a CSV path or a list): it is loaded into Redis once (by the
    first host to start, under a lock; a loader that dies is succeeded by the next host), and again
    should Redis lose the batch. ``resume=True`` also sends again the rows whose failure was
    retryable and lifts a fleet-wide early stop (a stock that ran out and was refilled).
    """

    summary: FleetSummary

    def __init__(
        self,
        client: Client,
        *,
        batch_id: str,
        redis_url: str | None = None,
        redis: Any = None,
        input_sha256: str | None = None,
        chunk_rows: int = 500,
        lease: float = 10.0,
        outage_limit: float = 60.0,
        expire: float = DEFAULT_EXPIRE,
        shared_rate: bool = True,
        resume: bool = False,
        wait_interval: float = 0.25,
        **options: Any,
    ) -> None:
        self.fleet = Fleet(
            redis_url, client=redis, batch_id=batch_id, lease=lease, outage_limit=outage_limit, expire=expire
        )
        self.fleet_journal = FleetJournal(self.fleet)
        limiter = options.pop("limiter", None)
        if limiter is None and shared_rate:
            limiter = RedisRateLimiter(
                client=self.fleet.redis, mchid=client.identity_key, rate=float(options.get("qps", 500.0))
            )
        options.pop("shared_rate_redis", None)
        super().__init__(client, batch_id=batch_id, journal=self.fleet_journal, limiter=limiter, **options)
        self.summary = FleetSummary(batch_id=batch_id)
        self.input_sha256 = input_sha256
        self.chunk_rows = max(1, chunk_rows)
        self.resume = resume
        self.wait_interval = wait_interval
        self._epoch: str | None = None
        self._lost = False
        self._last_autoclaim = 0.0
        self._last_wait_note = 0.0
        self._flush_error: BaseException | None = None
        self._done_at_join = 0
        self._source: Iterable[Mapping[str, Any]] | Path = []

    # -- the run -------------------------------------------------------------------------------
    async def run(self, source: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]] | Path) -> FleetSummary:
        if not isinstance(source, Path | list | tuple):
            raise ValueError("a fleet batch needs a re-readable source: a CSV path or a list of rows")
        started = time.monotonic()
        queue: asyncio.Queue[BatchRow | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        restore = self._install_signal_handlers()
        progress_task = asyncio.create_task(self._report_progress(started)) if self._progress else None
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        flusher = asyncio.create_task(self.fleet_journal.flusher())
        flusher.add_done_callback(self._flusher_done)
        self._source = source
        try:
            await self._join(source)
            await self._with_workers(queue, self._feed(source, queue))
        finally:
            restore()
            for task in (progress_task, heartbeat, flusher):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            self.summary.elapsed = time.monotonic() - started
            self.summary.already_done = max(self.summary.already_done, self._done_at_join)
            self.summary.limiter_wait = self.limiter.waited
            self.summary.rate_decreases = self.limiter.decreases
            try:
                await self.fleet_journal.flush()
                await self._leave()
            finally:
                s = self.summary
                s.redis_outages, s.redis_waited = self.fleet.outages, self.fleet.waited
                if self._progress:
                    self._print_progress(started, final=True)
        if self._flush_error is not None:
            raise self._flush_error
        return self.summary

    def _flusher_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._flush_error = task.exception()
            self._stop.set()

    async def _join(self, source: Iterable[Mapping[str, Any]] | Path) -> None:
        f = self.fleet
        await f.call("creating the consumer group", self._create_group)
        meta = {_text(k): _text(v) for k, v in (await f.call("joining", lambda: f.redis.hgetall(f.meta))).items()}
        recorded = meta.get("input_sha256")
        if self.input_sha256 and recorded and recorded != self.input_sha256:
            raise JournalError(
                f"batch {self.batch_id!r} in Redis was loaded from another input (SHA-256 {recorded[:12]}..., "
                f"this input {self.input_sha256[:12]}...); refusing to join it"
            )
        if self.resume and meta.get("stopped"):
            logger.warning("batch %s was stopped (%s); --resume lifts the stop", self.batch_id, meta["stopped"])
            await f.call("resuming", lambda: f.redis.hdel(f.meta, "stopped", "finished"))
        elif meta.get("stopped"):
            self.stop(f"the batch was stopped: {meta['stopped']} (run with --resume once fixed)")
            return
        done_before = int(await f.call("joining", lambda: f.redis.hlen(f.rows)))
        if meta.get("loaded") != "1":
            await self._load_once(source)
        else:
            self._epoch = meta.get("epoch")
            self.summary.batch_rows = int(meta.get("rows") or 0)
            self._total = self.summary.batch_rows
        if self.resume:
            await self._requeue_retryable()
        self._done_at_join = done_before

    async def _create_group(self) -> None:
        from redis.exceptions import ResponseError

        try:
            await self.fleet.redis.xgroup_create(self.fleet.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _locked(self, body: Callable[[], Awaitable[None]], what: str) -> None:
        """Run ``body`` holding the batch's load lock (waiting for another holder; it expires if it dies)."""
        f = self.fleet
        token = f"{f.consumer}:{secrets.token_hex(4)}"
        ttl_ms = int(max(3.0, f.lease) * 1000)
        noted = False
        while True:
            if await f.call(what, lambda: f.redis.set(f.load_lock, token, nx=True, px=ttl_ms)):
                break
            loaded = await f.call(what, lambda: f.redis.hget(f.meta, "loaded"))
            if _text(loaded) == "1" and what == "loading the input":
                return
            if not noted:
                holder = _text(await f.call(what, lambda: f.redis.get(f.load_lock)) or b"")
                self._note(f"waiting: host {holder.rsplit(':', 1)[0]} is {what}")
                noted = True
            await asyncio.sleep(0.2)
        renew = asyncio.create_task(self._renew_lock(token, ttl_ms))
        try:
            await body()
        finally:
            renew.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renew
            with contextlib.suppress(Exception):
                await f.redis.eval(_RELEASE, 1, f.load_lock, token)

    async def _renew_lock(self, token: str, ttl_ms: int) -> None:
        from redis.exceptions import RedisError

        while True:
            await asyncio.sleep(ttl_ms / 3000)
            with contextlib.suppress(RedisError, OSError):
                await self.fleet.redis.eval(_RENEW, 1, self.fleet.load_lock, token, ttl_ms)

    async def _load_once(self, source: Iterable[Mapping[str, Any]] | Path) -> None:
        async def body() -> None:
            await self._load(source)

        await self._locked(body, "loading the input")
        meta = await self.fleet.call("joining", lambda: self.fleet.redis.hmget(self.fleet.meta, "epoch", "rows"))
        self._epoch = _text(meta[0]) if meta[0] is not None else None
        self.summary.batch_rows = int(_text(meta[1]) or 0) if meta[1] is not None else 0
        self._total = self.summary.batch_rows

    async def _load(self, source: Iterable[Mapping[str, Any]] | Path) -> None:
        """Add the input to the stream, chunk by chunk; idempotent (entry ids are chunk numbers)."""
        from redis.exceptions import ResponseError

        f = self.fleet
        r = f.redis
        if _text(await f.call("loading", lambda: r.hget(f.meta, "loaded"))) == "1":
            return
        await f.call("creating the consumer group", self._create_group)

        async def init() -> Any:
            pipe = r.pipeline(transaction=False)
            pipe.hsetnx(f.meta, "batch_id", self.batch_id)
            pipe.hsetnx(f.meta, "epoch", secrets.token_hex(8))
            pipe.hsetnx(f.meta, "created", repr(time.time()))
            if self.input_sha256:
                pipe.hsetnx(f.meta, "input_sha256", self.input_sha256)
            pipe.xrevrange(f.stream, "+", "-", count=1)
            return (await pipe.execute())[-1]

        last = await f.call("loading", init)
        done_chunks = int(_text(last[0][0]).split("-")[0]) if last else 0
        if done_chunks:
            logger.warning("batch %s: a loader stopped after chunk %d; going on from there", self.batch_id, done_chunks)
        self.summary.loaded_here = True
        chunk: list[BatchRow] = []
        number = 0
        total = 0

        async def add(rows: list[BatchRow], number: int) -> None:
            if number <= done_chunks:
                return
            keys = [row.key for row in rows]

            async def register() -> list[Any]:
                # First index per key: earlier chunks' keys are in Redis; this chunk's are checked
                # here, in input order, and the new ones written in one HSET (2 commands a chunk).
                # Any loader computes the same answer (indices are input positions), so a loader
                # that succeeds a dead one, or races it, writes the same values.
                known: list[Any] = await r.hmget(f.keys, keys)
                firsts: list[int] = []
                new: dict[str, int] = {}
                for row, value in zip(rows, known, strict=True):
                    first = int(_text(value)) if value is not None else new.setdefault(row.key, row.index)
                    firsts.append(first)
                if new:
                    await r.hset(f.keys, mapping=new)
                return firsts

            firsts = await f.call("loading", register)
            fresh: list[BatchRow] = []
            dups: list[RowOutcome] = []
            for row, first_index in zip(rows, firsts, strict=True):
                if first_index == row.index:
                    fresh.append(row)
                else:
                    dups.append(RowOutcome.duplicate(row.key, row.index, first_index))
            payload = json.dumps([[x.index, x.openid, x.stock_id, x.key, dict(x.fields)] for x in fresh])

            async def append() -> None:
                pipe = r.pipeline(transaction=False)
                if dups:
                    pipe.hset(f.rows, mapping={o.key: _encode(o) for o in dups})
                    pipe.zadd(f.order, {o.key: o.index for o in dups})
                pipe.xadd(f.stream, {"rows": payload}, id=f"{number}-1")
                try:
                    await pipe.execute()
                except ResponseError as exc:  # another loader added this chunk first
                    if "equal or smaller" not in str(exc):
                        raise

            await f.call("loading", append)
            self.summary.duplicates += len(dups)

        invalid: list[RowOutcome] = []

        async def add_invalid() -> None:
            # A row that cannot be sent (no openid...) fails alone, as on one host: its outcome is
            # written now, so the batch can finish (every row has an outcome) and its exit status is 1.
            outcomes = {o.key: _encode(o) for o in invalid}
            order = {o.key: o.index for o in invalid}

            async def write() -> None:
                pipe = r.pipeline(transaction=False)
                pipe.hset(f.rows, mapping=outcomes)
                pipe.zadd(f.order, order)
                await pipe.execute()

            await f.call("loading", write)
            self.summary.failed += len(invalid)
            self.summary.failures_by_code["VALIDATION"] = self.summary.failures_by_code.get("VALIDATION", 0) + len(
                invalid
            )
            invalid.clear()

        async for item in read_rows(source, self.defaults):
            total += 1
            if isinstance(item, InvalidRow):
                invalid.append(RowOutcome.invalid(item.index, item.error))
                if len(invalid) >= self.chunk_rows:
                    await add_invalid()
                continue
            row = item
            chunk.append(row)
            if len(chunk) >= self.chunk_rows:
                number += 1
                await add(chunk, number)
                chunk = []
        if chunk:
            number += 1
            await add(chunk, number)
        if invalid:
            await add_invalid()

        async def finish() -> None:
            await r.hset(f.meta, mapping={"rows": total, "chunks": number, "chunk_rows": self.chunk_rows, "loaded": 1})

        await f.call("loading", finish)

    async def _requeue_retryable(self) -> None:
        """``--resume``: rows whose failure was retryable go back into the stream as new chunks."""
        f = self.fleet
        r = f.redis

        async def body() -> None:
            again: list[RowOutcome] = []
            cursor: Any = 0
            while True:
                cursor, found = await f.call("resuming", partial(r.hscan, f.rows, cursor, count=1000))
                again += [o for o in map(_decode, found.values()) if o.state == "failed" and o.retryable]
                if int(cursor) == 0:
                    break
            if not again:
                return
            last = await f.call("resuming", lambda: r.xrevrange(f.stream, "+", "-", count=1))
            number = int(_text(last[0][0]).split("-")[0]) if last else 0
            wanted = {o.key: o.index for o in again}
            chosen = [
                row
                async for row in read_rows(self._source, self.defaults)
                if isinstance(row, BatchRow) and wanted.get(row.key) == row.index  # an invalid row is final
            ]
            for start in range(0, len(chosen), self.chunk_rows):
                part = chosen[start : start + self.chunk_rows]
                number += 1
                payload = json.dumps([[x.index, x.openid, x.stock_id, x.key, dict(x.fields)] for x in part])

                async def requeue(part: list[BatchRow] = part, payload: str = payload, number: int = number) -> None:
                    pipe = r.pipeline(transaction=False)
                    pipe.hdel(f.rows, *[x.key for x in part])
                    pipe.xadd(f.stream, {"rows": payload}, id=f"{number}-1")
                    await pipe.execute()

                await f.call("resuming", requeue)
            logger.warning("batch %s: %d rows with a retryable failure are sent again", self.batch_id, len(chosen))

        await self._locked(body, "re-queueing retryable rows")

    async def _feed(self, source: Iterable[Mapping[str, Any]] | Path, queue: asyncio.Queue[BatchRow | None]) -> None:
        while not self._stop.is_set():
            if self._lost:
                await self._reload(source)
                continue
            entry = await self._next_chunk()
            if entry is None:
                if self.fleet_journal.held or not queue.empty():
                    await asyncio.sleep(0.05)  # rows of ours still in flight
                    continue
                if await self._finished():
                    return
                await asyncio.sleep(self.wait_interval)
                continue
            entry_id, rows = entry
            await self._take(entry_id, rows, queue)

    async def _next_chunk(self) -> tuple[str, list[BatchRow]] | None:
        from redis.exceptions import ResponseError

        f = self.fleet
        r = f.redis
        now = time.monotonic()
        try:
            if now - self._last_autoclaim >= min(1.0, f.lease / 4):
                self._last_autoclaim = now
                answer = await f.call(
                    "taking over a silent host's chunk",
                    lambda: r.xautoclaim(f.stream, GROUP, f.consumer, int(f.lease * 1000), "0-0", count=1),
                )
                claimed = [e for e in answer[1] if e and e[1]]
                if claimed:
                    self.summary.taken_over += 1
                    logger.info("batch %s: took over chunk %s from a silent host", self.batch_id, _text(claimed[0][0]))
                    return _chunk(claimed[0])
            answer = await f.call("reading a chunk", lambda: r.xreadgroup(GROUP, f.consumer, {f.stream: ">"}, count=1))
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                self._lost = True
                return None
            raise
        if not answer:
            return None
        entries = answer[0][1] if isinstance(answer, list) else next(iter(answer.values()))[0]
        return _chunk(entries[0]) if entries else None

    async def _take(self, entry_id: str, rows: list[BatchRow], queue: asyncio.Queue[BatchRow | None]) -> None:
        self.summary.chunks += 1
        self.summary.rows_read += len(rows)
        known = await self.fleet_journal.lookup(row.key for row in rows)
        todo: list[BatchRow] = []
        for row in rows:
            done = known.get(row.key)
            if done is not None and (done.state == "sent" or (done.state == "failed" and not done.retryable)):
                self.summary.already_done += 1
            else:
                todo.append(row)
        self.fleet_journal.hold(entry_id, (row.key for row in todo))
        if not todo:
            await self.fleet_journal.flush()
        for row in todo:
            await queue.put(row)

    async def _finished(self) -> bool:
        """True when every row of the batch has an outcome; otherwise say who still holds rows."""
        st = await self.fleet.status()
        if not st["exists"]:
            self._lost = True
            return False
        s = self.summary
        s.batch_rows, s.batch_done, s.live_hosts = st["rows"], st["done"], len(st["live_hosts"])
        if st["stopped"] and not self._stop.is_set():
            self.stop(st["stopped"])
            return False
        if st["loaded"] and st["done"] >= st["rows"]:
            await self.fleet.expire_all()
            return True
        others = {k: v for k, v in st["held_by"].items() if k != self.fleet.consumer and v}
        if time.monotonic() - self._last_wait_note > 5:
            self._last_wait_note = time.monotonic()
            left = st["rows"] - st["done"]
            if not st["loaded"]:
                self._note(f"waiting: the input of batch {self.batch_id} is still being loaded")
            elif others:
                who = ", ".join(f"{h.rsplit(':', 1)[0]} ({n} chunk{'s' if n > 1 else ''})" for h, n in others.items())
                self._note(
                    f"waiting: {left} rows without an outcome are held by {who}; a silent host's chunks are "
                    f"taken over after {self.fleet.lease:.0f}s"
                )
            else:
                self._note(f"waiting: {left} rows without an outcome")
        return False

    async def _reload(self, source: Iterable[Mapping[str, Any]] | Path) -> None:
        self._lost = False
        self.summary.reloaded += 1
        logger.warning(
            "Redis lost the state of batch %s (restarted empty?): loading the input again; rows sent before are "
            "sent again with their same request numbers and WeChat Pay answers them with the original coupons",
            self.batch_id,
        )
        self.fleet_journal.forget()
        await self.fleet.call("creating the consumer group", self._create_group)
        await self._load_once(source)

    async def _heartbeat_loop(self) -> None:
        from redis.exceptions import RedisError

        f = self.fleet
        while True:
            try:
                await self._heartbeat()
            except (RedisError, OSError) as exc:
                logger.debug("heartbeat failed: %s", type(exc).__name__)
            await asyncio.sleep(f.lease / 3)

    async def _heartbeat(self) -> None:
        f = self.fleet
        now = time.time()
        held = list(self.fleet_journal.held)
        answer = await f.redis.eval(
            _HEARTBEAT, 4, f.stream, f.meta, f.hosts, f.rows, f.consumer, now, now - f.lease, GROUP, *held
        )
        lost, epoch, stopped, loaded, rows, live, done = answer
        if lost:
            logger.info("batch %s: %d chunk(s) were taken over by another host", self.batch_id, len(lost))
        epoch_text = _text(epoch) if epoch else None
        if self._epoch is not None and epoch_text != self._epoch and not self._lost:
            self._lost = True
        if stopped and not self._stop.is_set():
            self.stop(_text(stopped))
        s = self.summary
        s.live_hosts = int(live)
        s.batch_done = int(done)
        if loaded and _text(loaded) == "1":
            s.batch_rows = int(_text(rows) or 0)
            self._total = s.batch_rows
        if isinstance(self.limiter, RedisRateLimiter):
            self.limiter.fallback_share = max(1, int(live))

    def stop(self, reason: str | None = None) -> None:
        first = not self._stop.is_set()
        super().stop(reason)
        if reason and first and not self.summary.interrupted and not reason.startswith("the batch was stopped"):
            task = asyncio.get_running_loop().create_task(self._share_stop(reason))
            self._background = task

    async def _share_stop(self, reason: str) -> None:
        from redis.exceptions import RedisError

        with contextlib.suppress(RedisError, OSError):
            await self.fleet.redis.hsetnx(self.fleet.meta, "stopped", reason)

    async def _leave(self) -> None:
        """Give back the chunks still held (idle set high: the next host takes them at once)."""
        from redis.exceptions import RedisError

        f = self.fleet
        held = list(self.fleet_journal.held)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            pipe = f.redis.pipeline(transaction=False)
            if held:
                pipe.xclaim(f.stream, GROUP, f.consumer, 0, held, idle=10**9, justid=True)
            pipe.zrem(f.hosts, f.consumer)
            async with asyncio.timeout(5):  # not wait_for: see FleetJournal.flusher
                await pipe.execute()

    def _note(self, text: str) -> None:
        """A line the operator must see even with ``-q`` (waiting for other hosts, for the loader)."""
        logger.info("%s", text)
        out = self._progress or sys.stderr
        out.write(("\r" if self._progress else "") + text + "\n")
        out.flush()

    def _print_progress(self, started: float, *, final: bool = False) -> None:
        out = self._progress or sys.stderr
        s = self.summary
        elapsed = max(1e-9, time.monotonic() - started)
        out.write(
            f"\rbatch {s.batch_done}/{s.batch_rows or '?'} done ({s.live_hosts} hosts); this host sent {s.sent} "
            f"failed {s.failed} {s.sent / elapsed:,.0f}/s   " + ("\n" if final else "")
        )
        out.flush()

    async def write_results(self, path: Path) -> int:
        from ._results import write_result_csv  # spreadsheet-safe cells (CSV injection)

        count, failed = await write_result_csv(path, self.fleet.outcomes())
        if isinstance(self.summary, FleetSummary):
            self.summary.batch_failed = failed
        return count

    async def aclose(self) -> None:
        await self.fleet.aclose()


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def _chunk(entry: Any) -> tuple[str, list[BatchRow]]:
    entry_id, fields = entry
    raw = fields.get(b"rows", fields.get("rows"))
    rows = [
        BatchRow(index=int(i), openid=str(o), stock_id=str(s), key=str(k), fields=dict(extra))
        for i, o, s, k, extra in json.loads(raw)
    ]
    return _text(entry_id), rows
