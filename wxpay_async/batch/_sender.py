"""BatchSender: resumable, exactly-once bulk coupon issuance from asyncio workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypedDict, Unpack

import attrs

from ..errors import (
    APIConnectionError,
    APIStatusError,
    NotSentError,
    OutcomeUnknownError,
    SignatureVerificationError,
    ValidationError,
)
from ..middleware import observe_retries
from ._journal import Journal, RowOutcome, SqliteJournal
from ._merchant_coupon import MERCHANT_SENDING_STATE, merchant_coupon_sender, merchant_stock_status
from ._ratelimit import AdaptiveTokenBucket, RateLimiter
from ._redis_ratelimit import RedisRateLimiter
from ._results import write_result_csv
from ._rows import (
    BatchRow,
    InvalidRow,
    Kind,
    SendFn,
    StockStatusFn,
    check_csv_file,
    count_csv_rows,
    read_rows,
    request_number,
)

if TYPE_CHECKING:
    from .._client import Client
    from .._request import Response

logger = logging.getLogger("wxpay_async.batch")

#: Error codes that mean the stock cannot issue more: the rest of the batch would fail too.
#: Only official codes: 403 NOT_ENOUGH is the "budget used up" answer of both send APIs (the
#: product-coupon send-to-user error table: "批次发放预算不足", "预上传券Code剩余数量不足"). A paused,
#: stopped or expired stock has no code of its own (it answers 400 INVALID_REQUEST, the generic
#: "does not fit the business rules" code), so that case is found by asking for the stock's
#: status after a run of INVALID_REQUEST answers (see ``status_check_after``).
EXHAUSTED_CODES = frozenset({"NOT_ENOUGH"})
#: The code whose runs make the sender ask for the stock's status.
STATUS_CHECK_CODE = "INVALID_REQUEST"
#: Statuses in which a stock sends: favor ``Stock.status`` "running" (wechatpay-go models.go:
#: unactivated/audit/running/stoped/paused); product-coupon stock ``state`` "SENDING"
#: (AUDITING/SENDING/PAUSED/STOPPED/DEACTIVATED, tests/official/FINDINGS-product-coupon.md).
CASH_SENDING_STATUS = "running"
PRODUCT_SENDING_STATE = "SENDING"
#: Re-queue a row this many times within one run after the client's own retries gave up.
ROW_REQUEUES = 2


@attrs.define(kw_only=True)
class BatchSummary:
    batch_id: str
    rows_read: int = 0
    sent: int = 0
    already_done: int = 0  # finished in an earlier run of the same journal
    failed: int = 0
    duplicates: int = 0
    not_sent: int = 0  # left for a later --resume (interrupted or stopped early)
    claimed_elsewhere: int = 0  # being sent by another worker sharing the journal
    stopped_early: str | None = None
    interrupted: bool = False
    elapsed: float = 0.0
    limiter_wait: float = 0.0
    rate_decreases: int = 0
    failures_by_code: dict[str, int] = attrs.field(factory=dict)

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    def describe(self) -> str:
        lines = [
            f"batch {self.batch_id}: {self.rows_read} rows read in {self.elapsed:.1f}s",
            f"  sent now:         {self.sent} ({self.rate:.0f}/s)",
            f"  done before:      {self.already_done}",
            f"  failed:           {self.failed}"
            + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(self.failures_by_code.items()))})" if self.failed else ""),
            f"  duplicate rows:   {self.duplicates}",
            f"  not sent yet:     {self.not_sent}",
        ]
        if self.stopped_early:
            lines.append(f"  stopped early:    {self.stopped_early}")
        if self.interrupted:
            lines.append("  interrupted:      yes (run again with the same journal to resume)")
        return "\n".join(lines)


def cash_coupon_sender(client: Client, *, appid: str | None = None, stock_creator_mchid: str | None = None) -> SendFn:
    """Send one cash coupon through ``client.favor.send_coupon``; returns the coupon id."""

    async def send(row: BatchRow, request_no: str) -> str:
        fields = dict(row.fields)
        row_appid = fields.pop("appid", appid)
        creator = fields.pop("stock_creator_mchid", stock_creator_mchid or client.mchid)
        if not row_appid:
            raise ValidationError(f"row {row.index}.appid", "required (column or appid=...)")
        try:
            result = await client.favor.send_coupon(
                row.openid,
                stock_id=row.stock_id,
                appid=row_appid,
                stock_creator_mchid=creator,
                out_request_no=request_no,
                **fields,
            )
        except TypeError as exc:  # an unknown CSV column
            raise ValidationError(f"row {row.index}", f"unsupported column: {exc}") from None
        return result.coupon_id

    return send


def cash_stock_status(client: Client, *, stock_creator_mchid: str | None = None) -> StockStatusFn:
    """The row's cash-coupon stock status via ``client.favor.get_stock`` (``Stock.status``)."""

    async def status(row: BatchRow) -> str | None:
        creator = row.fields.get("stock_creator_mchid") or stock_creator_mchid or client.mchid
        stock = await client.favor.get_stock(row.stock_id, stock_creator_mchid=str(creator))
        return stock.status

    return status


def product_stock_status(client: Client) -> StockStatusFn:
    """The row's product-coupon stock state via ``client.product_coupon.get_stock`` (``state``)."""

    async def status(row: BatchRow) -> str | None:
        if client.is_brand:  # 品牌直连: the brand comes from the client's identity, no brand_id
            own = await client.brand_product_coupon.get_stock(
                str(row.fields.get("product_coupon_id", "")), row.stock_id
            )
            return None if own.state is None else str(own.state)
        stock = await client.product_coupon.get_stock(
            str(row.fields.get("product_coupon_id", "")), row.stock_id, brand_id=str(row.fields.get("brand_id", ""))
        )
        return None if stock.state is None else str(stock.state)

    return status


def product_coupon_sender(client: Client, *, appid: str | None = None) -> SendFn:
    """Send one product coupon through ``client.product_coupon.send_coupon``; returns the coupon code."""

    async def send(row: BatchRow, request_no: str) -> str:
        fields = dict(row.fields)
        row_appid = fields.pop("appid", appid)
        brand = client.is_brand  # 品牌直连: brand client, brand paths, no brand_id column
        if brand and fields.get("brand_id") not in (None, "", client.identity_id):
            raise ValidationError(f"row {row.index}.brand_id", f"is not this brand client's {client.identity_id}")
        if brand:
            fields.pop("brand_id", None)
        missing = [
            name
            for name, value in (
                ("product_coupon_id", fields.get("product_coupon_id")),
                ("brand_id", "-" if brand else fields.get("brand_id")),
                ("appid", row_appid),
            )
            if not value
        ]
        if missing:
            raise ValidationError(f"row {row.index}.{missing[0]}", "required for product coupons")
        resource = client.brand_product_coupon if brand else client.product_coupon
        try:
            result = await resource.send_coupon(
                row.openid, stock_id=row.stock_id, appid=row_appid, send_request_no=request_no, **fields
            )
        except TypeError as exc:
            raise ValidationError(f"row {row.index}", f"unsupported column: {exc}") from None
        return str(result.coupon_code)

    return send


def sender_for(
    kind: Kind, client: Client, *, appid: str | None = None, stock_creator_mchid: str | None = None
) -> SendFn:
    """The send function of a row kind: cash, product (partner or brand client) or merchant coupons."""
    if kind not in ("cash", "product", "merchant"):
        raise ValidationError("kind", f"one of 'cash', 'product', 'merchant', got {kind!r}")
    if kind == "merchant":
        return merchant_coupon_sender(client, appid=appid)
    if kind == "cash":
        return cash_coupon_sender(client, appid=appid, stock_creator_mchid=stock_creator_mchid)
    return product_coupon_sender(client, appid=appid)


class BatchSender:
    """Send one coupon per input row, exactly once, at a steady rate, resumable after a crash.

    Every row's request number is derived from ``batch_id`` and the row key, so re-running the
    same batch (after a crash, a SIGKILL, a lost journal) can never issue a second coupon:
    WeChat Pay answers a repeated number with the original coupon. The journal only saves work.
    """

    def __init__(
        self,
        client: Client,
        *,
        batch_id: str,
        kind: Kind = "cash",
        journal: Journal | None = None,
        qps: float = 500.0,
        concurrency: int = 64,
        appid: str | None = None,
        stock_id: str | None = None,
        stock_creator_mchid: str | None = None,
        defaults: Mapping[str, Any] | None = None,
        send: SendFn | None = None,
        exhausted_codes: frozenset[str] = EXHAUSTED_CODES,
        failure_streak: int = 50,
        status_check_after: int = 5,
        stock_status: StockStatusFn | None = None,
        progress: TextIO | None = None,
        progress_interval: float = 1.0,
        limiter: RateLimiter | None = None,
        shared_rate_redis: str | None = None,
    ) -> None:
        if not isinstance(batch_id, str) or not batch_id or len(batch_id) > 64:
            raise ValidationError("batch_id", "required, a string of at most 64 characters")
        if concurrency < 1:
            raise ValidationError("concurrency", "must be at least 1")
        self.client = client
        self.batch_id = batch_id
        self.kind = kind
        self.journal: Journal = journal or SqliteJournal(Path(f"{batch_id}.journal.db"))
        self.concurrency = concurrency
        #: ``shared_rate_redis`` (a redis:// URL): ``qps`` is the merchant's rate summed over every
        #: worker using the same Redis, not this process's own (see RedisRateLimiter).
        self._own_limiter: RedisRateLimiter | None = None
        if limiter is None and shared_rate_redis:
            limiter = self._own_limiter = RedisRateLimiter(shared_rate_redis, mchid=client.identity_key, rate=qps)
        self.limiter: RateLimiter = limiter or AdaptiveTokenBucket(qps)
        self.defaults = {**(defaults or {}), **({"stock_id": stock_id} if stock_id else {})}
        self._send = send or sender_for(kind, client, appid=appid, stock_creator_mchid=stock_creator_mchid)
        self.exhausted_codes = exhausted_codes
        self.failure_streak = failure_streak
        self.status_check_after = status_check_after
        if stock_status is None and kind == "merchant":
            stock_status = merchant_stock_status(client)
        if stock_status is None:
            stock_status = (
                cash_stock_status(client, stock_creator_mchid=stock_creator_mchid)
                if kind == "cash"
                else product_stock_status(client)
            )
        self._stock_status = stock_status
        self._sending_status = CASH_SENDING_STATUS if kind == "cash" else PRODUCT_SENDING_STATE
        if kind == "merchant":
            self._sending_status = MERCHANT_SENDING_STATE
        self._invalid_run: list[RowOutcome] = []
        self._checking = False
        self.status_checks = 0
        self._streak: list[RowOutcome] = []
        self._tripped_by: str | None = None
        self._progress = progress
        self._progress_interval = progress_interval
        self._stop = asyncio.Event()
        self.summary = BatchSummary(batch_id=batch_id)
        self._total: int | None = None

    def stop(self, reason: str | None = None) -> None:
        """Finish in-flight rows, send nothing new (a signal handler calls this)."""
        if reason and not self.summary.stopped_early:
            self.summary.stopped_early = reason
        self._stop.set()

    async def _with_workers(self, queue: asyncio.Queue[BatchRow | None], feed: Awaitable[None]) -> None:
        """``concurrency`` workers drain ``queue`` while ``feed`` fills it; whatever ``feed`` does,
        each worker is then told to stop (one None each) and awaited."""
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(self.concurrency)]
        try:
            await feed
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)

    async def run(self, source: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]] | Path) -> BatchSummary:
        started = time.monotonic()
        if isinstance(source, Path):
            check_csv_file(source, self.defaults)  # before the journal: a wrong file leaves none
            self._total = count_csv_rows(source)
        await self.journal.open(self.batch_id)
        queue: asyncio.Queue[BatchRow | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        restore = self._install_signal_handlers()
        progress_task = asyncio.create_task(self._report_progress(started)) if self._progress else None
        try:
            await self._with_workers(queue, self._produce(source, queue))
        finally:
            restore()
            if progress_task is not None:
                progress_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await progress_task
            await self.journal.flush()
            self.summary.elapsed = time.monotonic() - started
            self.summary.limiter_wait = self.limiter.waited
            self.summary.rate_decreases = self.limiter.decreases
            if self._progress:
                self._print_progress(started, final=True)
        return self.summary

    async def write_results(self, path: Path) -> int:
        """The result CSV: one line per journaled row, in input order (formula-safe cells)."""
        written, _ = await write_result_csv(path, self.journal.outcomes())
        return written

    async def aclose(self) -> None:
        try:
            await self.journal.close()
        finally:
            if self._own_limiter is not None:
                await self._own_limiter.aclose()

    # -- internals -----------------------------------------------------------------------------
    async def _produce(
        self,
        source: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]] | Path,
        queue: asyncio.Queue[BatchRow | None],
    ) -> None:
        chunk: list[BatchRow] = []
        async for row in read_rows(source, self.defaults):
            self.summary.rows_read += 1
            if isinstance(row, InvalidRow):
                await self._invalid(row)
                continue
            if self._stop.is_set():
                self.summary.not_sent += 1
                continue
            chunk.append(row)
            if len(chunk) >= 200:
                await self._dispatch(chunk, queue)
                chunk = []
        if chunk:
            await self._dispatch(chunk, queue)

    async def _dispatch(self, rows: list[BatchRow], queue: asyncio.Queue[BatchRow | None]) -> None:
        known = await self.journal.lookup(row.key for row in rows)
        for row in rows:
            if self._stop.is_set():
                self.summary.not_sent += 1
                continue
            first = await self.journal.first_index(row.key, row.index)
            if first != row.index:
                self.summary.duplicates += 1
                await self.journal.record(RowOutcome.duplicate(row.key, row.index, first))
                continue
            done = known.get(row.key)
            if done is not None and (done.state == "sent" or (done.state == "failed" and not done.retryable)):
                self.summary.already_done += 1
                continue
            if not await self.journal.claim(row.key):
                self.summary.claimed_elsewhere += 1
                continue
            await queue.put(row)

    async def _worker(self, queue: asyncio.Queue[BatchRow | None]) -> None:
        while (row := await queue.get()) is not None:
            if self._stop.is_set():
                self.summary.not_sent += 1
                continue
            await self._send_row(row)

    async def _send_row(self, row: BatchRow) -> None:
        number = request_number(self.batch_id, row.key)
        reached = False  # an earlier send of this row reached (or may have reached) WeChat Pay
        for attempt in range(ROW_REQUEUES + 1):
            await self.limiter.acquire()
            try:
                with observe_retries(self._on_retry):
                    coupon_id = await self._send(row, number)
            except ValidationError as exc:
                await self._fail(row, number, "VALIDATION", str(exc), retryable=False)
                return
            except APIStatusError as exc:
                if exc.status == 429:
                    self.limiter.on_rate_limited()
                transient = exc.transient  # errors.is_transient: the retry layer's rule
                if transient and attempt < ROW_REQUEUES and not self._stop.is_set():
                    reached = True
                    continue
                code = exc.code or f"HTTP_{exc.status}"
                await self._fail(row, number, code, exc.message or str(exc), retryable=transient)
                if code in self.exhausted_codes:
                    self.stop(f"{code}: {exc.message}")
                return
            except (APIConnectionError, SignatureVerificationError) as exc:
                # Outcome unknown: safe to send again with the same number, now or on resume.
                if attempt < ROW_REQUEUES and not self._stop.is_set():
                    reached = reached or not isinstance(exc, NotSentError)
                    continue
                code, message = type(exc).__name__, str(exc)
                if reached and isinstance(exc, NotSentError):
                    # The last re-send sent nothing, but an earlier one reached the wire: the row
                    # is not "not sent" (issue 17: an error never claims nothing was sent).
                    code = OutcomeUnknownError.__name__
                    message = (
                        "an earlier send of this row reached WeChat Pay, which may have acted on it; "
                        f"the last re-send could not be sent ({exc}). Send it again (--resume) with the same "
                        f"request number {number}: it cannot issue twice"
                    )
                await self._fail(row, number, code, message, retryable=True)
                return
            self.summary.sent += 1
            self._streak.clear()
            self._invalid_run.clear()
            await self.journal.record(
                RowOutcome(key=row.key, index=row.index, request_no=number, state="sent", coupon_id=coupon_id)
            )
            return

    async def _invalid(self, row: InvalidRow) -> None:
        """A row that cannot be sent (no openid...): failed, final, and the batch goes on."""
        outcome = RowOutcome.invalid(row.index, row.error)
        if not await self.journal.claim(outcome.key):  # workers sharing the journal record it once
            self.summary.claimed_elsewhere += 1
            return
        self.summary.failed += 1
        self.summary.failures_by_code["VALIDATION"] = self.summary.failures_by_code.get("VALIDATION", 0) + 1
        await self.journal.record(outcome)

    async def _fail(self, row: BatchRow, number: str, code: str, message: str, *, retryable: bool) -> None:
        self.summary.failed += 1
        self.summary.failures_by_code[code] = self.summary.failures_by_code.get(code, 0) + 1
        outcome = RowOutcome(
            key=row.key,
            index=row.index,
            request_no=number,
            state="failed",
            code=code,
            message=message[:500],
            retryable=retryable,
        )
        await self.journal.record(outcome)
        await self._watch_streak(outcome)
        await self._watch_stock(row, outcome)

    async def _watch_streak(self, outcome: RowOutcome) -> None:
        """Circuit breaker: many consecutive failures with one code mean a batch-wide cause.

        A paused or stopped stock answers every row with the same error; recording those rows as
        final would lose them. After ``failure_streak`` in a row the batch stops, and the rows of
        the streak are re-recorded as retryable so that ``--resume`` sends them once fixed.
        """
        if self._tripped_by is not None:
            if outcome.code == self._tripped_by and not outcome.retryable:
                await self.journal.record(attrs.evolve(outcome, retryable=True))  # in flight when it tripped
            return
        if self._streak and self._streak[-1].code != outcome.code:
            self._streak.clear()
        self._streak.append(outcome)
        if len(self._streak) >= self.failure_streak:
            self._tripped_by = outcome.code
            self.stop(f"{len(self._streak)} consecutive {outcome.code} failures: {outcome.message}")
            for failed in self._streak:
                await self.journal.record(attrs.evolve(failed, retryable=True))
            self._streak.clear()

    async def _watch_stock(self, row: BatchRow, outcome: RowOutcome) -> None:
        """Early stop on the official signal: after ``status_check_after`` INVALID_REQUEST answers in
        a row, ask for the stock's status once; a stock that no longer sends stops the batch.

        INVALID_REQUEST is also what a bad row gets (a wrong appid, a time window...), so the run
        alone proves nothing; the stock's own status does. When it is not sending, the rows of the
        run (and those still in flight) are re-recorded as retryable, so a later ``--resume`` sends
        them once the stock is restarted. When it still sends, the run was bad rows: they stay failed.
        """
        if self.status_check_after <= 0:
            return
        if self._tripped_by == STATUS_CHECK_CODE:
            if outcome.code == STATUS_CHECK_CODE and not outcome.retryable:
                await self.journal.record(attrs.evolve(outcome, retryable=True))
            return
        if outcome.code != STATUS_CHECK_CODE:
            self._invalid_run.clear()
            return
        self._invalid_run.append(outcome)
        if len(self._invalid_run) < self.status_check_after or self._checking or self._stop.is_set():
            return
        self._checking = True
        try:
            self.status_checks += 1
            try:
                status = await self._stock_status(row)
            except (APIStatusError, APIConnectionError, SignatureVerificationError, ValidationError) as exc:
                logger.warning("stock status check failed (%s); going on", exc)
                self._invalid_run.clear()
                return
            if status == self._sending_status:
                self._invalid_run.clear()  # the stock sends: those rows were bad on their own
                return
            self._tripped_by = STATUS_CHECK_CODE
            run, self._invalid_run = self._invalid_run, []
            self.stop(
                f"stock {row.stock_id} is {status} (checked after {len(run)} consecutive "
                f"{STATUS_CHECK_CODE} answers): {outcome.message}"
            )
            for failed in run:
                await self.journal.record(attrs.evolve(failed, retryable=True))
        finally:
            self._checking = False

    def _on_retry(self, response: Response | None) -> None:
        if response is not None and response.status == 429:
            self.limiter.on_rate_limited()

    def _install_signal_handlers(self) -> Callable[[], None]:
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []

        def handler(sig: signal.Signals) -> None:
            logger.warning("%s: finishing in-flight rows, then stopping", sig.name)
            self.summary.interrupted = True
            self._stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, handler, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or a loop without signal support

        def restore() -> None:
            for sig in installed:
                loop.remove_signal_handler(sig)

        return restore

    async def _report_progress(self, started: float) -> None:
        while True:
            await asyncio.sleep(self._progress_interval)
            self._print_progress(started)

    def _print_progress(self, started: float, *, final: bool = False) -> None:
        out = self._progress or sys.stderr
        s = self.summary
        elapsed = max(1e-9, time.monotonic() - started)
        rate = s.sent / elapsed
        done = s.sent + s.failed + s.duplicates + s.already_done
        total = self._total
        if total:
            width = 30
            filled = int(width * min(1.0, done / total))
            bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
            eta = (total - done) / rate if rate > 0 else float("inf")
            eta_text = f" ETA {eta:,.0f}s" if eta != float("inf") else ""
        else:
            bar, eta_text = f"{done} rows", ""
        out.write(
            f"\r{bar} sent {s.sent} failed {s.failed} dup {s.duplicates} {rate:,.0f}/s{eta_text}   "
            + ("\n" if final else "")
        )
        out.flush()


class BatchOptions(TypedDict, total=False):
    """The :class:`BatchSender` options :func:`send_batch` passes on (a typo fails type checking)."""

    kind: Kind
    qps: float
    concurrency: int
    appid: str | None
    stock_id: str | None
    stock_creator_mchid: str | None
    defaults: Mapping[str, Any] | None
    send: SendFn | None
    exhausted_codes: frozenset[str]
    failure_streak: int
    status_check_after: int
    stock_status: StockStatusFn | None
    progress: TextIO | None
    progress_interval: float
    limiter: AdaptiveTokenBucket | None


async def send_batch(
    client: Client,
    source: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]] | Path,
    *,
    batch_id: str,
    journal: Path | str | Journal | None = None,
    result_csv: Path | None = None,
    resume: bool = False,
    **options: Unpack[BatchOptions],
) -> BatchSummary:
    """One call: run a batch to the end (or until stopped), write the result CSV, close the journal.

    ``journal`` is a SQLite file (default ``<batch_id>.journal.db``) or a :class:`Journal`. A
    journal file that already records work for ``batch_id`` is continued only with
    ``resume=True`` (the command line's ``--resume``); otherwise :class:`JournalError` is raised
    and nothing is sent. A :class:`Journal` object carries its own ``resume=`` setting.

    ``options`` are :class:`BatchSender`'s (``kind``, ``qps``, ``concurrency``, ``appid``,
    ``stock_id``, ``stock_creator_mchid``, ``defaults``, ``progress``...; see :class:`BatchOptions`).
    """
    if journal is None:
        journal = Path(f"{batch_id}.journal.db")
    store = SqliteJournal(journal, resume=resume) if isinstance(journal, str | Path) else journal
    sender = BatchSender(client, batch_id=batch_id, journal=store, **options)
    try:
        summary = await sender.run(source)
        if result_csv is not None:
            await sender.write_results(result_csv)
    finally:
        await sender.aclose()
    return summary
