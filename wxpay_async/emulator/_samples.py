"""Request bodies that pass WeChat Pay's rules, for demos, tests and benchmarks."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from .._converter import CHINA_TZ
from ..validation import parse_rfc3339

if TYPE_CHECKING:
    from .._client import Client


def sample_stock(
    mchid: str,
    *,
    max_coupons: int,
    coupon_amount: int = 100,
    transaction_minimum: int = 200,
    max_coupons_per_user: int = 1,
    name: str = "SDK sample stock",
    starts_in: dt.timedelta = dt.timedelta(minutes=-1),
    lasts: dt.timedelta = dt.timedelta(days=7),
) -> dict[str, Any]:
    """A ``POST /v3/marketing/favor/coupon-stocks`` body (without ``out_request_no``).

    ``max_amount`` is ``coupon_amount × max_coupons``, the rule WeChat Pay enforces.
    """
    begin = dt.datetime.now(CHINA_TZ).replace(microsecond=0) + starts_in
    return {
        "stock_name": name,
        "belong_merchant": mchid,
        "available_begin_time": begin.isoformat(),
        "available_end_time": (begin + lasts).isoformat(),
        "stock_use_rule": {
            "max_coupons": max_coupons,
            "max_amount": coupon_amount * max_coupons,
            "max_coupons_per_user": max_coupons_per_user,
            "natural_person_limit": False,
            "prevent_api_abuse": False,
        },
        "coupon_use_rule": {
            "fixed_normal_coupon": {"coupon_amount": coupon_amount, "transaction_minimum": transaction_minimum},
            "available_merchants": [mchid],
        },
        "no_cash": False,
        "stock_type": "NORMAL",
    }


async def create_running_stock(client: Client, *, max_coupons: int, **options: Any) -> str:
    """Create and start a stock from :func:`sample_stock`; return its id (tests, benchmarks)."""
    created = await client.favor.create_stock(**sample_stock(client.mchid, max_coupons=max_coupons, **options))
    await client.favor.start_stock(created.stock_id, stock_creator_mchid=client.mchid)
    return created.stock_id


def sample_from_schema(schema: dict[str, Any], name: str = "") -> Any:
    """A value for ``schema`` from its examples (request numbers made valid)."""
    kind = schema.get("type")
    if kind == "object":
        return {k: sample_from_schema(v, k) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [sample_from_schema(schema.get("items") or {}, name)]
    if "enum" in schema:
        return schema["enum"][0]
    if name.endswith("request_no"):
        return "REQ_20261125_0001"
    if schema.get("format") == "rfc3339":  # an RFC 3339 date-time with an offset (validation.RFC3339)
        example = schema.get("example")
        return example if parse_rfc3339(example) is not None else "2026-11-25T10:00:00+08:00"
    if "example" in schema and not isinstance(schema["example"], dict | list):
        example = schema["example"]
        if kind == "integer":
            return int(example)
        if kind == "boolean":
            return example if isinstance(example, bool) else str(example).lower() == "true"
        return example if kind != "string" else str(example)
    if name == "notify_url":
        return "https://www.example.com/notify"
    if kind == "string":  # (merchant-coupon definitions carry no examples: keep within maxLength)
        return f"{name or 'x'}-value"[: schema.get("maxLength")]
    return {"integer": 1, "number": 1.5, "boolean": True}.get(str(kind), f"{name or 'x'}-value")
