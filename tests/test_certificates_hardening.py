"""Certificate manager hardening: garbage answers, X.509 validity, serial checks, one cooldown,
and a final aclose() — against real (fake or hostile) aiohttp servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import wxpay_async
from wxpay_async import Client
from wxpay_async.certificates import CertificateError, CertificateManager
from wxpay_async.crypto import Verifier, aead_encrypt, make_nonce, response_message, rsa_sign
from wxpay_async.devkeys import KeyPair, generate_key_pair
from wxpay_async.errors import APIResponseValidationError, SignatureVerificationError, WxPayError
from wxpay_async.transports import AiohttpTransport

from .conftest import FAST_RETRY, MCHID, catch_all_server, client_kwargs
from .fake_wechat import FakeWeChat, Reply

TYPED = (SignatureVerificationError, APIResponseValidationError, CertificateError)
SDK_DIR = str(Path(wxpay_async.__file__).parent)


def _item(fake: FakeWeChat, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = copy.deepcopy(fake.certificates_body()["data"][0])
    for key, value in changes.items():
        if key.startswith("enc_"):
            if value is None:
                del item["encrypt_certificate"][key[4:]]
            else:
                item["encrypt_certificate"][key[4:]] = value
        elif value is None:
            del item[key]
        else:
            item[key] = value
    return item


def _encrypted(fake: FakeWeChat, plaintext: bytes, key: str | None = None) -> dict[str, str]:
    nonce = make_nonce(12)
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "nonce": nonce,
        "associated_data": "certificate",
        "ciphertext": aead_encrypt(key or fake.apiv3_key, nonce, "certificate", plaintext),
    }


MALFORMED_SHAPES = [
    "not_json",
    "empty_body",
    "invalid_utf8",
    "json_list",
    "json_string",
    "data_object",
    "data_missing",
    "item_not_object",
    "missing_encrypt_certificate",
    "encrypt_certificate_string",
    "bad_base64",
    "bad_tag",
    "non_pem_plaintext",
    "serial_not_string",
    "expire_not_time",
    "expire_number",
    "nonce_missing",
    "associated_data_int",
    "ciphertext_null",
    "naive_time",
    "serial_mismatch",
    "short_nonce",
    "huge_nonce",
]


def _shape(fake: FakeWeChat, name: str, other: KeyPair) -> bytes | Any:
    if name == "not_json":
        return b"<html>502 Bad Gateway</html>"
    if name == "empty_body":
        return b""
    if name == "invalid_utf8":
        return b"\xff\xfe{"
    if name == "json_list":
        return [fake.certificates_body()]
    if name == "json_string":
        return "data"
    if name == "data_object":
        return {"data": {"serial_no": "x"}}
    if name == "data_missing":
        return {"items": []}
    if name == "item_not_object":
        return {"data": [1, "two"]}
    changes: dict[str, Any] = {
        "missing_encrypt_certificate": {"encrypt_certificate": None},
        "encrypt_certificate_string": {"encrypt_certificate": "AAAA"},
        "bad_base64": {"enc_ciphertext": "not base64 at all!"},
        "bad_tag": {"encrypt_certificate": _encrypted(fake, b"x" * 40, key="k" * 32)},
        "non_pem_plaintext": {"encrypt_certificate": _encrypted(fake, b"hello, not a certificate")},
        "serial_not_string": {"serial_no": 12345},
        "expire_not_time": {"expire_time": "next tuesday"},
        "expire_number": {"expire_time": 1893456000},
        "nonce_missing": {"enc_nonce": None},
        "associated_data_int": {"enc_associated_data": 7},
        "ciphertext_null": {"enc_ciphertext": None},
        "naive_time": {"expire_time": "2029-01-01T00:00:00"},
        "serial_mismatch": {"serial_no": other.serial},
        "short_nonce": {"enc_nonce": "abc"},
        "huge_nonce": {"enc_nonce": "n" * 200},
    }[name]
    return {"data": [_item(fake, **changes)]}


@pytest.mark.parametrize("shape", MALFORMED_SHAPES)
async def test_garbage_certificate_answers_raise_typed_errors(
    fake: FakeWeChat, server: TestServer, platform_keys_next: KeyPair, shape: str
) -> None:
    fake.queue(Reply(body=_shape(fake, shape, platform_keys_next), certificates=True))
    wx = Client(**client_kwargs(fake, server))
    with pytest.raises(TYPED) as info:
        await wx.start()
    assert isinstance(info.value, WxPayError)
    await wx.aclose()
    # ...and the same from an explicit refresh of a running manager
    async with Client(**client_kwargs(fake, server)) as wx:
        assert wx.certificate_manager is not None
        fake.queue(Reply(body=_shape(fake, shape, platform_keys_next), certificates=True))
        with pytest.raises(TYPED):
            await wx.certificate_manager.refresh()
        assert wx.certificate_manager.certificates  # the cache survives


def _expired_in_october() -> KeyPair:
    return generate_key_pair(
        "expired platform", not_before=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), valid_for=dt.timedelta(days=280)
    )


async def test_certificate_expired_by_x509_is_refused_though_listed_to_2029(
    fake: FakeWeChat, server: TestServer
) -> None:
    expired = _expired_in_october()
    assert expired.certificate.not_valid_after_utc < dt.datetime.now(dt.UTC)
    body = fake.certificates_body()
    extra = copy.deepcopy(body["data"][0])
    extra.update(serial_no=expired.serial, expire_time="2029-12-31T00:00:00+08:00")
    extra["encrypt_certificate"] = _encrypted(fake, expired.certificate_pem())
    body["data"].append(extra)
    fake.queue(Reply(body=body, certificates=True))
    async with Client(**client_kwargs(fake, server)) as wx:
        manager = wx.certificate_manager
        assert manager is not None
        assert expired.serial not in {c.serial_no for c in manager.certificates}
        fake.platform_certs.append(expired)  # the server signs with the expired key
        fake.queue(Reply(serial=expired.serial))
        with pytest.raises(SignatureVerificationError):
            await wx.request("GET", "/v3/x")
    # The Verifier itself refuses it too, whatever the list said: X.509 validity at verification time.
    message = response_message("1", "n", b"{}")
    assert not Verifier([expired.certificate]).verify(expired.serial, message, rsa_sign(expired.private_key, message))


async def test_validity_is_checked_at_verification_time(fake: FakeWeChat, server: TestServer) -> None:
    soon = generate_key_pair(
        "expiring", not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=3), valid_for=dt.timedelta(days=3, hours=1)
    )
    fake.platform_certs[:] = [soon]
    now = [time.time()]
    async with Client(**client_kwargs(fake, server)) as wx:
        manager = CertificateManager(wx._fetch_certificates, fake.apiv3_key, clock=lambda: now[0])
        await manager.start(background=False)
        message = response_message("1", "n", b"{}")
        signature = rsa_sign(soon.private_key, message)
        verifier = manager.current_verifier()
        assert verifier.verify(soon.serial, message, signature)
        now[0] += 2 * 3600  # past notAfter, no refresh in between
        assert not verifier.knows(soon.serial)
        assert not verifier.verify(soon.serial, message, signature)
        await manager.aclose()


async def test_stored_certificate_with_foreign_serial_is_ignored(
    fake: FakeWeChat, server: TestServer, platform_keys_next: KeyPair
) -> None:
    from wxpay_async import InMemoryCertificateStore
    from wxpay_async.certificates import PlatformCertificate

    store = InMemoryCertificateStore()
    cert = platform_keys_next.certificate
    await store.save(
        [
            PlatformCertificate(
                serial_no=fake.platform_certs[0].serial,  # a planted entry naming another serial
                effective_time=cert.not_valid_before_utc,
                expire_time=cert.not_valid_after_utc,
                pem=platform_keys_next.certificate_pem().decode(),
            )
        ]
    )
    async with Client(**client_kwargs(fake, server, certificate_store=store)) as wx:
        assert fake.certificates_served == 1  # the planted entry did not count as a valid cache
        assert wx.certificate_manager is not None
        pems = {c.pem for c in wx.certificate_manager.certificates}
        assert platform_keys_next.certificate_pem().decode() not in pems


async def test_thirty_forged_serials_cause_at_most_one_download(fake: FakeWeChat, server: TestServer) -> None:
    async with Client(**client_kwargs(fake, server)) as wx:
        assert fake.certificates_served == 1
        forged = [secrets.token_hex(20).upper() for _ in range(30)]
        fake.queue(*[Reply(serial=s) for s in forged[:15]])
        for _ in range(15):
            with pytest.raises(SignatureVerificationError, match="no platform key"):
                await wx.request("GET", "/v3/x")
        fake.queue(*[Reply(serial=s) for s in forged[15:]])
        results = await asyncio.gather(*(wx.request("GET", f"/v3/y/{i}") for i in range(15)), return_exceptions=True)
        assert all(isinstance(r, SignatureVerificationError) for r in results)
        assert fake.certificates_served - 1 <= 1


# -- aclose() is final -----------------------------------------------------------------------------
class Hostile:
    """A /v3/certificates that hangs, or answers 429 with Retry-After, or 500 after a delay."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests: list[float] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(time.monotonic())
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.mode == "retry_after":
            return web.json_response({"code": "FREQUENCY_LIMITED", "message": "slow"}, status=429,
                                     headers={"Retry-After": "1"})  # fmt: skip
        await asyncio.sleep(0.2)
        return web.json_response({"code": "SYSTEM_ERROR", "message": "down"}, status=500)


@pytest.fixture
async def hostile_server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[TestServer, Hostile]]:
    hostile = Hostile(request.param)
    async with catch_all_server(hostile.handle) as srv:
        yield srv, hostile


def sdk_tasks() -> list[asyncio.Task[Any]]:
    """Pending tasks running SDK code (the test server's own tasks are not ours)."""
    found = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task() or task.done():
            continue
        coro: Any = task.get_coro()
        code = getattr(coro, "cr_code", None)
        if task.get_name().startswith("wxpay_async") or (code is not None and code.co_filename.startswith(SDK_DIR)):
            found.append(task)
    return found


def _client(srv: TestServer, merchant: KeyPair, apiv3_key: str) -> Client:
    return Client(
        mchid=MCHID,
        merchant_serial=merchant.serial,
        private_key=merchant.private_pem(),
        apiv3_key=apiv3_key,
        base_url=str(srv.make_url("")).rstrip("/"),
        retry=FAST_RETRY,
    )


async def _wait_for_request(hostile: Hostile, count: int = 1) -> None:
    for _ in range(300):
        if len(hostile.requests) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the client never called the server")


async def _start_until_called(
    hostile_server: tuple[TestServer, Hostile], merchant_keys: KeyPair, apiv3_key: str
) -> tuple[Client, Hostile, asyncio.Task[None]]:
    """A client whose ``start()`` runs as a task, returned once the hostile server has seen its first call.

    The close-during-start tests all begin this way and differ only in how they interrupt the start.
    """
    srv, hostile = hostile_server
    wx = _client(srv, merchant_keys, apiv3_key)
    start = asyncio.create_task(wx.start())
    await _wait_for_request(hostile)
    return wx, hostile, start


async def _assert_quiet_after_close(wx: Client, hostile: Hostile, wait: float) -> None:
    closed_at = time.monotonic()
    assert not sdk_tasks(), sdk_tasks()
    await asyncio.sleep(wait)
    assert [t for t in hostile.requests if t > closed_at] == []
    assert not sdk_tasks()
    transport = wx.transport
    assert isinstance(transport, AiohttpTransport)
    assert transport._session is None or transport._session.closed


@pytest.mark.parametrize("hostile_server", ["hang"], indirect=True)
async def test_aclose_cancels_a_download_in_flight(
    hostile_server: tuple[TestServer, Hostile], merchant_keys: KeyPair, apiv3_key: str
) -> None:
    wx, hostile, start = await _start_until_called(hostile_server, merchant_keys, apiv3_key)
    await wx.aclose()
    with pytest.raises(WxPayError, match="closed"):
        await start
    await _assert_quiet_after_close(wx, hostile, 0.3)
    with pytest.raises(WxPayError):
        await wx.start()


@pytest.mark.parametrize("hostile_server", ["retry_after"], indirect=True)
async def test_aclose_cancels_a_refresh_sleeping_on_retry_after(
    hostile_server: tuple[TestServer, Hostile], merchant_keys: KeyPair, apiv3_key: str
) -> None:
    wx, hostile, start = await _start_until_called(hostile_server, merchant_keys, apiv3_key)
    await asyncio.sleep(0.1)  # now sleeping on Retry-After: 1
    await wx.aclose()
    with pytest.raises(WxPayError):
        await start
    await _assert_quiet_after_close(wx, hostile, 1.5)


@pytest.mark.parametrize("hostile_server", ["slow_500"], indirect=True)
async def test_cancelled_start_leaves_nothing_after_aclose(
    hostile_server: tuple[TestServer, Hostile], merchant_keys: KeyPair, apiv3_key: str
) -> None:
    wx, hostile, start = await _start_until_called(hostile_server, merchant_keys, apiv3_key)
    start.cancel()
    with pytest.raises(asyncio.CancelledError):
        await start
    await wx.aclose()
    await _assert_quiet_after_close(wx, hostile, 0.8)


@pytest.mark.parametrize("hostile_server", ["hang"], indirect=True)
async def test_aclose_during_on_demand_refresh(
    hostile_server: tuple[TestServer, Hostile], fake: FakeWeChat, server: TestServer
) -> None:
    srv, hostile = hostile_server
    async with Client(**client_kwargs(fake, server)) as wx:
        manager = wx.certificate_manager
        assert manager is not None
        hostile_url = str(srv.make_url("")).rstrip("/")
        manager._fetch = lambda: wx._handler(
            wx.build_request("GET", "/v3/certificates", verify=False, base_url=hostile_url)
        )
        refresh = asyncio.create_task(manager.refresh_for("ABCDEF"))
        await _wait_for_request(hostile)
    verifier = await refresh  # never raises: the cached verifier
    assert not verifier.knows("ABCDEF")
    assert not sdk_tasks()


async def test_no_sdk_task_pending_after_normal_close(fake: FakeWeChat, server: TestServer) -> None:
    async with Client(**client_kwargs(fake, server)) as wx:
        await wx.request("GET", "/v3/x")
        assert sdk_tasks()  # the background refresh loop
    assert not sdk_tasks()
