"""Fault injection: every kind, scripted and by seeded rate, and the ledger proving exactly-once."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from wxpay_async.crypto import SIGNTEST_PREFIX
from wxpay_async.emulator import EmulatorKeys, Fault, FaultInjector, RateRule

from .emulator_helpers import running_stock, send_body, started

FAVOR = "/v3/marketing/favor"
SEND = f"{FAVOR}/users/o1/coupons"
DISCONNECTS = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError)


@pytest.fixture(scope="module")
def keys() -> EmulatorKeys:
    return EmulatorKeys.generate()


def _request_record(ledger: dict[str, object], number: str) -> dict[str, int]:
    requests = ledger["requests"]
    assert isinstance(requests, list)
    return next(r for r in requests if r["request_no"] == number)


async def test_drop_after_processing_then_retry_is_exactly_once(keys: EmulatorKeys) -> None:
    async with started(keys) as (running, client):
        stock_id = await running_stock(client)
        running.push_faults({"kind": "drop_after", "method": "POST", "path_prefix": f"{FAVOR}/users/"})
        with pytest.raises(DISCONNECTS):
            await client.post(SEND, send_body(client, stock_id, "x1"))
        ledger = running.ledger()
        assert len(ledger["coupons"]) == 1, "processed although the answer was lost"
        retry = await client.post(SEND, send_body(client, stock_id, "x1"))
        assert retry.status == 200
        ledger = running.ledger()
        assert len(ledger["coupons"]) == 1
        assert retry.json()["coupon_id"] == ledger["coupons"][0]["coupon_id"]
        record = _request_record(ledger, "x1")
        assert (record["issued"], record["processed"], record["accepted"]) == (1, 2, 1)


async def test_drop_before_processing_issues_nothing(keys: EmulatorKeys) -> None:
    async with started(keys) as (running, client):
        stock_id = await running_stock(client)
        running.push_faults({"kind": "drop_before", "path_prefix": f"{FAVOR}/users/"})
        with pytest.raises(DISCONNECTS):
            await client.post(SEND, send_body(client, stock_id, "d1"))
        assert running.ledger()["coupons"] == []
        assert (await client.post(SEND, send_body(client, stock_id, "d1"))).status == 200
        assert len(running.ledger()["coupons"]) == 1


@pytest.mark.parametrize(
    ("kind", "status", "code"), [("rate_limit", 429, "FREQUENCY_LIMIT_EXCEED"), ("system_error", 500, "SYSTEM_ERROR")]
)
async def test_status_faults_are_signed_and_not_processed(
    keys: EmulatorKeys, kind: str, status: int, code: str
) -> None:
    async with started(keys) as (running, client):
        stock_id = await running_stock(client)
        running.push_faults({"kind": kind, "method": "POST", "path_prefix": SEND})
        reply = await client.post(SEND, send_body(client, stock_id, "s1"))
        assert (reply.status, reply.code) == (status, code)
        assert client.verify(reply)
        if kind == "rate_limit":
            assert reply.headers["Retry-After"] == "1"
        assert running.ledger()["coupons"] == []
        assert (await client.post(SEND, send_body(client, stock_id, "s1"))).status == 200


async def test_custom_status_fault(keys: EmulatorKeys) -> None:
    async with started(keys) as (running, client):
        running.push_faults(
            {"kind": "rate_limit", "code": "RATELIMIT_EXCEEDED"}, {"kind": "system_error", "status": 503}
        )
        first = await client.get("/v3/certificates")
        second = await client.get("/v3/certificates")
        assert (first.status, first.code) == (429, "RATELIMIT_EXCEEDED")
        assert (second.status, second.code) == (503, "SYSTEM_ERROR")


async def test_slow_answer_still_answers(keys: EmulatorKeys) -> None:
    async with started(keys) as (running, client):
        running.push_faults({"kind": "slow", "delay": 0.2})
        reply = await client.get("/v3/certificates")
        assert reply.status == 200 and client.verify(reply)


async def test_timeout_fault(keys: EmulatorKeys) -> None:
    async with started(keys) as (running, client):
        stock_id = await running_stock(client)
        running.push_faults({"kind": "timeout", "delay": 30})
        with pytest.raises((asyncio.TimeoutError, *DISCONNECTS)):
            await client.request("POST", SEND, json_body=send_body(client, stock_id, "t1"), timeout=0.5)
        assert running.ledger()["coupons"] == []
        assert (await client.post(SEND, send_body(client, stock_id, "t1"))).status == 200


@pytest.mark.parametrize("kind", ["bad_signature", "signtest"])
async def test_signature_faults_do_not_verify(keys: EmulatorKeys, kind: str) -> None:
    async with started(keys) as (running, client):
        running.push_faults({"kind": kind})
        reply = await client.get("/v3/certificates")
        assert reply.status == 200
        assert not client.verify(reply)
        if kind == "signtest":
            assert reply.headers["Wechatpay-Signature"].startswith(SIGNTEST_PREFIX)
        assert client.verify(await client.get("/v3/certificates"))


async def test_skewed_answer_timestamp(keys: EmulatorKeys) -> None:
    async with started(keys) as (running, client):
        running.push_faults({"kind": "skew", "skew": -900})
        reply = await client.get("/v3/certificates")
        assert client.verify(reply), "the signature is genuine; only the timestamp is stale"
        assert time.time() - int(reply.headers["Wechatpay-Timestamp"]) > 800


async def test_rotation_fault_signs_with_an_unseen_certificate(keys: EmulatorKeys) -> None:
    async with started(keys, mode="certificate") as (running, client):
        known = {p.serial for p in running.keys.platform}
        running.push_faults({"kind": "rotate_certificate"})
        reply = await client.get("/v3/marketing/favor/callbacks", mchid=client.mchid)
        assert reply.headers["Wechatpay-Serial"] not in known
        listed = await client.get("/v3/certificates")
        serials = [c["serial_no"] for c in listed.json()["data"]]
        assert reply.headers["Wechatpay-Serial"] in serials
        assert client.verify(reply)


async def test_script_filters_and_order(keys: EmulatorKeys) -> None:
    async with started(keys) as (running, client):
        running.push_faults(
            {"kind": "system_error", "method": "POST", "path_prefix": SEND},
            {"kind": "rate_limit", "path_prefix": "/v3/certificates", "times": 2},
        )
        assert (await client.get("/v3/marketing/favor/callbacks", mchid=client.mchid)).code == "RESOURCE_NOT_EXISTS"
        assert (await client.get("/v3/certificates")).status == 429
        assert (await client.get("/v3/certificates")).status == 429
        assert (await client.get("/v3/certificates")).status == 200
        assert len(running.emulator.faults.script) == 1
        async with client.session.post(running.base_url + "/_emulator/faults", json={"clear": True}) as r:
            assert (await r.json())["script"] == []


async def test_rate_faults_by_admin_api_are_seeded(keys: EmulatorKeys) -> None:
    async with started(keys) as (running, client):
        rule = {"kind": "system_error", "probability": 0.5, "path_prefix": "/v3/certificates"}
        outcomes = []
        for _ in range(2):
            async with client.session.post(
                running.base_url + "/_emulator/faults", json={"seed": 7, "rates": [rule]}
            ) as r:
                assert r.status == 200
            outcomes.append([(await client.get("/v3/certificates")).status for _ in range(12)])
        assert outcomes[0] == outcomes[1]
        assert set(outcomes[0]) == {200, 500}


def test_injector_is_deterministic_per_seed() -> None:
    def draw(seed: int) -> list[str | None]:
        injector = FaultInjector(seed)
        injector.set_rates([RateRule(fault=Fault(kind="rate_limit"), probability=0.3)])
        picks = [injector.pick("POST", "/v3/x") for _ in range(50)]
        return [p.kind if p else None for p in picks]

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)
    with pytest.raises(ValueError):
        Fault.from_dict({"kind": "rate_limit", "bogus": 1})
