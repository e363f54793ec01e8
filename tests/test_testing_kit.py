"""wxpay_async.testing: the aioresponses mock, the notification builder, the shim, the pytest plugin.

The mock tests use the plugin's own fixtures (``wxpay_mock``, ``wxpay_keys``, ``wxpay_mode``), as
users do; the plugin itself is exercised the way users run it, in a pytest subprocess.
"""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientResponse

from wxpay_async import Client
from wxpay_async.crypto import authorization_header, make_nonce, request_message, rsa_sign
from wxpay_async.devkeys import generate_key_pair
from wxpay_async.emulator import EmulatorKeys
from wxpay_async.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InternalServerError,
    RateLimitError,
    SignatureVerificationError,
)
from wxpay_async.middleware import NO_RETRY, RetryPolicy
from wxpay_async.testing import (
    WeChatPayMock,
    build_notification,
    missing_response_arguments,
    mock_response_class,
    response_class_for,
    response_shim_needed,
)
from wxpay_async.testing._compat import AIORESPONSES_PASSES

pytest_plugins = ["pytester"]

APPID = "wx233544546545989"
STOCK = "9856000"
MODES = pytest.mark.parametrize("wxpay_mode", ["public_key", "certificate"])
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "test_with_testing_kit.py"


async def send(wx: Client, openid: str = "oUser") -> Any:
    return await wx.favor.send_coupon(openid, appid=APPID, stock_id=STOCK, stock_creator_mchid=wx.mchid)


# -- the mock in both key modes ------------------------------------------------------------------
@MODES
async def test_answers_are_verified_in_each_mode(wxpay_mock: WeChatPayMock, wxpay_mode: str) -> None:
    wxpay_mock.add("favor.send_coupon", json={"coupon_id": "9867041"})
    async with wxpay_mock.client() as wx:
        assert (wx.certificate_manager is None) == (wxpay_mode == "public_key")
        sent = await send(wx, "oh-394z-6CGkNoJrsDLTTUKiAnp4")  # the official samples' openid
    assert sent.coupon_id == "9867041"
    (call,) = wxpay_mock.calls
    assert call.signed and call.route == "favor.send_coupon"
    assert call.method == "POST" and call.path == "/v3/marketing/favor/users/oh-394z-6CGkNoJrsDLTTUKiAnp4/coupons"
    assert call.json["stock_id"] == STOCK and call.json["out_request_no"] == sent.out_request_no
    assert call.headers["Wechatpay-Serial"] == wxpay_mock.platform_serial  # the key we hold was asked for
    assert len(wxpay_mock.certificate_downloads) == (1 if wxpay_mode == "certificate" else 0)
    assert all(c.signed for c in wxpay_mock.certificate_downloads)
    wxpay_mock.assert_all_signed()


async def test_operation_without_json_answers_its_documented_sample(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.add("favor.send_coupon")
    async with wxpay_mock.client() as wx:
        assert (await send(wx)).coupon_id == "9867041"  # the spec's example


async def test_path_templates_queries_and_pinned_parameters(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.add("/v3/marketing/favor/stocks/{stock_id}", json={"stock_id": "1"}, path_params={"stock_id": "1"})
    wxpay_mock.add("/v3/marketing/favor/stocks/{stock_id}", json={"stock_id": "any"}, repeat=True)
    async with wxpay_mock.client(retry=NO_RETRY) as wx:
        other = await wx.request("GET", "/v3/marketing/favor/stocks/2", query={"stock_creator_mchid": wx.mchid})
        first = await wx.request("GET", "/v3/marketing/favor/stocks/1", query={"stock_creator_mchid": "z", "a": "b c"})
    assert other.json() == {"stock_id": "any"} and first.json() == {"stock_id": "1"}
    assert wxpay_mock.calls[1].target == "/v3/marketing/favor/stocks/1?stock_creator_mchid=z&a=b%20c"
    assert wxpay_mock.calls[1].query == {"stock_creator_mchid": "z", "a": "b c"}
    assert len(wxpay_mock.calls_for("/v3/marketing/favor/stocks/{stock_id}")) == 2
    wxpay_mock.assert_all_signed()


def test_registrations_are_checked(wxpay_mock: WeChatPayMock) -> None:
    with pytest.raises(ConfigurationError, match="unknown operation"):
        wxpay_mock.add("favor.no_such_call")
    with pytest.raises(ConfigurationError, match="is POST"):
        wxpay_mock.add("favor.send_coupon", method="GET")
    with pytest.raises(ConfigurationError, match="start the mock"):
        WeChatPayMock(keys=wxpay_mock.keys).add("favor.send_coupon")
    with pytest.raises(ConfigurationError, match="mode"):
        WeChatPayMock(mode="both", keys=wxpay_mock.keys)  # type: ignore[arg-type]


async def test_unmatched_request_is_a_connection_error(wxpay_mock: WeChatPayMock) -> None:
    async with wxpay_mock.client(retry=NO_RETRY) as wx:
        with pytest.raises(APIConnectionError, match="Connection refused"):
            await send(wx, "nobody")
    assert wxpay_mock.unmatched == ["POST /v3/marketing/favor/users/nobody/coupons"]


# -- Authorization checked against the bytes sent ---------------------------------------------
def raw_authorization(mock: WeChatPayMock, method: str, target: str, body: bytes) -> str:
    ts, nonce = str(int(time.time())), make_nonce()
    signature = rsa_sign(mock.keys.merchant.private_key, request_message(method, target, ts, nonce, body))
    return authorization_header(mock.mchid, mock.keys.merchant.serial, ts, nonce, signature)


async def raw_post(mock: WeChatPayMock, target: str, body: bytes, authorization: str) -> tuple[int, Any]:
    headers = {"Authorization": authorization, "Content-Type": "application/json", "Accept": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(mock.base_url + target, data=body, headers=headers) as resp,
    ):
        return resp.status, await resp.json()


async def test_body_altered_after_signing_is_reported(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.add("favor.send_coupon", json={"coupon_id": "1"}, repeat=True)
    target = "/v3/marketing/favor/users/oUser/coupons"
    signed = json.dumps({"stock_id": STOCK, "coupon_value": 100}).encode()
    altered = json.dumps({"stock_id": STOCK, "coupon_value": 999}).encode()
    status, body = await raw_post(wxpay_mock, target, altered, raw_authorization(wxpay_mock, "POST", target, signed))
    assert status == 401 and body["code"] == "SIGN_ERROR"
    (call,) = wxpay_mock.calls
    assert call.body == altered and not call.signed
    assert call.authorization_error == "signature does not match the method, target and body bytes sent"
    with pytest.raises(AssertionError, match="bad Authorization"):
        wxpay_mock.assert_all_signed()
    # The same bytes, signed as sent, pass.
    status, _ = await raw_post(wxpay_mock, target, altered, raw_authorization(wxpay_mock, "POST", target, altered))
    assert status == 200 and wxpay_mock.calls[1].signed


async def test_target_signed_differently_from_the_one_sent_is_reported(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.add("favor.send_coupon", json={"coupon_id": "1"})
    body = b"{}"
    signed_for = raw_authorization(wxpay_mock, "POST", "/v3/marketing/favor/users/other/coupons", body)
    status, _ = await raw_post(wxpay_mock, "/v3/marketing/favor/users/oUser/coupons", body, signed_for)
    assert status == 401 and "does not match" in (wxpay_mock.calls[0].authorization_error or "")


async def test_missing_or_foreign_authorization_is_reported(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.add("favor.send_coupon", repeat=True)
    status, _ = await raw_post(wxpay_mock, "/v3/marketing/favor/users/o/coupons", b"{}", "")
    assert status == 401 and wxpay_mock.calls[-1].authorization_error == "no Authorization header"
    # A client signing with some other merchant key: WeChat Pay's 401 SIGN_ERROR.
    stranger = generate_key_pair("someone else")
    async with wxpay_mock.client(private_key=stranger.private_key) as wx:
        with pytest.raises(AuthenticationError) as caught:
            await send(wx)
    assert caught.value.code == "SIGN_ERROR" and caught.value.status == 401
    async with wxpay_mock.client(mchid="1900000002", retry=NO_RETRY) as wx:
        with pytest.raises(AuthenticationError):
            await send(wx)
    assert "mchid" in (wxpay_mock.calls[-1].authorization_error or "")


async def test_the_users_own_merchant_certificate(wxpay_keys: EmulatorKeys) -> None:
    mine = generate_key_pair("merchant 1900000001")
    with WeChatPayMock(keys=wxpay_keys, merchant_certificate=mine.certificate_pem()) as mock:
        with pytest.raises(ConfigurationError, match="private_key"):
            mock.client_kwargs()
        assert mock.client_kwargs(private_key=mine.private_key)["merchant_serial"] == mine.serial
        mock.add("favor.send_coupon", json={"coupon_id": "7"})
        async with mock.client(private_key=mine.private_key) as wx:
            assert (await send(wx)).coupon_id == "7"
        mock.assert_all_signed()
    # A bare public key: the signature is checked, the serial cannot be.
    with WeChatPayMock(keys=wxpay_keys, merchant_certificate=mine.public_pem()) as mock:
        mock.add("favor.send_coupon", json={"coupon_id": "8"})
        async with mock.client(private_key=mine.private_key, merchant_serial=mine.serial) as wx:
            assert (await send(wx)).coupon_id == "8"


# -- injections: each gives the SDK error it should ------------------------------------------------
@MODES
async def test_injected_status_and_error_code(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.add("favor.send_coupon", status=400, code="PARAM_ERROR", message="appid 与 mchid 不匹配")
    async with wxpay_mock.client() as wx:
        with pytest.raises(BadRequestError) as caught:
            await send(wx)
    assert caught.value.code == "PARAM_ERROR" and caught.value.message == "appid 与 mchid 不匹配"
    assert caught.value.request_id  # signed error answers carry a Request-ID like WeChat Pay's


async def test_retry_after_is_honoured_then_the_call_succeeds(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.add("favor.send_coupon", status=429, code="FREQUENCY_LIMITED", retry_after="0.3")
    wxpay_mock.add("favor.send_coupon", json={"coupon_id": "2"})
    policy = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.001, retry_after_max=5)
    async with wxpay_mock.client(retry=policy) as wx:
        started = time.monotonic()
        assert (await send(wx)).coupon_id == "2"
        assert time.monotonic() - started >= 0.3
    first, second = wxpay_mock.calls
    assert first.json["out_request_no"] == second.json["out_request_no"] and second.signed


async def test_rate_limit_without_retries_is_a_rate_limit_error(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.add("favor.send_coupon", status=429, code="FREQUENCY_LIMITED", retry_after=1)
    async with wxpay_mock.client(retry=NO_RETRY) as wx:
        with pytest.raises(RateLimitError) as caught:
            await send(wx)
    assert caught.value.code == "FREQUENCY_LIMITED"


@MODES
@pytest.mark.parametrize(
    ("injection", "message"),
    [
        ({"tamper": True}, "signature does not match"),
        ({"skew": 600}, "away from local time"),
        ({"skew": -600}, "away from local time"),
        ({"signtest": True}, "WECHATPAY/SIGNTEST/"),
        ({"sign": False}, "no WeChat Pay signature headers"),
    ],
)
async def test_signature_injections(wxpay_mock: WeChatPayMock, injection: dict[str, Any], message: str) -> None:
    wxpay_mock.add("favor.send_coupon", json={"coupon_id": "forged"}, **injection)
    async with wxpay_mock.client(retry=NO_RETRY) as wx:
        with pytest.raises(SignatureVerificationError, match=message):
            await send(wx)


async def test_an_unsigned_gateway_error_is_a_status_error(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.add("favor.send_coupon", status=502, body=b"<html>bad gateway</html>", sign=False)
    async with wxpay_mock.client(retry=NO_RETRY) as wx:
        with pytest.raises(InternalServerError):
            await send(wx)


async def test_a_transport_exception(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.add("favor.send_coupon", exception=aiohttp.ServerDisconnectedError())
    async with wxpay_mock.client(retry=NO_RETRY) as wx:
        with pytest.raises(APIConnectionError, match="ServerDisconnectedError"):
            await send(wx)


# -- notifications -------------------------------------------------------------------------------
COUPON_USE = {
    "stock_creator_mchid": "1900000001",
    "stock_id": STOCK,
    "coupon_id": "9867041",
    "coupon_name": "微信支付代金券",
    "status": "USED",
    "create_time": "2025-01-01T13:29:35+08:00",
    "coupon_type": "NORMAL",
    "no_cash": True,
    "singleitem": False,
}


@MODES
async def test_notifications_parse_with_the_clients_handler(wxpay_mock: WeChatPayMock) -> None:
    headers, body = wxpay_mock.notification(COUPON_USE, notification_id="EV-1")
    assert headers["Wechatpay-Serial"] == wxpay_mock.platform_serial
    async with wxpay_mock.client() as wx:
        parsed = wx.notification_handler().parse(headers, body)
    assert parsed.id == "EV-1" and parsed.event_type == "COUPON.USE"
    assert parsed.coupon_use.coupon_id == "9867041"
    # Standalone: the mock's verifier and APIv3 key.
    from wxpay_async.notifications import NotificationHandler

    assert NotificationHandler(wxpay_mock.verifier(), wxpay_mock.apiv3_key).parse(headers, body).id == "EV-1"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tamper": True}, "does not match"),
        ({"timestamp": int(time.time()) - 3600}, "away from local time"),
        ({"signtest": True}, "SIGNTEST"),
    ],
)
def test_notification_injections(wxpay_mock: WeChatPayMock, options: dict[str, Any], message: str) -> None:
    from wxpay_async.notifications import NotificationHandler

    headers, body = wxpay_mock.notification(COUPON_USE, **options)
    with pytest.raises(SignatureVerificationError, match=message):
        NotificationHandler(wxpay_mock.verifier(), wxpay_mock.apiv3_key).parse(headers, body)


def test_build_notification_standalone(wxpay_keys: EmulatorKeys) -> None:
    from wxpay_async.crypto import Verifier
    from wxpay_async.notifications import NotificationHandler

    pair, key_id = wxpay_keys.public_key, wxpay_keys.public_key_id
    note = build_notification(
        {"coupon_code": "C1", "coupon_state": "CONFIRMING"},
        apiv3_key=wxpay_keys.apiv3_key,
        private_key=pair.private_key,
        serial=key_id,
        event_type="PRODUCT_COUPON_SP.SEND",
        associated_data="product_coupon",
        original_type="product_coupon",
    )
    handler = NotificationHandler(Verifier(public_key=pair.public_key, public_key_id=key_id), wxpay_keys.apiv3_key)
    parsed = handler.parse(note.headers, note.body)
    assert parsed.event_type == "PRODUCT_COUPON_SP.SEND" and parsed.resource["coupon_code"] == "C1"


# -- the aioresponses / aiohttp compatibility shim -----------------------------------------------
def init_before_3_14(
    self: Any, method: str, url: Any, *, writer: Any, continue100: Any, timer: Any, request_info: Any,
    traces: Any, loop: Any, session: Any,
) -> None: ...  # fmt: skip


def init_3_14(
    self: Any, method: str, url: Any, *, writer: Any, continue100: Any, timer: Any, request_info: Any,
    traces: Any, loop: Any, session: Any, stream_writer: Any,
) -> None: ...  # fmt: skip


def init_with_optional_extra(
    self: Any, method: str, url: Any, *, writer: Any, continue100: Any, timer: Any, request_info: Any,
    traces: Any, loop: Any, session: Any, stream_writer: Any = None, **more: Any,
) -> None: ...  # fmt: skip


def test_shim_detection_reads_the_signature() -> None:
    assert missing_response_arguments(init_before_3_14) == frozenset()
    assert not response_shim_needed(init_before_3_14) and response_class_for(init_before_3_14) is None
    assert missing_response_arguments(init_3_14) == {"stream_writer"} and response_shim_needed(init_3_14)
    shim = response_class_for(init_3_14)
    assert shim is not None and issubclass(shim, ClientResponse)
    # An argument with a default, or **kwargs, needs nothing.
    assert not response_shim_needed(init_with_optional_extra)
    assert set(inspect.signature(init_before_3_14).parameters) >= AIORESPONSES_PASSES


def test_shim_matches_the_installed_aiohttp() -> None:
    needed = response_shim_needed()
    assert (mock_response_class() is None) is not needed
    params = inspect.signature(ClientResponse.__init__).parameters
    assert needed == ("stream_writer" in params and params["stream_writer"].default is inspect.Parameter.empty)


async def test_plain_aioresponses_registrations_get_the_shim(wxpay_mock: WeChatPayMock) -> None:
    wxpay_mock.responses.get("https://example.com/ping", payload={"pong": True})
    async with aiohttp.ClientSession() as session, session.get("https://example.com/ping") as resp:
        assert await resp.json() == {"pong": True}
        assert type(resp) is (mock_response_class() or ClientResponse)


# -- the pytest plugin, as users run it ----------------------------------------------------------
PLUGIN_TESTS = """
import pytest
from wxpay_async import Client
from wxpay_async.emulator import create_running_stock
from wxpay_async.transports import HttpxTransport

APPID = "wx233544546545989"

@pytest.fixture
def client():  # a user's own fixture names stay theirs
    return "mine"

@pytest.fixture
def mock():
    return "mine too"

def test_own_fixtures_untouched(client, mock):
    assert (client, mock) == ("mine", "mine too")

@pytest.mark.parametrize("wxpay_mode", ["public_key", "certificate"])
@MARK
async def test_mock(wxpay_mock, wxpay_mode):
    wxpay_mock.add("favor.send_coupon", json={"coupon_id": "42"})
    async with wxpay_mock.client() as wx:
        sent = await wx.favor.send_coupon("o1", appid=APPID, stock_id="1", stock_creator_mchid=wx.mchid)
    assert sent.coupon_id == "42" and wxpay_mock.calls[0].signed and wxpay_mock.mode == wxpay_mode

@MARK
async def test_emulator_and_client(wxpay_emulator, wxpay_client):
    stock_id = await create_running_stock(wxpay_client, max_coupons=3)
    sent = await wxpay_client.favor.send_coupon(
        "o1", appid=APPID, stock_id=stock_id, stock_creator_mchid=wxpay_client.mchid
    )
    assert sent.coupon_id
    assert wxpay_emulator.base_url.startswith("http://127.0.0.1:")

@MARK
async def test_emulator_with_httpx(wxpay_emulator):
    async with Client(**wxpay_emulator.client_kwargs(), transport=HttpxTransport()) as wx:
        stock_id = await create_running_stock(wx, max_coupons=1)
        assert (await wx.favor.get_stock(stock_id, stock_creator_mchid=wx.mchid)).stock_id == stock_id
"""


def test_plugin_fixtures_in_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=PLUGIN_TESTS.replace("@MARK", "@pytest.mark.asyncio"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=strict")
    result.assert_outcomes(passed=5)


def test_plugin_fixtures_in_auto_mode(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_user=PLUGIN_TESTS.replace("@MARK\n", ""))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fixtures")
    result.stdout.fnmatch_lines(["*wxpay_mock*", "*wxpay_emulator*", "*wxpay_client*"])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_the_example_passes(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(str(EXAMPLE), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


async def test_streamed_gzip_download_through_the_aiohttp_transport(wxpay_mock: WeChatPayMock) -> None:
    """transport.stream() with auto_decompress=False: the SDK inflates the mocked gzip body itself."""
    import gzip
    import hashlib

    from wxpay_async.flows import download_flow

    csv = "批次ID,优惠ID\n".encode() + b"9856000,9867041\n" * 2000
    wxpay_mock.add("/v3/billdownload/file", body=gzip.compress(csv), headers={"Content-Encoding": "gzip"}, sign=False)
    async with wxpay_mock.client() as wx:
        got = await download_flow(
            wx, f"{wxpay_mock.base_url}/v3/billdownload/file?token=T1", hashlib.sha1(csv).hexdigest()
        )
    assert got == csv
    (call,) = wxpay_mock.calls
    assert call.signed and call.target == "/v3/billdownload/file?token=T1"
