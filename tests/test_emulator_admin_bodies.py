"""Admin bodies are checked: an unknown key, a wrong type or a bare fault object is a 400, not a no-op."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import ClientSession

from wxpay_async.emulator import run_emulator
from wxpay_async.emulator._admin import ADMIN_BODIES


async def _post(url: str, body: Any) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    async with ClientSession() as session, session.post(url, data=data, headers=headers) as r:
        return r.status, await r.json(content_type=None)


REFUSED: list[tuple[str, Any, str]] = [
    ("faults", {"kind": "timeout"}, "kind"),  # a bare fault object: used to answer 200 and do nothing
    ("faults", {}, "body"),
    ("faults", {"push": {"kind": "timeout"}}, "push"),
    ("faults", {"push": [{"kind": "timeout", "delai": 1}]}, "push[0].delai"),
    ("faults", {"push": [{"path_prefix": "/v3/"}]}, "push[0].kind"),
    ("faults", {"push": [{"kind": "timeout", "times": "2"}]}, "push[0].times"),
    ("faults", {"rates": [{"kind": "timeout"}]}, "rates[0].probability"),
    ("faults", {"rates": [{"kind": "timeout", "probability": 2}]}, "rates[0].probability"),
    ("faults", {"push": [{"kind": "explode"}]}, "push[0].kind"),
    ("faults", {"clear": "yes"}, "clear"),
    ("faults", [{"kind": "timeout"}], "body"),
    ("clock", {"skew": "400"}, "skew"),
    ("clock", {"skw": 400}, "skw"),
    ("clock", {"skew": True}, "skew"),
    ("rate-limit", {"burst": 2}, "rate"),
    ("rate-limit", {"rate": 5, "bursts": 2}, "bursts"),
    ("rotate-certificate", {"delay": 1, "expire": 3}, "expire"),
    ("coupons/1/use", {"amount": 100}, "amount"),
    ("coupons/1/use", {"order_amount": "100"}, "order_amount"),
    ("coupons/1/refund", {"refund": 1}, "refund"),
]


@pytest.mark.parametrize(("path", "body", "field"), REFUSED, ids=[f"{p}:{f}" for p, _, f in REFUSED])
async def test_unknown_keys_and_shapes_are_refused(path: str, body: Any, field: str) -> None:
    async with run_emulator(send_rate=0) as running:
        before = running.emulator.faults.describe()
        skew = running.emulator.clock.skew
        status, answer = await _post(f"{running.base_url}/_emulator/{path}", body)
        assert status == 400 and answer["code"] == "PARAM_ERROR", answer
        assert answer["detail"]["field"] == field, answer
        assert running.emulator.faults.describe() == before and running.emulator.clock.skew == skew


async def test_well_formed_bodies_are_applied() -> None:
    async with run_emulator(send_rate=0) as running:
        base = f"{running.base_url}/_emulator"
        status, answer = await _post(f"{base}/faults", {"push": [{"kind": "timeout", "times": 2, "delay": 0.1}]})
        assert status == 200 and len(answer["script"]) == 2, answer
        status, _ = await _post(
            f"{base}/faults", {"clear": True, "seed": 3, "rates": [{"kind": "system_error", "probability": 0.5}]}
        )
        assert status == 200
        status, answer = await _post(f"{base}/clock", {"skew": 12.5})
        assert status == 200 and answer["skew"] == 12.5
        status, answer = await _post(f"{base}/rate-limit", {"rate": 50, "burst": 5})
        assert status == 200 and answer["burst"] == 5
        status, _ = await _post(f"{base}/rotate-certificate", {})
        assert status == 200
        status, answer = await _post(f"{base}/faults", b"{not json")
        assert status == 400 and answer["detail"]["field"] == "body"


def test_every_admin_body_is_documented() -> None:
    from pathlib import Path

    guide = (Path(__file__).resolve().parent.parent / "docs" / "guides" / "emulator-admin.md").read_text(
        encoding="utf-8"
    )
    for shape, fields in ADMIN_BODIES.items():
        for name in fields:
            assert f"`{name}`" in guide, (shape, name)
    for route in (
        "/faults",
        "/coupons/{coupon_id}/use",
        "/coupons/{coupon_id}/refund",
        "/rotate-certificate",
        "/clock",
        "/rate-limit",
        "/notifications",
        "/ledger",
        "/config",
        "/media/{media_id}",
    ):
        assert f"/_emulator{route}" in guide, route
