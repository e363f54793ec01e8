"""The batch journal: every row's state, durable, so a restarted batch resumes where it stopped.

States: ``sent`` (coupon id known), ``failed`` (code and message; ``retryable`` failures are
tried again on resume), ``duplicate`` (an earlier row has the same key). A row with no
entry, or one that was in flight when the process died, is simply sent again: its request
number is deterministic, so WeChat Pay answers with the original coupon.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Literal, Protocol

import attrs

State = Literal["sent", "failed", "duplicate"]


@attrs.frozen(kw_only=True)
class RowOutcome:
    key: str
    index: int
    request_no: str
    state: State
    coupon_id: str | None = None
    code: str | None = None
    message: str | None = None
    retryable: bool = False


class Journal(Protocol):
    async def open(self, batch_id: str) -> None: ...

    async def lookup(self, keys: Iterable[str]) -> dict[str, RowOutcome]:
        """Known outcomes for these keys (missing keys: never finished)."""
        ...

    async def first_index(self, key: str, index: int) -> int:
        """Register ``key`` at ``index``; return the index that registered it first."""
        ...

    async def claim(self, key: str) -> bool:
        """True when this worker may send ``key`` now (another worker sharing the batch may not)."""
        ...

    async def record(self, outcome: RowOutcome) -> None: ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...

    def outcomes(self) -> AsyncIterator[RowOutcome]:
        """Every outcome, in input order (for the result CSV)."""
        ...


class SqliteJournal:
    """SQLite in WAL mode; writes are buffered and committed in batches (no per-row fsync)."""

    def __init__(self, path: Path | str, *, commit_every: int = 500, commit_interval: float = 0.5) -> None:
        self.path = Path(path)
        self._commit_every = commit_every
        self._commit_interval = commit_interval
        self._db: sqlite3.Connection | None = None
        self._batch_id = ""
        self._pending: list[RowOutcome] = []
        self._pending_keys: dict[str, int] = {}
        self._last_commit = time.monotonic()
        self._lock = asyncio.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("journal is not open")
        return self._db

    async def open(self, batch_id: str) -> None:
        self._batch_id = batch_id
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(
            """
            CREATE TABLE IF NOT EXISTS batch (batch_id TEXT PRIMARY KEY, created REAL);
            CREATE TABLE IF NOT EXISTS rows (
                batch_id TEXT, key TEXT, idx INTEGER, request_no TEXT, state TEXT,
                coupon_id TEXT, code TEXT, message TEXT, retryable INTEGER, updated REAL,
                PRIMARY KEY (batch_id, key));
            CREATE TABLE IF NOT EXISTS keys (batch_id TEXT, key TEXT, idx INTEGER, PRIMARY KEY (batch_id, key));
            CREATE INDEX IF NOT EXISTS rows_by_idx ON rows (batch_id, idx);
            """
        )
        db.execute("INSERT OR IGNORE INTO batch VALUES (?, ?)", (batch_id, time.time()))
        self._db = db

    async def lookup(self, keys: Iterable[str]) -> dict[str, RowOutcome]:
        await self.flush()
        wanted = list(keys)
        found: dict[str, RowOutcome] = {}
        db = self._conn()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in db.execute(
                f"SELECT key, idx, request_no, state, coupon_id, code, message, retryable FROM rows "
                f"WHERE batch_id = ? AND key IN ({marks})",
                (self._batch_id, *chunk),
            ):
                found[row[0]] = _outcome(row)
        return found

    async def first_index(self, key: str, index: int) -> int:
        known = self._pending_keys.get(key)
        if known is not None:
            return known
        row = (
            self._conn()
            .execute("SELECT idx FROM keys WHERE batch_id = ? AND key = ?", (self._batch_id, key))
            .fetchone()
        )
        if row is not None:
            return int(row[0])
        self._pending_keys[key] = index
        if len(self._pending_keys) >= self._commit_every:
            await self.flush()
        return index

    async def claim(self, key: str) -> bool:
        return True  # one process owns a SQLite journal

    async def record(self, outcome: RowOutcome) -> None:
        self._pending.append(outcome)
        if len(self._pending) >= self._commit_every or time.monotonic() - self._last_commit > self._commit_interval:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending and not self._pending_keys:
                self._last_commit = time.monotonic()
                return
            pending, self._pending = self._pending, []
            keys, self._pending_keys = self._pending_keys, {}
            db = self._conn()
            now = time.time()
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR IGNORE INTO keys VALUES (?, ?, ?)", [(self._batch_id, k, i) for k, i in keys.items()]
            )
            db.executemany(
                "INSERT OR REPLACE INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        self._batch_id,
                        o.key,
                        o.index,
                        o.request_no,
                        o.state,
                        o.coupon_id,
                        o.code,
                        o.message,
                        int(o.retryable),
                        now,
                    )
                    for o in pending
                ],
            )
            db.execute("COMMIT")
            self._last_commit = time.monotonic()

    async def close(self) -> None:
        if self._db is not None:
            await self.flush()
            self._db.close()
            self._db = None

    async def outcomes(self) -> AsyncIterator[RowOutcome]:
        await self.flush()
        cursor = self._conn().execute(
            "SELECT key, idx, request_no, state, coupon_id, code, message, retryable FROM rows "
            "WHERE batch_id = ? ORDER BY idx",
            (self._batch_id,),
        )
        while rows := cursor.fetchmany(1000):
            for row in rows:
                yield _outcome(row)


def _outcome(row: tuple[object, ...]) -> RowOutcome:
    key, idx, request_no, state, coupon_id, code, message, retryable = row
    return RowOutcome(
        key=str(key),
        index=int(idx),  # type: ignore[call-overload]
        request_no=str(request_no),
        state=state,  # type: ignore[arg-type]
        coupon_id=None if coupon_id is None else str(coupon_id),
        code=None if code is None else str(code),
        message=None if message is None else str(message),
        retryable=bool(retryable),
    )
