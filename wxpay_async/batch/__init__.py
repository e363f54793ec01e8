"""Resumable, exactly-once bulk coupon issuance (cash, product and merchant coupons)."""

from ._fleet import EXIT_REDIS_UNAVAILABLE, Fleet, FleetJournal, FleetSender, FleetSummary, RedisUnavailable
from ._journal import Journal, JournalError, RowOutcome, SqliteJournal, file_sha256
from ._merchant_coupon import merchant_coupon_sender, merchant_stock_status
from ._one import send_row
from ._ratelimit import AdaptiveTokenBucket, RateLimiter
from ._redis_journal import RedisJournal
from ._redis_ratelimit import RedisRateLimiter
from ._rows import BatchRow, SendFn, StockStatusFn, iter_rows, request_number
from ._sender import (
    EXHAUSTED_CODES,
    BatchOptions,
    BatchSender,
    BatchSummary,
    cash_coupon_sender,
    cash_stock_status,
    product_coupon_sender,
    product_stock_status,
    send_batch,
)

__all__ = [
    "EXHAUSTED_CODES",
    "EXIT_REDIS_UNAVAILABLE",
    "AdaptiveTokenBucket",
    "BatchOptions",
    "BatchRow",
    "BatchSender",
    "BatchSummary",
    "Fleet",
    "FleetJournal",
    "FleetSender",
    "FleetSummary",
    "Journal",
    "JournalError",
    "RateLimiter",
    "RedisJournal",
    "RedisRateLimiter",
    "RedisUnavailable",
    "RowOutcome",
    "SendFn",
    "SqliteJournal",
    "StockStatusFn",
    "cash_coupon_sender",
    "cash_stock_status",
    "file_sha256",
    "iter_rows",
    "merchant_coupon_sender",
    "merchant_stock_status",
    "product_coupon_sender",
    "product_stock_status",
    "request_number",
    "send_batch",
    "send_row",
]
