"""Use and refund flows of a stock: CSV files behind download links, and the (unsigned) download itself.

The moved code cites no source of its own (see the package docstring for the family's).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
from typing import Any

from .._call import Call
from .._clock import cst_date, parse_rfc3339
from .._errors import ApiError, invalid_request, param_error
from .._validate import require_str
from ._common import COUPONS, _stock

DOWNLOAD_PATH = "/v3/billdownload/file"

USE_FLOW_HEADER = [
    "批次id",
    "优惠id",
    "优惠类型",
    "优惠金额（元）",
    "订单总金额（元）",
    "交易类型",
    "支付单号",
    "消耗时间",
    "消耗商户号",
    "设备号",
    "银行流水号",
    "单品信息",
]
REFUND_FLOW_HEADER = [
    "批次id",
    "优惠id",
    "优惠类型",
    "优惠金额（元）",
    "订单总金额（元）",
    "退款单号",
    "退款时间",
    "支付单号",
    "退款金额（元）",
]


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def flow_csv(call: Call, stock: dict[str, Any], kind: str, bill_date: str | None) -> tuple[bytes, int]:
    """The use or refund flow of a stock as CSV bytes (UTF-8, header row first) and its row count."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(USE_FLOW_HEADER if kind == "use" else REFUND_FLOW_HEADER)
    rows = 0
    for coupon in sorted(call.emu.store.values(COUPONS), key=lambda c: int(c["coupon_id"])):
        if coupon["stock_id"] != stock["stock_id"]:
            continue
        info = coupon.get("consume_information") if kind == "use" else coupon.get("refund_information")
        if not info:
            continue
        when = parse_rfc3339(info.get("consume_time") or info.get("refund_time")) or 0.0
        if bill_date is not None and cst_date(when) != bill_date:
            continue
        amount = int(coupon.get("coupon_value") or 0)
        total = int(info.get("order_amount") or amount)
        # The columns both flows share (批次id, 优惠id, 优惠类型, 优惠金额, 订单总金额), then each flow's own.
        head = [f"`{stock['stock_id']}", f"`{coupon['coupon_id']}", "全场代金券", _yuan(amount), _yuan(total)]
        if kind == "use":
            writer.writerow(
                [
                    *head,
                    info.get("trade_type", "JSAPI"),
                    f"`{info.get('transaction_id', '')}",
                    info.get("consume_time", ""),
                    f"`{info.get('consume_mchid', '')}",
                    "",
                    "",
                    json.dumps(info.get("goods_detail") or [], ensure_ascii=False),
                ]
            )
        else:
            writer.writerow(
                [
                    *head,
                    f"`{info.get('refund_id', '')}",
                    info.get("refund_time", ""),
                    f"`{info.get('transaction_id', '')}",
                    _yuan(int(info.get("refund_amount") or amount)),
                ]
            )
        rows += 1
    return out.getvalue().encode("utf-8"), rows


def _flow(kind: str, by_day: bool) -> Any:
    async def handler(call: Call) -> Any:
        stock = _stock(call, call.params["stock_id"])
        if stock["stock_creator_mchid"] != call.mchid:
            raise ApiError(404, "RESOURCE_NOT_EXISTS", f"批次不存在: stock {stock['stock_id']}")
        bill_date = None
        if by_day:
            bill_date = require_str(call.query, "bill_date", location="query")
            if parse_rfc3339(f"{bill_date}T00:00:00+08:00") is None:
                raise param_error("bill_date", "must be YYYY-MM-DD", bill_date, location="query")
        content, rows = flow_csv(call, stock, kind, bill_date)
        digest = hashlib.sha1(content).hexdigest()
        token = secrets.token_urlsafe(24)
        call.emu.downloads[token] = (content, call.emu.now() + call.emu.config.download_ttl)
        url = f"{call.origin}{DOWNLOAD_PATH}?token={token}"
        answer: dict[str, Any] = {"url": url, "hash_value": digest, "hash_type": "SHA1"}
        if by_day:
            answer[f"stock_{kind}flow_hash"] = digest
            answer[f"stock_{kind}flow_count"] = str(rows)
        return answer

    handler.__name__ = f"{kind}_flow{'_by_day' if by_day else ''}"
    return handler


async def download_file(call: Call) -> Any:
    """The flow file itself: needs a valid Authorization like every call, but is not signed."""
    from aiohttp import web

    token = call.query.get("token", "")
    now = call.emu.now()
    for stale in [t for t, (_, expires) in call.emu.downloads.items() if expires <= now]:
        del call.emu.downloads[stale]
    entry = call.emu.downloads.get(token)
    if entry is None:
        raise invalid_request("下载链接已失效: unknown or expired download token", field="token")
    return web.Response(body=entry[0], content_type="text/csv", charset="utf-8")
