"""What the emulator issued, and how often each request number was accepted: proof of exactly-once.

``processed`` counts every time a send request number reached a successful outcome inside the
emulator (a first send or an idempotent replay); ``accepted`` counts the times a success answer
was actually handed to the client (a "drop after processing" fault processes without answering).
Exactly-once delivery shows as one ledger entry per request number, whatever the counts are.
"""

from __future__ import annotations

from typing import Any

from ._store import Store

LEDGER = "ledger"
REQUESTS = "ledger_requests"


class Ledger:
    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def _key(kind: str, mchid: str, request_no: str) -> str:
        return f"{kind}\x1f{mchid}\x1f{request_no}"

    def issue(
        self,
        *,
        kind: str,
        coupon_id: str,
        stock_id: str,
        openid: str,
        request_no: str,
        mchid: str,
        at: str,
        **extra: Any,
    ) -> None:
        entry = {
            "kind": kind,
            "coupon_id": coupon_id,
            "stock_id": stock_id,
            "openid": openid,
            "request_no": request_no,
            "mchid": mchid,
            "issued_at": at,
            **extra,
        }
        self._store.put(LEDGER, f"{kind}\x1f{coupon_id}", entry)
        key = self._key(kind, mchid, request_no)
        record = self._store.get(REQUESTS, key) or self._new(kind, mchid, request_no)
        record["coupon_id"] = coupon_id
        record["issued"] = int(record.get("issued", 0)) + 1
        self._store.put(REQUESTS, key, record)

    @staticmethod
    def _new(kind: str, mchid: str, request_no: str) -> dict[str, Any]:
        return {"kind": kind, "mchid": mchid, "request_no": request_no, "issued": 0, "processed": 0, "accepted": 0}

    def count(self, kind: str, mchid: str, request_no: str, field: str) -> None:
        key = self._key(kind, mchid, request_no)
        record = self._store.get(REQUESTS, key) or self._new(kind, mchid, request_no)
        record[field] = int(record.get(field, 0)) + 1
        self._store.put(REQUESTS, key, record)

    def snapshot(self) -> dict[str, Any]:
        """``{"coupons": [...], "requests": [...]}``; see the module docstring for the counts.

        Each coupon entry: kind (cash/product), coupon_id, stock_id, openid, request_no, mchid,
        issued_at, accepted. Each request entry: kind, mchid, request_no, coupon_id, issued,
        processed, accepted.
        """
        coupons = []
        for entry in sorted(self._store.values(LEDGER), key=lambda e: (e["kind"], e["issued_at"], e["coupon_id"])):
            record = self._store.get(REQUESTS, self._key(entry["kind"], entry["mchid"], entry["request_no"])) or {}
            coupons.append({**entry, "accepted": int(record.get("accepted", 0))})
        requests = sorted(self._store.values(REQUESTS), key=lambda r: (r["kind"], r["mchid"], r["request_no"]))
        return {"coupons": coupons, "requests": requests}

    def accepted(self, kind: str, mchid: str, request_no: str) -> int:
        """How many success answers went out for this request number."""
        record = self._store.get(REQUESTS, self._key(kind, mchid, request_no)) or {}
        return int(record.get("accepted", 0))
