"""Emulator state as JSON documents in named tables: memory by default, SQLite when given a path.

Everything the emulator remembers (stocks, coupons, idempotency records, ledger, settings) is a
JSON-able dict, so persisting is one upsert per change and a restart is one ``SELECT``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Store:
    """Tables of ``key -> dict``; call :meth:`put` after changing a document to persist it."""

    def __init__(self, path: Path | str | None = None) -> None:
        self._tables: dict[str, dict[str, dict[str, Any]]] = {}
        self._db: sqlite3.Connection | None = None
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS docs (tbl TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL,"
                " PRIMARY KEY (tbl, key))"
            )
            for tbl, key, doc in self._db.execute("SELECT tbl, key, doc FROM docs"):
                self._tables.setdefault(tbl, {})[key] = json.loads(doc)

    def table(self, name: str) -> dict[str, dict[str, Any]]:
        return self._tables.setdefault(name, {})

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        return self._tables.get(table, {}).get(key)

    def put(self, table: str, key: str, doc: dict[str, Any]) -> None:
        self.table(table)[key] = doc
        if self._db is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO docs (tbl, key, doc) VALUES (?, ?, ?)",
                (table, key, json.dumps(doc, ensure_ascii=False, separators=(",", ":"))),
            )

    def delete(self, table: str, key: str) -> None:
        self._tables.get(table, {}).pop(key, None)
        if self._db is not None:
            self._db.execute("DELETE FROM docs WHERE tbl = ? AND key = ?", (table, key))

    def values(self, table: str) -> Iterator[dict[str, Any]]:
        return iter(list(self._tables.get(table, {}).values()))

    def next_id(self, sequence: str, start: int) -> int:
        """A persistent counter: ids stay unique across restarts of a persisted emulator."""
        doc = self.get("sequences", sequence) or {"value": start - 1}
        doc["value"] = int(doc["value"]) + 1
        self.put("sequences", sequence, doc)
        return int(doc["value"])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
