"""Resumable, exactly-once bulk coupon issuance (cash coupons and product coupons)."""

from ._journal import Journal, JournalError, RowOutcome, SqliteJournal, file_sha256
from ._ratelimit import AdaptiveTokenBucket
from ._redis_journal import RedisJournal
from ._rows import BatchRow, iter_rows, request_number
from ._sender import (
    EXHAUSTED_CODES,
    BatchSender,
    BatchSummary,
    cash_coupon_sender,
    product_coupon_sender,
    send_batch,
)

__all__ = [
    "EXHAUSTED_CODES",
    "AdaptiveTokenBucket",
    "BatchRow",
    "BatchSender",
    "BatchSummary",
    "Journal",
    "JournalError",
    "RedisJournal",
    "RowOutcome",
    "SqliteJournal",
    "cash_coupon_sender",
    "file_sha256",
    "iter_rows",
    "product_coupon_sender",
    "request_number",
    "send_batch",
]
