"""What type checkers see: mypy --strict over small user programs (typos must fail, types must be real)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api", reason="mypy is in the test extra; not installed here")

PROGRAM = """
from pathlib import Path
from wxpay_async import Client, RawResponse
from wxpay_async.batch import send_batch
from wxpay_async.models.favor import GetStockResponse, ListedStock, SendCouponResponse
from wxpay_async.pagination import Page
from wxpay_async.transports import HttpxTransport


async def main(wx: Client) -> None:
    transport = HttpxTransport()
    reveal_type(transport)
    sent = await wx.favor.send_coupon("o", stock_id="1", appid="wx", stock_creator_mchid="1")
    number: str = sent.out_request_no
    raw = await wx.favor.with_raw_response.get_stock("1", stock_creator_mchid="1")
    stock: GetStockResponse = raw.parse()
    listed = await wx.favor.with_raw_response.list_stocks(stock_creator_mchid="1")
    page: Page[ListedStock] = listed.parse()
    r: RawResponse[SendCouponResponse] = await wx.favor.with_raw_response.send_coupon(
        "o", stock_id="1", appid="wx", stock_creator_mchid="1"
    )
    await send_batch(wx, Path("rows.csv"), batch_id="b", qps=10.0)
    await send_batch(wx, Path("rows.csv"), batch_id="b", qsp=10.0)  # the typo: an error
    print(number, stock, page, r)
"""


def test_mypy_sees_real_types_and_refuses_typos(tmp_path: Path) -> None:
    program = tmp_path / "user_program.py"
    program.write_text(textwrap.dedent(PROGRAM), encoding="utf-8")
    out, _err, _status = mypy_api.run(
        [
            "--strict",
            "--no-incremental",
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(program),
        ]
    )
    lines = [line for line in out.splitlines() if "user_program.py" in line]
    assert any('Revealed type is "wxpay_async.transports._httpx.HttpxTransport"' in line for line in lines), out
    errors = [line for line in lines if ": error:" in line]
    assert len(errors) == 1 and '"qsp"' in errors[0], out
