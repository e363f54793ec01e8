"""The request path end to end against a real aiohttp server on 127.0.0.1 with real keys."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from wxpay_async import Client, RetryPolicy
from wxpay_async.errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ConfigurationError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    SignatureVerificationError,
    ValidationError,
)
from wxpay_async.middleware import REQUEST_NUMBER_PATTERN
from wxpay_async.transports import AiohttpTransport, HttpxTransport, InProcessTransport

from .conftest import MCHID, client_kwargs
from .fake_wechat import FakeWeChat, Reply

SEND_PATH = "/v3/marketing/favor/users/{openid}/coupons"


async def test_post_is_signed_over_exact_bytes_and_verified(client: Client, fake: FakeWeChat) -> None:
    body = {"stock_id": "9856000", "appid": "wx233544546545989", "note": "满100减10"}
    r = await client.request("POST", SEND_PATH, path_params={"openid": "o-user/1"}, json=body)
    assert r.status == 200 and r.verified
    got = fake.received[-1]
    # The server verified the signature over these exact bytes (it answers 401 otherwise).
    assert got.target == "/v3/marketing/favor/users/o-user%2F1/coupons"
    assert got.body == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Accept"] == "application/json"
    assert got.headers["User-Agent"].startswith("wxpay-async/")
    assert got.headers["Wechatpay-Serial"] == fake.platform_certs[0].serial
    assert got.auth["mchid"] == MCHID and got.auth["serial_no"] == fake.merchant.serial
    assert re.fullmatch(r"[0-9A-Za-z]{32}", got.auth["nonce_str"])


async def test_get_with_query_signs_the_encoded_target(client: Client, fake: FakeWeChat) -> None:
    r = await client.request(
        "GET",
        "/v3/marketing/favor/stocks",
        query={"offset": 0, "limit": 10, "stock_creator_mchid": MCHID, "status": None, "name": "a b&c=中"},
    )
    assert (
        r.json()["target"]
        == f"/v3/marketing/favor/stocks?offset=0&limit=10&stock_creator_mchid={MCHID}&name=a%20b%26c%3D%E4%B8%AD"
    )
    assert fake.received[-1].body == b""


async def test_idempotency_field_filled_once_and_reported(client: Client, fake: FakeWeChat) -> None:
    r = await client.request(
        "POST", SEND_PATH, path_params={"openid": "o1"}, json={"stock_id": "1"}, idempotency_field="out_request_no"
    )
    key = r.request.idempotency_key
    # The mchid leads as far as the strictest family's 32 characters leave room (time + 16 hex: 30).
    assert key is not None and REQUEST_NUMBER_PATTERN.match(key) and key.startswith(MCHID[:2]) and len(key) == 32
    assert json.loads(fake.received[-1].body)["out_request_no"] == key
    r2 = await client.request(
        "POST",
        SEND_PATH,
        path_params={"openid": "o1"},
        json={"stock_id": "1", "out_request_no": "mine_1"},
        idempotency_field="out_request_no",
    )
    assert r2.request.idempotency_key == "mine_1"
    assert json.loads(fake.received[-1].body)["out_request_no"] == "mine_1"


async def test_500_then_200_retries_once_with_identical_body_and_fresh_signature(
    client: Client, fake: FakeWeChat
) -> None:
    fake.queue(Reply(status=500, body={"code": "SYSTEM_ERROR", "message": "busy"}))
    r = await client.request(
        "POST", SEND_PATH, path_params={"openid": "o1"}, json={"stock_id": "1"}, idempotency_field="out_request_no"
    )
    assert r.status == 200
    first, second = fake.received[-2:]
    assert first.body == second.body
    assert json.loads(first.body)["out_request_no"] == r.request.idempotency_key
    assert first.auth["nonce_str"] != second.auth["nonce_str"]
    assert first.auth["signature"] != second.auth["signature"]


async def test_429_with_retry_after_is_retried(client: Client, fake: FakeWeChat) -> None:
    fake.queue(
        Reply(status=429, body={"code": "FREQUENCY_LIMITED", "message": "slow down"}, headers={"Retry-After": "0"})
    )
    r = await client.request("GET", "/v3/marketing/favor/stocks/1")
    assert r.status == 200 and len(fake.received) == 2


async def test_non_idempotent_post_is_never_retried(client: Client, fake: FakeWeChat) -> None:
    fake.queue(Reply(status=500, body={"code": "SYSTEM_ERROR", "message": "busy"}))
    with pytest.raises(InternalServerError) as info:
        await client.request("POST", "/v3/marketing/favor/callbacks", json={"mchid": MCHID})
    assert info.value.code == "SYSTEM_ERROR" and len(fake.received) == 1


async def test_retries_exhausted_raise_with_request_number(client: Client, fake: FakeWeChat) -> None:
    fake.queue(*[Reply(status=503, body={"code": "SYSTEM_ERROR", "message": "x"}) for _ in range(4)])
    with pytest.raises(InternalServerError) as info:
        await client.request(
            "POST", SEND_PATH, path_params={"openid": "o1"}, json={"a": 1}, idempotency_field="out_request_no"
        )
    assert len(fake.received) == 4
    assert info.value.idempotency_key == json.loads(fake.received[0].body)["out_request_no"]
    assert info.value.request_id


async def test_connection_reset_is_retried_for_idempotent_call(client: Client, fake: FakeWeChat) -> None:
    fake.queue(Reply(drop=True))
    r = await client.request(
        "POST", SEND_PATH, path_params={"openid": "o1"}, json={"a": 1}, idempotency_field="out_request_no"
    )
    assert r.status == 200 and len(fake.received) == 2
    assert fake.received[0].body == fake.received[1].body


async def test_connection_reset_not_retried_without_request_number(client: Client, fake: FakeWeChat) -> None:
    fake.queue(Reply(drop=True))
    with pytest.raises(APIConnectionError):
        await client.request("POST", "/v3/marketing/favor/callbacks", json={"mchid": MCHID})
    assert len(fake.received) == 1


async def test_timeout_raises_and_carries_request_number(fake: FakeWeChat, server: TestServer) -> None:
    fake.queue(*[Reply(delay=2) for _ in range(2)])
    async with Client(**client_kwargs(fake, server, retry=RetryPolicy(max_attempts=2, backoff_base=0.01))) as wx:
        with pytest.raises(APITimeoutError) as info:
            await wx.request(
                "POST",
                SEND_PATH,
                path_params={"openid": "o1"},
                json={"a": 1},
                idempotency_field="out_request_no",
                timeout=0.3,
            )
    assert info.value.idempotency_key == json.loads(fake.received[-1].body)["out_request_no"]
    assert len(fake.received) == 3  # the certificate download, then two attempts


async def test_overall_deadline_bounds_all_attempts(fake: FakeWeChat, server: TestServer) -> None:
    fake.queue(*[Reply(delay=0.4) for _ in range(10)])
    policy = RetryPolicy(max_attempts=10, deadline=1.0, backoff_base=0.01)
    async with Client(**client_kwargs(fake, server, retry=policy)) as wx:
        with pytest.raises(APITimeoutError):
            await wx.request("GET", "/v3/marketing/favor/stocks/1", timeout=0.3)
    assert 2 <= len(fake.received) - 1 <= 4


async def test_discarded_responses_release_connections(fake: FakeWeChat, server: TestServer) -> None:
    # One pooled connection: a leaked retry response would block the next attempt until timeout.
    fake.queue(*[Reply(status=502, body={"code": "SYSTEM_ERROR", "message": "x"}) for _ in range(3)])
    transport = AiohttpTransport(limit=1, timeout=2)
    async with Client(**client_kwargs(fake, server, transport=transport, close_transport=True)) as wx:
        r = await wx.request("GET", "/v3/marketing/favor/stocks/1")
        assert r.status == 200


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (Reply(signature="bad"), "does not match"),
        (Reply(signature="wrong_key"), "does not match"),
        (Reply(signature="signtest"), "SIGNTEST"),
        (Reply(signature="none"), "no WeChat Pay signature"),
        (Reply(skew=400), "away from local time"),
    ],
)
async def test_bad_response_signatures_are_rejected(client: Client, fake: FakeWeChat, reply: Reply, match: str) -> None:
    fake.queue(reply)
    with pytest.raises(SignatureVerificationError, match=match):
        await client.request("GET", "/v3/marketing/favor/stocks/1")


async def test_skew_within_300s_is_accepted(client: Client, fake: FakeWeChat) -> None:
    fake.queue(Reply(skew=-290))
    assert (await client.request("GET", "/v3/marketing/favor/stocks/1")).verified


async def test_skewed_local_clock_is_rejected(fake: FakeWeChat, server: TestServer) -> None:
    # Our clock runs 10 minutes fast: WeChat Pay refuses our timestamp (401 SIGN_ERROR).
    import time

    async with Client(**client_kwargs(fake, server, mode="public_key", clock=lambda: time.time() + 600)) as wx:
        with pytest.raises(Exception) as info:
            await wx.request("GET", "/v3/marketing/favor/stocks/1")
    assert getattr(info.value, "code", None) == "SIGN_ERROR" or isinstance(info.value, SignatureVerificationError)


async def test_unsigned_error_responses_still_map_to_status_errors(client: Client, fake: FakeWeChat) -> None:
    fake.queue(Reply(status=404, body={"code": "RESOURCE_NOT_EXISTS", "message": "no such stock"}, signature="none"))
    with pytest.raises(NotFoundError, match="RESOURCE_NOT_EXISTS"):
        await client.request("GET", "/v3/marketing/favor/stocks/1")


async def test_error_mapping_carries_everything(client: Client, fake: FakeWeChat) -> None:
    fake.queue(
        Reply(
            status=400,
            body={
                "code": "PARAM_ERROR",
                "message": "bad stock_name",
                "detail": {"field": "stock_name", "issue": "too long"},
            },
        )
    )
    with pytest.raises(BadRequestError) as info:
        await client.request(
            "POST", "/v3/marketing/favor/coupon-stocks", json={"stock_name": "x"}, idempotency_field="out_request_no"
        )
    err = info.value
    assert (err.status, err.code, err.field) == (400, "PARAM_ERROR", "stock_name")
    assert err.request_id and err.idempotency_key and err.idempotency_key in str(err)


async def test_rate_limit_error_after_retries(fake: FakeWeChat, server: TestServer) -> None:
    fake.queue(*[Reply(status=429, body={"code": "RATELIMIT_EXCEEDED", "message": "x"}) for _ in range(2)])
    async with Client(**client_kwargs(fake, server, retry=RetryPolicy(max_attempts=2, backoff_base=0.01))) as wx:
        with pytest.raises(RateLimitError):
            await wx.request("GET", "/v3/marketing/favor/stocks/1")


async def test_unknown_serial_triggers_one_refresh(
    fake: FakeWeChat, server: TestServer, platform_keys_next: Any
) -> None:
    async with Client(**client_kwargs(fake, server)) as wx:
        assert fake.certificates_served == 1
        fake.platform_certs.append(platform_keys_next)  # WeChat Pay rotates
        fake.queue(Reply(serial=platform_keys_next.serial))
        r = await wx.request("GET", "/v3/marketing/favor/stocks/1")
        assert r.verified and fake.certificates_served == 2
        # The old certificate is kept until it expires.
        assert wx.key_source.current_verifier().knows(fake.platform_certs[0].serial)


async def test_unknown_serial_after_refresh_is_rejected(fake: FakeWeChat, server: TestServer) -> None:
    async with Client(**client_kwargs(fake, server)) as wx:
        fake.queue(Reply(serial="0123456789ABCDEF"))
        with pytest.raises(SignatureVerificationError, match="no platform key"):
            await wx.request("GET", "/v3/marketing/favor/stocks/1")
        assert fake.certificates_served == 2  # one on-demand refresh was tried
        fake.queue(Reply(serial="0123456789ABCDEF"))
        with pytest.raises(SignatureVerificationError, match="no platform key"):
            await wx.request("GET", "/v3/marketing/favor/stocks/1")
        assert fake.certificates_served == 2  # the same unknown serial does not hammer the endpoint


async def test_public_key_mode_never_downloads_certificates(fake: FakeWeChat, server: TestServer) -> None:
    async with Client(**client_kwargs(fake, server, mode="public_key")) as wx:
        r = await wx.request("GET", "/v3/marketing/favor/stocks/1")
    assert r.verified and fake.certificates_served == 0
    assert fake.received[-1].headers["Wechatpay-Serial"] == fake.public_key_id


async def test_combined_mode_verifies_both_kinds(fake: FakeWeChat, server: TestServer) -> None:
    async with Client(**client_kwargs(fake, server, mode="combined")) as wx:
        fake.queue(Reply(serial=fake.platform_certs[0].serial), Reply(serial=fake.public_key_id))
        assert (await wx.request("GET", "/v3/x")).verified
        assert (await wx.request("GET", "/v3/x")).verified
    assert fake.certificates_served == 1


async def test_certificates_response_must_be_signed_by_its_own_certificates(
    fake: FakeWeChat, server: TestServer
) -> None:
    fake.queue(Reply(body=fake.certificates_body(), signature="wrong_key", certificates=True))
    with pytest.raises(SignatureVerificationError, match="not signed by any certificate"):
        async with Client(**client_kwargs(fake, server)):
            pass


@pytest.mark.parametrize("transport_name", ["aiohttp", "httpx", "inprocess"])
async def test_every_transport_sends_the_same_bytes(fake: FakeWeChat, server: TestServer, transport_name: str) -> None:
    transports = {
        "aiohttp": lambda: AiohttpTransport(),
        "httpx": lambda: HttpxTransport(),
        "inprocess": lambda: InProcessTransport(fake.app()),
    }
    kwargs = client_kwargs(fake, server, mode="public_key", transport=transports[transport_name]())
    async with Client(**kwargs, close_transport=True) as wx:
        r = await wx.request(
            "POST", SEND_PATH, path_params={"openid": "o 1"}, json={"名": "值"}, idempotency_field="out_request_no"
        )
        assert r.verified
        g = await wx.request("GET", "/v3/marketing/favor/stocks", query={"offset": 0, "limit": 10})
        assert g.verified
    assert fake.received[-2].target == "/v3/marketing/favor/users/o%201/coupons"
    assert json.loads(fake.received[-2].body)["名"] == "值"
    assert fake.received[-1].target == "/v3/marketing/favor/stocks?offset=0&limit=10"


async def test_user_session_is_used_but_not_closed(fake: FakeWeChat, server: TestServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with Client(**client_kwargs(fake, server, mode="public_key", transport=AiohttpTransport(session))) as wx:
            await wx.request("GET", "/v3/x")
        assert not session.closed


async def test_signing_in_thread_pool(fake: FakeWeChat, server: TestServer) -> None:
    import asyncio

    async with Client(**client_kwargs(fake, server, mode="public_key", sign_in_thread=True)) as wx:
        results = await asyncio.gather(*(wx.request("GET", f"/v3/x/{i}") for i in range(20)))
    assert all(r.verified for r in results)


async def test_user_middleware_sees_every_attempt(fake: FakeWeChat, server: TestServer) -> None:
    seen: list[str] = []

    async def record(request: Any, call_next: Any) -> Any:
        seen.append(request.target)
        response = await call_next(request)
        seen.append(str(response.status))
        return response

    fake.queue(Reply(status=500, body={"code": "SYSTEM_ERROR", "message": "x"}))
    async with Client(**client_kwargs(fake, server, mode="public_key", middleware=[record])) as wx:
        await wx.request("GET", "/v3/x")
    assert seen == ["/v3/x", "500", "/v3/x", "200"]


async def test_path_parameter_validation(client: Client) -> None:
    with pytest.raises(ValidationError) as info:
        await client.request("GET", "/v3/marketing/favor/stocks/{stock_id}", path_params={"stock_id": ""})
    assert info.value.field == "stock_id"


def test_configuration_errors(fake: FakeWeChat) -> None:
    base = {
        "mchid": MCHID,
        "merchant_serial": fake.merchant.serial,
        "private_key": fake.merchant.private_pem(),
        "apiv3_key": fake.apiv3_key,
    }
    with pytest.raises(ConfigurationError, match="32-character"):
        Client(**{**base, "apiv3_key": "short"})
    for mchid in ("abc", "", "１９００００００01", "\u0661\u0669\u0660\u0660", "19 00", True, 19.0):
        with pytest.raises(ConfigurationError, match="numeric"):
            Client(**{**base, "mchid": mchid})
    assert Client(**{**base, "mchid": 1900000001}).mchid == "1900000001"  # an int is the same number
    with pytest.raises(ConfigurationError, match="hex serial"):
        Client(**{**base, "merchant_serial": "not-hex"})
    with pytest.raises(ConfigurationError, match="PUB_KEY_ID"):
        Client(**{**base, "platform_public_key": fake.merchant.public_pem()})
    with pytest.raises(ConfigurationError, match="base_url"):
        Client(**{**base, "base_url": "https://api.mch.weixin.qq.com/v3"})


def test_secrets_never_in_repr_or_errors(fake: FakeWeChat, caplog: pytest.LogCaptureFixture) -> None:
    wx = Client(
        mchid=MCHID,
        merchant_serial=fake.merchant.serial,
        private_key=fake.merchant.private_pem(),
        apiv3_key=fake.apiv3_key,
    )
    text = repr(wx) + repr(wx.credentials)
    assert fake.apiv3_key not in text and "PRIVATE" not in text
    with pytest.raises(ConfigurationError) as info:
        Client(
            mchid=MCHID,
            merchant_serial=fake.merchant.serial,
            private_key=fake.merchant.private_pem(),
            apiv3_key=fake.apiv3_key + "x",
        )
    assert fake.apiv3_key not in str(info.value)


async def test_logs_carry_request_id_but_no_secrets(
    client: Client, fake: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wxpay_async")
    r = await client.request("POST", SEND_PATH, path_params={"openid": "o1"}, json={"secret_field": "s3cr3t"})
    text = caplog.text
    assert r.request_id and r.request_id in text
    assert "s3cr3t" not in text and fake.apiv3_key not in text and "Authorization" not in text


def test_from_env(fake: FakeWeChat, tmp_path: Any) -> None:
    key = tmp_path / "apiclient_key.pem"
    key.write_bytes(fake.merchant.private_pem())
    pub = tmp_path / "pub_key.pem"
    assert fake.public_key is not None
    pub.write_bytes(fake.public_key.public_pem())
    env = {
        "WXPAY_MCHID": MCHID,
        "WXPAY_MERCHANT_SERIAL": fake.merchant.serial,
        "WXPAY_PRIVATE_KEY_PATH": str(key),
        "WXPAY_APIV3_KEY": fake.apiv3_key,
        "WXPAY_PUBLIC_KEY_PATH": str(pub),
        "WXPAY_PUBLIC_KEY_ID": fake.public_key_id or "",
        "WXPAY_BASE_URL": "http://127.0.0.1:9",
    }
    wx = Client.from_env(env)
    assert wx.base_url == "http://127.0.0.1:9" and wx.certificate_manager is None
    with pytest.raises(ConfigurationError, match="WXPAY_APIV3_KEY"):
        Client.from_env({k: v for k, v in env.items() if k != "WXPAY_APIV3_KEY"})
