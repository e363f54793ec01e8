"""The result CSV of a batch: one line per journaled row, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterable
from pathlib import Path

from ._journal import RowOutcome

RESULT_HEADER = ("row", "key", "request_no", "state", "coupon_id", "code", "message")

#: A cell starting with one of these is read as a formula by Excel, LibreOffice and Google Sheets
#: (OWASP, "CSV Injection": =, +, -, @, tab 0x09, carriage return 0x0D).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A text cell a spreadsheet shows as text: one that could start a formula gets a leading ``'``.

    OWASP's advice for CSV injection: prefix the cell with a single quote (the CSV quoting of the
    writer then handles any comma or quote in it). Keys, messages and coupon ids come from the
    input file and from WeChat Pay's answers, so neither is trusted.
    """
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def result_cells(outcome: RowOutcome) -> list[str | int]:
    o = outcome
    texts = (o.key, o.request_no, o.state, o.coupon_id or "", o.code or "", o.message or "")
    return [o.index, *(neutralise(text) for text in texts)]


async def write_result_csv(path: Path, outcomes: AsyncIterable[RowOutcome]) -> tuple[int, int]:
    """Write ``outcomes`` (in input order) to ``path``; returns the rows written and how many failed."""
    count = failed = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(RESULT_HEADER)
        async for outcome in outcomes:
            writer.writerow(result_cells(outcome))
            count += 1
            failed += outcome.state == "failed"
    return count, failed
