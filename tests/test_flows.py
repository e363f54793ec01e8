"""Flow file download: signed, streamed, hash-checked before anything is returned."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from aiohttp import web

from wxpay_async import Client
from wxpay_async.errors import FlowIntegrityError, NotFoundError, ValidationError
from wxpay_async.flows import aiter_flow_file, download_flow, iter_flow_rows

from .fake_wechat import FakeWeChat, Reply

CSV = (
    "批次id,优惠id,优惠类型,核销时间,核销金额\n"
    + "".join(f"`9856000,`{10000 + i},全场代金券,2025-01-01 10:00:{i % 60:02d},100\n" for i in range(500))
).encode("utf-8")


@pytest.fixture
def flow_url(fake: FakeWeChat, server: object) -> str:
    def serve(request: web.Request, body: bytes) -> Reply:
        assert request.headers["Authorization"].startswith("WECHATPAY2-SHA256-RSA2048 ")
        return Reply(body=CSV, signature="none", headers={"Content-Type": "text/csv"})

    fake.handlers[("GET", "/v3/billdownload/file")] = serve
    return str(server.make_url("/v3/billdownload/file?token=abc"))  # type: ignore[attr-defined]


async def test_download_to_memory_checks_sha1_and_parses(client: Client, fake: FakeWeChat, flow_url: str) -> None:
    data = await download_flow(client, flow_url, hashlib.sha1(CSV).hexdigest())
    assert data == CSV
    assert fake.received[-1].target == "/v3/billdownload/file?token=abc"  # signed over this target
    rows = list(iter_flow_rows(data))
    assert len(rows) == 500 and rows[0]["批次id"] == "9856000" and rows[0]["优惠id"] == "10000"


async def test_download_to_path_and_stream_rows(client: Client, flow_url: str, tmp_path: Path) -> None:
    out = tmp_path / "use-flow.csv"
    assert await download_flow(client, flow_url, hashlib.sha1(CSV).hexdigest().upper(), to=out) == out
    rows = [row async for row in aiter_flow_file(out)]
    assert len(rows) == 500 and rows[-1]["优惠id"] == "10499"


async def test_tampered_file_is_rejected_and_nothing_left(client: Client, flow_url: str, tmp_path: Path) -> None:
    out = tmp_path / "use-flow.csv"
    wrong = hashlib.sha1(CSV + b"x").hexdigest()
    with pytest.raises(FlowIntegrityError) as info:
        await download_flow(client, flow_url, wrong, to=out)
    assert info.value.expected == wrong and info.value.actual == hashlib.sha1(CSV).hexdigest()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FlowIntegrityError):
        await download_flow(client, flow_url, wrong)


async def test_download_limits_and_errors(client: Client, flow_url: str, fake: FakeWeChat) -> None:
    with pytest.raises(ValidationError, match="max_bytes"):
        await download_flow(client, flow_url, hashlib.sha1(CSV).hexdigest(), max_bytes=100)
    with pytest.raises(ValidationError, match="hash_type"):
        await download_flow(client, flow_url, "00", hash_type="MD5")
    with pytest.raises(ValidationError, match="absolute"):
        await download_flow(client, "/v3/billdownload/file", "00")
    fake.queue(Reply(status=404, body={"code": "RESOURCE_NOT_EXISTS", "message": "expired"}, signature="none"))
    with pytest.raises(NotFoundError):
        await download_flow(client, flow_url, "00")


def test_typed_rows_amounts_in_fen() -> None:
    from wxpay_async.flows import typed_rows

    use = "批次id,优惠id,优惠类型,优惠金额（元）,订单总金额（元）,交易类型,支付单号,消耗时间,消耗商户号\n`1,`2,全场代金券,10.50,128.00,JSAPI,`42,2025-01-01 10:00:00,`19\n"
    row = next(typed_rows(iter_flow_rows(use)))
    assert (row.stock_id, row.coupon_id, row.discount_amount, row.order_amount) == ("1", "2", 1050, 12800)
    assert (row.trade_type, row.transaction_id, row.consume_mchid) == ("JSAPI", "42", "19")
    refund = "批次id,优惠id,优惠类型,优惠金额(元),订单总金额(元),退款单号,退款时间,支付单号,退款金额(元)\n1,2,x,0.05,1.00,R9,t,42,0.5\n"
    r = next(typed_rows(iter_flow_rows(refund)))
    assert (r.discount_amount, r.refund_id, r.refund_amount) == (5, "R9", 50)
