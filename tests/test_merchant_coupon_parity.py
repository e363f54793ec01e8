"""Field parity with the official Go models: every merchant-coupon field wechatpay-go has, we have, same name.

``tests/official/go-models-merchant-coupon.json`` lists, per operation, the json field names of
wechatpay-go's ``services/merchantexclusivecoupon`` request and answer models (nested objects dotted).
Any official field our spec lacks, names differently or places elsewhere (path/query/body) fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wxpay_async.validation import operations

OFFICIAL = json.loads((Path(__file__).parent / "official" / "go-models-merchant-coupon.json").read_text("utf-8"))


def dotted(schema: dict[str, Any] | None, prefix: str = "") -> list[str]:
    out: list[str] = []
    node = schema or {}
    while node.get("type") == "array":
        node = node.get("items") or {}
    for name, sub in (node.get("properties") or {}).items():
        out.append(prefix + name)
        out += dotted(sub, f"{prefix}{name}.")
    return out


def test_every_merchant_coupon_operation_is_an_official_one() -> None:
    ours = {name for name, op in operations().items() if op["group"] == "merchant_coupon"}
    assert ours == set(OFFICIAL["operations"])


@pytest.mark.parametrize("name", sorted(OFFICIAL["operations"]))
def test_fields_match_the_go_models(name: str) -> None:
    official = OFFICIAL["operations"][name]
    op = operations()[name]
    assert official["source"] in op["sources"]
    assert sorted(p["name"] for p in op["path_params"]) == official["path"]
    assert sorted(p["name"] for p in op["query_params"]) == official["query"]
    if official["body"] is None:
        assert op["body"] is None
    else:
        assert sorted(dotted(op["body"])) == official["body"]
    if official["response"] is None:
        assert op["response"] is None
    else:
        assert sorted(dotted(op["response"])) == official["response"]


def test_the_check_sees_a_missing_or_renamed_field() -> None:
    op = operations()["merchant_coupon.use_coupon"]
    body = json.loads(json.dumps(op["body"]))
    body["properties"]["use_request_number"] = body["properties"].pop("use_request_no")
    assert sorted(dotted(body)) != OFFICIAL["operations"]["merchant_coupon.use_coupon"]["body"]
