"""One row, exactly once, from any task queue (arq, Celery, taskiq...): :func:`send_row`.

A task queue delivers a task at least once: a worker killed mid-task, a lost acknowledgement, a
retry after a timeout all run it again. ``send_row`` sends with the request number derived from
(``batch_id``, row key), the same number the batch sender uses, so every run of the task for one
row is answered by WeChat Pay with the one original coupon. A journal is optional: with one, a
row already recorded as sent is answered from it without a call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import APIStatusError, ValidationError
from ._journal import Journal, RowOutcome
from ._rows import BatchRow, Kind, SendFn, make_row, request_number
from ._sender import sender_for

if TYPE_CHECKING:
    from .._client import Client


async def send_row(
    client: Client,
    row: Mapping[str, Any] | BatchRow,
    *,
    batch_id: str,
    kind: Kind = "cash",
    appid: str | None = None,
    stock_id: str | None = None,
    stock_creator_mchid: str | None = None,
    defaults: Mapping[str, Any] | None = None,
    index: int = 0,
    journal: Journal | None = None,
    send: SendFn | None = None,
) -> RowOutcome:
    """Send one coupon for ``row`` exactly once; the outcome (``state`` "sent" or "failed").

    ``row`` is a mapping like a CSV line (``openid``, optional ``stock_id``, ``key``, body fields)
    or a :class:`BatchRow`. The answer is final: ``sent`` (``coupon_id`` set) or ``failed`` for a
    rule the row breaks (a 4xx answer such as ``RULE_LIMIT`` or ``NOT_ENOUGH``, or an invalid
    row). When the outcome is unknown or transient — a connection error, a timeout, a 429 or 5xx
    after the client's own retries — the error is raised: let the task queue retry the task; the
    retry sends the same request number, so it can never issue a second coupon.

    ``journal`` (an opened :class:`Journal`, e.g. ``RedisJournal``) is read before sending and
    written after; it only saves calls, exactly-once does not depend on it.
    """
    if not isinstance(batch_id, str) or not batch_id or len(batch_id) > 64:
        raise ValidationError("batch_id", "required, a string of at most 64 characters")
    if not isinstance(row, (BatchRow, Mapping)):
        raise ValidationError("row", f"a mapping (openid, stock_id, ...) or a BatchRow, got {type(row).__name__}")
    if defaults is not None and not isinstance(defaults, Mapping):
        raise ValidationError("defaults", f"a mapping of column defaults, got {type(defaults).__name__}")
    if send is None:
        send = sender_for(kind, client, appid=appid, stock_creator_mchid=stock_creator_mchid)
    if not isinstance(row, BatchRow):
        try:
            row = make_row(index, row, {**(defaults or {}), **({"stock_id": stock_id} if stock_id else {})})
        except ValidationError as exc:  # final, as the docstring says: a task queue must not retry it
            return RowOutcome.invalid(index, exc)
    number = request_number(batch_id, row.key)
    if journal is not None:
        known = (await journal.lookup([row.key])).get(row.key)
        if known is not None and (known.state == "sent" or (known.state == "failed" and not known.retryable)):
            return known
    try:
        coupon_id = await send(row, number)
    except ValidationError as exc:
        outcome = RowOutcome(
            key=row.key, index=row.index, request_no=number, state="failed", code="VALIDATION", message=str(exc)
        )
    except APIStatusError as exc:
        if exc.status == 429 or exc.status >= 500 or exc.code == "SYSTEM_ERROR":
            raise
        outcome = RowOutcome(
            key=row.key,
            index=row.index,
            request_no=number,
            state="failed",
            code=exc.code or f"HTTP_{exc.status}",
            message=(exc.message or str(exc))[:500],
        )
    else:
        outcome = RowOutcome(key=row.key, index=row.index, request_no=number, state="sent", coupon_id=coupon_id)
    if journal is not None:
        await journal.record(outcome)
        await journal.flush()
    return outcome
