"""The batch journal: every row's state, durable, so a restarted batch resumes where it stopped.

States: ``sent`` (coupon id known), ``failed`` (code and message; ``retryable`` failures are
tried again on resume), ``duplicate`` (an earlier row has the same key). A row with no
entry, or one that was in flight when the process died, is simply sent again: its request
number is deterministic, so WeChat Pay answers with the original coupon.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import attrs

from ..errors import JournalError as JournalError  # JournalError: importable from here, as before

_T = TypeVar("_T")

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

    @classmethod
    def invalid(cls, index: int, error: BaseException) -> RowOutcome:
        """Row ``index`` cannot be sent (no openid, a bad amount...): failed for good, never sent."""
        return cls(
            key=f"#invalid-row-{index}",
            index=index,
            request_no="",
            state="failed",
            code="VALIDATION",
            message=str(error)[:500],
        )

    @classmethod
    def duplicate(cls, key: str, index: int, first_index: int) -> RowOutcome:
        """Row ``index`` repeats the key of row ``first_index``: recorded, never sent."""
        return cls(
            key=f"{key}#dup{index}",
            index=index,
            request_no="",
            state="duplicate",
            code="DUPLICATE_ROW",
            message=f"same key as row {first_index}; not sent",
        )


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


SQLITE_MAGIC = b"SQLite format 3\x00"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (batch_id TEXT PRIMARY KEY, created REAL);
CREATE TABLE IF NOT EXISTS batch_meta (batch_id TEXT PRIMARY KEY, input_sha256 TEXT, created REAL);
CREATE TABLE IF NOT EXISTS rows (
    batch_id TEXT, key TEXT, idx INTEGER, request_no TEXT, state TEXT,
    coupon_id TEXT, code TEXT, message TEXT, retryable INTEGER, updated REAL,
    PRIMARY KEY (batch_id, key));
CREATE TABLE IF NOT EXISTS keys (batch_id TEXT, key TEXT, idx INTEGER, PRIMARY KEY (batch_id, key));
CREATE INDEX IF NOT EXISTS rows_by_idx ON rows (batch_id, idx);
"""


def file_sha256(path: Path | str) -> str:
    """SHA-256 of a file (the input fingerprint a journal records)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class SqliteJournal:
    """SQLite in WAL mode; writes are buffered and committed in batches (no per-row fsync).

    Every SQLite call runs on one writer thread, off the event loop. The journal records its
    batch id and, when given, ``input_sha256`` (the input file's fingerprint); ``resume=True``
    refuses a journal that is empty, corrupted, or recorded for another batch id or input.
    A new journal is built under a temporary name and renamed into place, so a crash never
    leaves an empty or half-made journal at ``path``.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        commit_every: int = 500,
        commit_interval: float = 0.5,
        input_sha256: str | None = None,
        resume: bool | None = None,
    ) -> None:
        self.path = Path(path)
        self._commit_every = commit_every
        self._commit_interval = commit_interval
        self._input_sha256 = input_sha256
        self._resume = resume
        self._db: sqlite3.Connection | None = None
        self._batch_id = ""
        self._pending: list[RowOutcome] = []
        self._pending_keys: dict[str, int] = {}
        self._last_commit = time.monotonic()
        self._lock = asyncio.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise JournalError("journal is not open")
        return self._db

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wxpay-journal")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"journal {self.path} is unreadable or corrupted: {exc}") from None

    async def open(self, batch_id: str) -> None:
        self._batch_id = batch_id
        self._db = await self._run(self._open_sync, batch_id)

    def _open_sync(self, batch_id: str) -> sqlite3.Connection:
        where = f"journal {self.path}"
        if not self.path.exists():
            self._create_sync(batch_id)
        else:
            with open(self.path, "rb") as handle:
                header = handle.read(len(SQLITE_MAGIC))
            if not header:
                raise JournalError(f"{where} is empty (0 bytes): refusing to resume from it")
            if header != SQLITE_MAGIC:
                raise JournalError(f"{where} is not an SQLite journal (truncated or overwritten)")
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            check = db.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise JournalError(f"{where} is corrupted: {check[0] if check else 'no answer'}")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"batch", "rows", "keys"} <= tables:
                raise JournalError(f"{where} holds no batch journal")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._check_batch_sync(db, batch_id)
        except BaseException:
            db.close()
            raise
        return db

    def _create_sync(self, batch_id: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.executescript(_SCHEMA)
            now = time.time()
            db.execute("INSERT INTO batch VALUES (?, ?)", (batch_id, now))
            db.execute("INSERT INTO batch_meta VALUES (?, ?, ?)", (batch_id, self._input_sha256, now))
        finally:
            db.close()
        os.replace(tmp, self.path)

    def _check_batch_sync(self, db: sqlite3.Connection, batch_id: str) -> None:
        where = f"journal {self.path}"
        meta = db.execute("SELECT input_sha256 FROM batch_meta WHERE batch_id = ?", (batch_id,)).fetchone()
        if meta is None:
            recorded = [r[0] for r in db.execute("SELECT batch_id FROM batch_meta")]
            if self._resume:
                others = ", ".join(repr(b) for b in recorded[:3]) or "none"
                raise JournalError(f"{where} records no batch {batch_id!r} (it records: {others}); refusing to resume")
            now = time.time()
            db.execute("INSERT OR IGNORE INTO batch VALUES (?, ?)", (batch_id, now))
            db.execute("INSERT INTO batch_meta VALUES (?, ?, ?)", (batch_id, self._input_sha256, now))
            return
        recorded_sha = meta[0]
        if self._resume is False and not _fresh(db, batch_id):
            raise JournalError(
                f"{where} already records batch {batch_id!r}: pass resume=True (command line: --resume) "
                "to continue it, or choose another journal"
            )
        if self._input_sha256 is not None and recorded_sha is not None and recorded_sha != self._input_sha256:
            raise JournalError(
                f"{where} was made for another input file (SHA-256 {recorded_sha[:12]}..., this input "
                f"{self._input_sha256[:12]}...); refusing to resume"
            )
        if self._resume and self._input_sha256 is not None and recorded_sha is None:
            raise JournalError(f"{where} records no input fingerprint for batch {batch_id!r}; refusing to resume")

    async def lookup(self, keys: Iterable[str]) -> dict[str, RowOutcome]:
        await self.flush()
        return await self._run(self._lookup_sync, list(keys))

    def _lookup_sync(self, wanted: list[str]) -> dict[str, RowOutcome]:
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
        row = await self._run(self._first_index_sync, key)
        if row is not None:
            return int(row[0])
        known = self._pending_keys.get(key)  # another row registered it while we were off the loop
        if known is not None:
            return known
        self._pending_keys[key] = index
        if len(self._pending_keys) >= self._commit_every:
            await self.flush()
        return index

    def _first_index_sync(self, key: str) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = (
            self._conn()
            .execute("SELECT idx FROM keys WHERE batch_id = ? AND key = ?", (self._batch_id, key))
            .fetchone()
        )
        return row

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
            await self._run(self._write_sync, pending, keys)
            self._last_commit = time.monotonic()

    def _write_sync(self, pending: list[RowOutcome], keys: dict[str, int]) -> None:
        db = self._conn()
        now = time.time()
        db.execute("BEGIN")
        try:
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
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def close(self) -> None:
        try:
            if self._db is not None:
                await self.flush()
                db, self._db = self._db, None
                await self._run(db.close)
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    async def outcomes(self) -> AsyncIterator[RowOutcome]:
        await self.flush()
        cursor = await self._run(
            self._conn().execute,
            "SELECT key, idx, request_no, state, coupon_id, code, message, retryable FROM rows "
            "WHERE batch_id = ? ORDER BY idx",
            (self._batch_id,),
        )
        while rows := await self._run(cursor.fetchmany, 1000):
            for row in rows:
                yield _outcome(row)


def _fresh(db: sqlite3.Connection, batch_id: str) -> bool:
    """True when the journal records nothing for ``batch_id`` beyond its creation."""
    return db.execute("SELECT 1 FROM keys WHERE batch_id = ? LIMIT 1", (batch_id,)).fetchone() is None and (
        db.execute("SELECT 1 FROM rows WHERE batch_id = ? LIMIT 1", (batch_id,)).fetchone() is None
    )


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
