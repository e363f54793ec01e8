"""BatchSender against the scriptable server: exactly-once, duplicates, exhaustion, resume."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from wxpay_async import Client
from wxpay_async.batch import AdaptiveTokenBucket, BatchSender, SqliteJournal, request_number, send_batch
from wxpay_async.errors import ValidationError

from .conftest import client_kwargs
from .fake_wechat import FakeWeChat, Reply

SEND = "/v3/marketing/favor/users/{openid}/coupons"


@attrs.define
class Ledger:
    """What a real WeChat Pay does with request numbers: one coupon per number."""

    budget: int = 10**9
    coupons: dict[str, tuple[str, bytes]] = attrs.field(factory=dict)
    accepted: Counter[str] = attrs.field(factory=Counter)
    by_openid: Counter[str] = attrs.field(factory=Counter)

    def handler(self, request: web.Request, body: bytes) -> Reply:
        data = json.loads(body)
        number = data["out_request_no"]
        if number in self.coupons:
            coupon_id, first_body = self.coupons[number]
            if first_body != body:
                return Reply(status=400, body={"code": "INVALID_REQUEST", "message": "number reused"})
        else:
            if len(self.coupons) >= self.budget:
                return Reply(status=403, body={"code": "NOT_ENOUGH", "message": "stock exhausted"})
            coupon_id = str(10_000_000 + len(self.coupons))
            self.coupons[number] = (coupon_id, body)
            self.by_openid[request.path.split("/")[5]] += 1
        self.accepted[number] += 1
        return Reply(body={"coupon_id": coupon_id})


@pytest.fixture
def ledger(fake: FakeWeChat) -> Ledger:
    led = Ledger()
    fake.handlers[("POST", "/v3/marketing/favor/users/*")] = led.handler
    return led


@pytest.fixture
async def wx(fake: FakeWeChat, server: TestServer, ledger: Ledger) -> Client:
    async with Client(**client_kwargs(fake, server, mode="public_key")) as client:
        yield client  # type: ignore[misc]


def rows(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"openid": f"o{i:06d}"} for i in range(start, start + n)]


async def test_every_row_sent_once_with_faults(wx: Client, fake: FakeWeChat, ledger: Ledger, tmp_path: Path) -> None:
    fake.queue(
        Reply(status=500, body={"code": "SYSTEM_ERROR", "message": "x"}),
        Reply(status=429, body={"code": "FREQUENCY_LIMITED", "message": "x"}),
        Reply(drop=True),
        Reply(status=503, body={"code": "SYSTEM_ERROR", "message": "x"}),
    )
    out = tmp_path / "result.csv"
    summary = await send_batch(
        wx,
        rows(120),
        batch_id="b1",
        journal=tmp_path / "j.db",
        result_csv=out,
        stock_id="9856000",
        appid="wx233544546545989",
        qps=2000,
        concurrency=8,
    )
    assert summary.sent == 120 and summary.failed == 0
    assert len(ledger.coupons) == 120 and set(ledger.by_openid.values()) == {1}
    lines = out.read_text().splitlines()
    assert len(lines) == 121 and lines[0].startswith("row,key,request_no,state,coupon_id")
    assert all(",sent," in line for line in lines[1:])


async def test_rerun_is_idempotent_even_without_journal(wx: Client, ledger: Ledger, tmp_path: Path) -> None:
    opts = {"stock_id": "9856000", "appid": "wx1", "qps": 5000, "concurrency": 4}
    await send_batch(wx, rows(30), batch_id="b2", journal=tmp_path / "a.db", **opts)
    # The journal is lost: the deterministic request numbers still prevent a second coupon.
    summary = await send_batch(wx, rows(30), batch_id="b2", journal=tmp_path / "fresh.db", **opts)
    assert summary.sent == 30
    assert len(ledger.coupons) == 30 and max(ledger.accepted.values()) == 2
    # With the journal, nothing is even re-sent.
    again = await send_batch(wx, rows(30), batch_id="b2", journal=tmp_path / "a.db", resume=True, **opts)
    assert again.sent == 0 and again.already_done == 30 and max(ledger.accepted.values()) == 2


async def test_duplicate_rows_are_reported_not_sent(wx: Client, ledger: Ledger, tmp_path: Path) -> None:
    data = [*rows(10), {"openid": "o000003"}, {"openid": "o000007"}]
    out = tmp_path / "r.csv"
    summary = await send_batch(
        wx, data, batch_id="b3", journal=tmp_path / "j.db", result_csv=out, stock_id="1", appid="wx1", qps=5000
    )
    assert summary.sent == 10 and summary.duplicates == 2 and len(ledger.coupons) == 10
    text = out.read_text()
    assert "DUPLICATE_ROW" in text and "same key as row 4" in text


async def test_stock_exhausted_stops_early_and_resume_finishes(wx: Client, ledger: Ledger, tmp_path: Path) -> None:
    ledger.budget = 25
    opts = {"stock_id": "1", "appid": "wx1", "qps": 5000, "concurrency": 4}
    summary = await send_batch(wx, rows(100), batch_id="b4", journal=tmp_path / "j.db", **opts)
    assert summary.stopped_early and "NOT_ENOUGH" in summary.stopped_early
    assert summary.sent == 25 and summary.not_sent > 50
    assert summary.failures_by_code.get("NOT_ENOUGH", 0) >= 1
    ledger.budget = 10**9  # the merchant raised the budget; NOT_ENOUGH rows are final, others resume
    resumed = await send_batch(wx, rows(100), batch_id="b4", journal=tmp_path / "j.db", resume=True, **opts)
    assert resumed.already_done == 25 + summary.failed
    assert len(ledger.coupons) == 100 - summary.failed and max(ledger.accepted.values()) == 1


async def test_product_coupon_rows_need_product_coupon_id(wx: Client, tmp_path: Path) -> None:
    summary = await send_batch(
        wx, rows(2), batch_id="b5", journal=tmp_path / "j.db", kind="product", stock_id="1", appid="wx1"
    )
    assert summary.failed == 2 and summary.failures_by_code == {"VALIDATION": 2}


async def test_progress_output(wx: Client, tmp_path: Path) -> None:
    buf = io.StringIO()
    sender = BatchSender(
        wx, batch_id="b6", journal=SqliteJournal(tmp_path / "j.db"), stock_id="1", appid="wx1", progress=buf, qps=5000
    )
    csv_in = tmp_path / "in.csv"
    csv_in.write_text("openid\n" + "\n".join(f"u{i}" for i in range(20)) + "\n")
    summary = await sender.run(csv_in)
    await sender.aclose()
    assert summary.sent == 20
    assert "20/20" in buf.getvalue() and "sent 20" in buf.getvalue()
    assert "sent now:         20" in summary.describe()


def test_request_numbers_are_deterministic_and_valid() -> None:
    a = request_number("batch", "stock:openid")
    assert a == request_number("batch", "stock:openid") != request_number("batch2", "stock:openid")
    assert len(a) == 32 and a.isalnum()


def test_row_validation() -> None:
    from wxpay_async.batch import BatchRow  # noqa: F401
    from wxpay_async.batch._rows import make_row

    with pytest.raises(ValidationError, match=r"row 3\.openid"):
        make_row(3, {"stock_id": "1"}, {})
    with pytest.raises(ValidationError, match="coupon_value"):
        make_row(1, {"openid": "o", "stock_id": "1", "coupon_value": "ten"}, {})
    assert make_row(1, {"openid": "o", "coupon_value": "100"}, {"stock_id": "9"}).fields == {"coupon_value": 100}


async def test_token_bucket_paces_and_backs_off() -> None:
    now = [0.0]

    async def sleep(d: float) -> None:
        now[0] += d

    bucket = AdaptiveTokenBucket(100, burst=1, clock=lambda: now[0], sleep=sleep)
    for _ in range(101):
        await bucket.acquire()
    assert now[0] == pytest.approx(1.0, rel=0.02)
    bucket.on_rate_limited()
    assert bucket.rate == 50 and bucket.decreases == 1
    bucket.on_rate_limited()  # within the cooldown: ignored
    assert bucket.rate == 50
    now[0] += 10
    await bucket.acquire()
    assert bucket.rate == 100  # recovered additively


async def test_two_workers_share_one_redis_journal(wx: Client, ledger: Ledger, tmp_path: Path) -> None:
    import asyncio

    from wxpay_async.batch import RedisJournal

    from .redis_server import redis_server

    with redis_server(tmp_path) as url:
        opts = {"stock_id": "1", "appid": "wx1", "concurrency": 4}
        data = rows(200)
        # A slow worker starts first, a fast one joins: both must get rows, none sent twice.
        slow = asyncio.create_task(
            send_batch(wx, data, batch_id="shared", journal=RedisJournal(url, worker="a"), qps=100, **opts)
        )
        for _ in range(200):
            if ledger.coupons:
                break
            await asyncio.sleep(0.01)
        b = await send_batch(wx, data, batch_id="shared", journal=RedisJournal(url, worker="b"), qps=5000, **opts)
        a = await slow
        assert a.sent + b.sent == 200 and a.sent > 0 and b.sent > 0
        assert len(ledger.coupons) == 200 and max(ledger.accepted.values()) == 1
        out = tmp_path / "r.csv"
        sender = BatchSender(wx, batch_id="shared", journal=RedisJournal(url, worker="c"), stock_id="1", appid="wx1")
        again = await sender.run(data)
        assert again.already_done == 200 and again.sent == 0
        assert await sender.write_results(out) == 200
        await sender.aclose()
