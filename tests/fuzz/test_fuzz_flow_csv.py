"""Fuzz: the flow CSV parser turns any bytes into rows or a typed error (FlowFormatError)."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from wxpay_async.errors import WxPayError
from wxpay_async.flows import iter_flow_rows, typed_rows

HEADER = "批次id,优惠id,优惠类型,优惠金额（元）,订单总金额（元）,支付单号,退款金额（元）\n"
cell = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"-?[0-9]{0,6}(\.[0-9]{0,4})?", fullmatch=True),
    st.sampled_from(["`12.30", "１２.３", "١٢", "1e5", "--1", ".", "-", "NaN", "\x00", '"', "\r"]),
)
rows = st.lists(st.lists(cell, min_size=0, max_size=8), max_size=6)


def _csv(table: list[list[str]]) -> str:
    return HEADER + "\n".join(",".join(r) for r in table)


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=300), rows.map(_csv), rows.map(lambda t: _csv(t).encode("utf-8"))))
def test_flow_csv_parser_raises_only_typed_errors(data: bytes | str) -> None:
    with contextlib.suppress(WxPayError):
        for row in typed_rows(iter_flow_rows(data)):
            assert row.discount_amount is None or isinstance(row.discount_amount, int)
