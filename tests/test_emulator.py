"""The emulator's protocol: request signatures, answer signatures, certificates, rotation, admin."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from wxpay_async.crypto import PUBLIC_KEY_ID_PREFIX, aead_decrypt, load_certificate
from wxpay_async.emulator import EmulatorKeys, create_app
from wxpay_async.emulator._schema import REQUIRED

from .emulator_helpers import Reply, SigningClient, started

CERTS = "/v3/certificates"
CALLBACKS = "/v3/marketing/favor/callbacks"


@pytest.fixture(scope="module")
def keys() -> EmulatorKeys:
    return EmulatorKeys.generate()


def decrypt_certificates(reply: Reply, apiv3_key: str) -> list[Any]:
    certs = []
    for item in reply.json()["data"]:
        enc = item["encrypt_certificate"]
        assert enc["algorithm"] == "AEAD_AES_256_GCM"
        assert enc["associated_data"] == "certificate"
        assert len(enc["nonce"]) == 12
        pem = aead_decrypt(apiv3_key, enc["nonce"], enc["associated_data"], enc["ciphertext"])
        cert = load_certificate(pem)
        assert format(cert.serial_number, "X") == item["serial_no"]
        certs.append(cert)
    return certs


async def test_signed_request_accepted_and_answer_signed(keys: EmulatorKeys) -> None:
    async with started(keys, mode="certificate") as (running, client):
        reply = await client.get(CERTS)
        assert reply.status == 200
        for header in ("Request-ID", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial"):
            assert reply.headers[header]
        assert reply.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
        certs = decrypt_certificates(reply, running.apiv3_key)
        # The certificates answer verifies with the set it carries.
        from wxpay_async.crypto import Verifier, response_message

        verifier = Verifier(certs)
        h = reply.headers
        message = response_message(h["Wechatpay-Timestamp"], h["Wechatpay-Nonce"], reply.body)
        assert verifier.verify(h["Wechatpay-Serial"], message, h["Wechatpay-Signature"])
        assert abs(int(h["Wechatpay-Timestamp"]) - time.time()) < 60


@pytest.mark.parametrize(
    "breakage",
    ["missing", "wrong_body", "wrong_path", "wrong_query", "stale", "future", "wrong_key", "unknown_mchid", "garbage"],
)
async def test_bad_authorization_is_sign_error(keys: EmulatorKeys, breakage: str) -> None:
    async with started(keys) as (running, client):
        path, body = CALLBACKS, {"mchid": client.mchid, "notify_url": "https://example.com/notify"}
        kwargs: dict[str, Any] = {}
        headers: dict[str, str] = {}
        if breakage == "missing":
            kwargs["sign"] = False
        elif breakage == "wrong_body":
            kwargs["signed_body"] = b'{"mchid":"other"}'
        elif breakage == "wrong_path":
            kwargs["signed_target"] = "/v3/marketing/favor/callbacks2"
        elif breakage == "wrong_query":
            path = CALLBACKS + "?x=1"
            kwargs["signed_target"] = CALLBACKS + "?x=2"
        elif breakage == "stale":
            kwargs["timestamp"] = int(time.time()) - 301
        elif breakage == "future":
            kwargs["timestamp"] = int(time.time()) + 301
        elif breakage == "wrong_key":
            client.running.keys.merchant = running.keys.platform[0].pair  # signs with another key
        elif breakage == "unknown_mchid":
            client.mchid = "1900009999"
        elif breakage == "garbage":
            kwargs["sign"] = False
            headers["Authorization"] = "WECHATPAY2-SHA256-RSA2048 nonsense"
        reply = await client.request("POST", path, json_body=body, headers=headers, **kwargs)
        assert reply.status == 401, reply.body
        assert reply.code == "SIGN_ERROR"
        assert reply.headers["Request-ID"]
        assert client.verify(reply), "errors are signed too"


async def test_percent_encoded_path_is_verified_as_sent(keys: EmulatorKeys) -> None:
    async with started(keys) as (_, client):
        coupon_id = "c%2Fcoupon%20x"  # signed and sent percent-encoded: the signature verifies (no 401)
        reply = await client.get(f"/v3/marketing/favor/users/oUser/coupons/{coupon_id}", appid="wx1")
        assert reply.status == 404, reply.body
        # An openid outside WeChat's OpenID alphabet is refused, naming the field (validation.OPENID).
        bad = await client.get("/v3/marketing/favor/users/o%2Fuser%20x/coupons", appid="wx1")
        assert bad.status == 400 and bad.code == "PARAM_ERROR", bad.body
        assert bad.json()["detail"]["field"] == "openid"


async def test_clock_skew_admin_makes_requests_stale(keys: EmulatorKeys) -> None:
    async with started(keys) as (running, client):
        async with client.session.post(running.base_url + "/_emulator/clock", json={"skew": 400}) as r:
            assert r.status == 200
        reply = await client.get(CALLBACKS, mchid=client.mchid)
        assert reply.code == "SIGN_ERROR"
        # The answer's timestamp follows the skewed clock as well.
        assert int(reply.headers["Wechatpay-Timestamp"]) - time.time() > 300
        running.emulator.clock.skew = 0
        assert (await client.get(CALLBACKS, mchid=client.mchid)).code == "RESOURCE_NOT_EXISTS"


async def test_public_key_mode(keys: EmulatorKeys) -> None:
    async with started(keys, mode="public_key") as (running, client):
        reply = await client.get(CERTS)
        assert reply.status == 404 and reply.code == "RESOURCE_NOT_EXISTS"
        assert reply.headers["Wechatpay-Serial"] == running.public_key_id
        assert reply.headers["Wechatpay-Serial"].startswith(PUBLIC_KEY_ID_PREFIX)
        assert client.verify(reply)
    async with started(keys, mode="public_key", certificates_in_public_key_mode="empty") as (_, client):
        reply = await client.get(CERTS)
        assert reply.status == 200 and reply.json() == {"data": []}


async def test_both_mode_signs_with_the_key_the_request_names(keys: EmulatorKeys) -> None:
    async with started(keys, mode="both") as (running, client):
        cert_serial = running.keys.platform[0].serial
        plain = await client.get(CALLBACKS, mchid=client.mchid)
        assert plain.headers["Wechatpay-Serial"] == running.public_key_id
        named = await client.request(
            "GET", CALLBACKS, query={"mchid": client.mchid}, headers={"Wechatpay-Serial": cert_serial}
        )
        assert named.headers["Wechatpay-Serial"] == cert_serial
        assert client.verify(plain) and client.verify(named)
        certs = await client.get(CERTS)
        assert certs.headers["Wechatpay-Serial"] == cert_serial


async def test_certificate_rotation_lists_first_signs_later(keys: EmulatorKeys) -> None:
    now = [time.time()]
    async with started(keys, mode="certificate", clock=lambda: now[0]) as (running, client):
        old = running.keys.platform[0].serial
        async with client.session.post(running.base_url + "/_emulator/rotate-certificate", json={}) as r:
            new = (await r.json())["serial_no"]
        listed = await client.get(CERTS)
        serials = [c["serial_no"] for c in listed.json()["data"]]
        assert serials == [old, new]
        assert listed.headers["Wechatpay-Serial"] == old, "a new certificate is not used before its delay"
        now[0] += 24 * 3600 + 1
        after = await client.get(CERTS)
        assert after.headers["Wechatpay-Serial"] == new
        assert [c["serial_no"] for c in after.json()["data"]] == [old, new], "the old one stays listed"
        certs = decrypt_certificates(after, running.apiv3_key)
        assert client.verify(after, client.verifier())
        assert len(certs) == 2
        # Expire the old certificate early: it disappears from the list.
        running.emulator.rotate_certificate(0, expire_old_in=10)
        now[0] += 11
        final = await client.get(CERTS)
        assert old not in [c["serial_no"] for c in final.json()["data"]]


async def test_unknown_api_is_signed_not_found(keys: EmulatorKeys) -> None:
    async with started(keys) as (_, client):
        reply = await client.get("/v3/marketing/favor/nothing-here")
        assert reply.status == 404 and reply.code == "NOT_FOUND"
        assert client.verify(reply)


async def test_every_operation_has_a_route(keys: EmulatorKeys) -> None:
    app = create_app(keys=keys)
    routes = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    assert len(REQUIRED) == 56 + 30  # merchant operations + brand-direct product coupons (品牌直连)
    missing = [op for op in REQUIRED if op not in routes]
    assert not missing


async def test_required_fields_are_param_errors(keys: EmulatorKeys) -> None:
    async with started(keys) as (_, client):
        reply = await client.post("/v3/marketing/favor/users/o1/coupons", {"stock_id": "1"})
        assert reply.status == 400 and reply.code == "PARAM_ERROR"
        assert reply.json()["detail"]["field"] in ("appid", "out_request_no", "stock_creator_mchid")
        reply = await client.get("/v3/marketing/favor/stocks", offset=0, limit=10)
        assert reply.code == "PARAM_ERROR" and reply.json()["detail"]["field"] == "stock_creator_mchid"


async def test_admin_is_loopback_only_and_reports_config(keys: EmulatorKeys) -> None:
    async with started(keys) as (running, client):
        async with client.session.get(running.base_url + "/_emulator/config") as r:
            data = await r.json()
        assert data["mchid"] == running.mchid and data["config"]["mode"] == "both"
        assert "apiv3_key" not in str(data) or running.apiv3_key not in str(data)


async def test_aiohttp_test_utilities_work_too(keys: EmulatorKeys) -> None:
    from aiohttp.test_utils import TestServer

    from wxpay_async.emulator import Emulator, RunningEmulator

    emu = Emulator(keys)
    async with TestServer(create_app(emu), host="127.0.0.1") as server:
        running = RunningEmulator(
            base_url=str(server.make_url("")).rstrip("/"), emulator=emu, host="127.0.0.1", port=server.port or 0
        )
        async with aiohttp.ClientSession() as session:
            reply = await SigningClient(running, session).get(CERTS)
            assert reply.status == 200


class _Peer:
    """A transport stand-in that only knows its peer address."""

    def __init__(self, host: str) -> None:
        self.host = host

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.host, 40000) if name == "peername" else default


@pytest.mark.parametrize(("host", "allowed"), [("127.0.0.1", True), ("::1", True), ("10.1.2.3", False)])
def test_admin_loopback_check(host: str, allowed: bool) -> None:
    from aiohttp.test_utils import make_mocked_request

    from wxpay_async.emulator._admin import is_loopback

    request = make_mocked_request("GET", "/_emulator/config", transport=_Peer(host))
    assert is_loopback(request) is allowed
