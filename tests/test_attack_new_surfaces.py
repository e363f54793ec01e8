"""Attacks on the surfaces merged for brands, merchant coupons, fleets and Redis (issue 17's standard).

Secrets (Redis passwords, keys) never reach an error, repr or CLI line; every error a public call
raises is a WxPayError; a Redis password Redis refuses is said at once, not waited out as an outage.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from wxpay_async import Client
from wxpay_async._redis import connect, mask_url
from wxpay_async.batch import Fleet, RedisJournal, RedisRateLimiter
from wxpay_async.batch._ratelimit import AdaptiveTokenBucket
from wxpay_async.devkeys import generate_apiv3_key, generate_key_pair, generate_public_key_id
from wxpay_async.errors import ConfigurationError, RedisConfigurationError, ValidationError, WxPayError
from wxpay_async.merchant_coupon_sign import h5_send_params, v2_hmac_sha256
from wxpay_async.notifications import RedisDedupeStore

from .redis_server import _free_port

SECRET = "Sup3rSecretPw"

BAD_URLS = [
    f":{SECRET}@127.0.0.1:6379",  # no scheme: was echoed unmasked
    f"ftp://:{SECRET}@127.0.0.1/",
    f"REDIS://:{SECRET}@127.0.0.1:6379/0",  # upper-case scheme: mask_url missed it
    f"redis://:{SECRET[:4]}/{SECRET[4:]}@127.0.0.1:6379/0",  # "/" in the password: urllib quoted it back
    f"redis://:{SECRET}@127.0.0.1:notaport/0",
    f"rediss://:{SECRET}@[::1/0",
    f"redis+sentinel://:{SECRET}@127.0.0.1:26379/svc/notadb",
]


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET}@h:1/0",
        f"REDIS://:{SECRET}@h:1/0",
        f"redis://user:{SECRET}@h:1/0",
        f"redis://{SECRET}@h:1/0",
        f"redis://:{SECRET[:4]}/{SECRET[4:]}@h:1/0",
        f"redis://:{SECRET[:4]}@{SECRET[4:]}@h:1/0",
        f":{SECRET}@h:1",
        f"redis+sentinel://:{SECRET}@h1:1,h2:2/svc",
    ],
)
def test_mask_url_hides_every_password(url: str) -> None:
    shown = mask_url(url)
    assert SECRET not in shown and SECRET[4:] not in shown and SECRET[:4] not in shown.replace("://", "")
    assert "***" in shown


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize(
    "make",
    [
        lambda u: Fleet(u, batch_id="b"),
        lambda u: RedisJournal(u),
        lambda u: RedisRateLimiter(u, mchid="1900000001", rate=5),
        lambda u: RedisDedupeStore(u),
        connect,
    ],
)
def test_a_bad_redis_url_is_a_wxpay_error_without_its_password(url: str, make: Any) -> None:
    with pytest.raises(RedisConfigurationError) as info:
        make(url)
    assert isinstance(info.value, WxPayError) and isinstance(info.value, ValueError)
    text = str(info.value) + repr(info.value)
    assert SECRET not in text and SECRET[4:] not in text, text
    chained = "".join(traceback.format_exception(info.value))  # no chained parser error quoting it
    assert SECRET not in chained and SECRET[4:] not in chained


def test_construction_mistakes_of_redis_objects_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="url"):
        Fleet(None, batch_id="b")
    with pytest.raises(ValidationError, match="rate"):
        RedisRateLimiter("redis://127.0.0.1:1/0", mchid="1", rate=0)
    with pytest.raises(ValidationError, match="mchid"):
        RedisRateLimiter("redis://127.0.0.1:1/0", mchid="", rate=1)
    with pytest.raises(ValidationError, match="rate"):
        AdaptiveTokenBucket(0)


@pytest.fixture
def password_redis(tmp_path: Path) -> Any:
    import shutil

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (CI installs Debian's redis-server)")
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--dir", str(tmp_path), "--requirepass", "right-password"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import socket

    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.terminate()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("auth", [f":{SECRET}@", ""])
async def test_a_refused_redis_password_stops_at_once(password_redis: int, auth: str) -> None:
    fleet = Fleet(f"redis://{auth}127.0.0.1:{password_redis}/0", batch_id="b", outage_limit=30)
    started = time.monotonic()
    try:
        with pytest.raises(RedisConfigurationError, match="refused this client") as info:
            await fleet.status()
    finally:
        await fleet.aclose()
    assert time.monotonic() - started < 5  # was: waited the whole outage_limit, then "unreachable"
    assert SECRET not in str(info.value)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wxpay_async.cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_batch_status_wrong_password_one_line_no_secret(password_redis: int) -> None:
    done = _cli("batch", "status", "b1", "--redis", f"redis://:{SECRET}@127.0.0.1:{password_redis}/0")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and SECRET not in done.stdout + done.stderr
    assert "RedisConfigurationError" in done.stderr and "password" in done.stderr


@pytest.mark.parametrize("url", BAD_URLS)
def test_cli_bad_redis_url_one_line_no_secret(url: str) -> None:
    done = _cli("batch", "status", "b1", "--redis", url)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and SECRET not in done.stdout + done.stderr, done.stderr
    assert SECRET[4:] not in done.stderr
    assert done.stderr.startswith("wxpay-async: RedisConfigurationError:")


def test_cli_batch_status_unreachable_redis_exits_75() -> None:
    port = _free_port()
    done = _cli("batch", "status", "b1", "--redis", f"redis://:{SECRET}@127.0.0.1:{port}/0", "--redis-wait", "0.5")
    assert done.returncode == 75, done.stderr  # as --redis-wait's help says (was 1 outside send-batch)
    assert "Traceback" not in done.stderr and SECRET not in done.stdout + done.stderr


# -- identities: wrongly typed arguments are ConfigurationErrors, secrets stay out -------------------

KEYS = generate_key_pair()
PLATFORM = generate_key_pair()
APIV3 = generate_apiv3_key()


def _base(**extra: Any) -> dict[str, Any]:
    return {
        "private_key": KEYS.private_pem(),
        "platform_public_key": PLATFORM.public_pem(),
        "platform_public_key_id": generate_public_key_id(),
        "base_url": "http://127.0.0.1:1",
        **extra,
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"brand_id": "120344", "brand_serial": 1234, "brand_api_key": APIV3},
        {"brand_id": "120344", "brand_serial": "AB12", "brand_api_key": APIV3, "platform_public_key_id": 5},
        {"mchid": "1900000001", "merchant_serial": 1234, "apiv3_key": APIV3},
        {"mchid": "1900000001", "merchant_serial": "AB12", "apiv3_key": APIV3, "platform_public_key_id": 5},
    ],
)
def test_wrongly_typed_identity_arguments_are_configuration_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as info:  # was: raw TypeError / AttributeError
        Client(**_base(**kwargs))
    assert APIV3 not in str(info.value)


async def test_client_reprs_hide_every_secret() -> None:
    pem = KEYS.private_pem()
    pem_text = pem.decode() if isinstance(pem, bytes) else pem
    body_line = pem_text.splitlines()[3]
    for kwargs in (
        {"brand_id": "120344", "brand_serial": "AB12", "brand_api_key": APIV3},
        {"mchid": "1900000001", "merchant_serial": "AB12", "apiv3_key": APIV3},
    ):
        async with Client(**_base(**kwargs)) as wx:
            creds = wx._credentials if hasattr(wx, "_credentials") else None
            for text in (repr(wx), str(wx), repr(creds), str(creds)):
                assert APIV3 not in text and body_line not in text and "PRIVATE" not in text


# -- APIv2 sign helper ----------------------------------------------------------------------------

V2_KEY = "V2keyV2keyV2keyV2keyV2keyV2key12"


@pytest.mark.parametrize("params", [None, "a=1", {1: "x", "a": "y"}])
def test_v2_sign_refuses_non_mappings_as_validation_errors(params: Any) -> None:
    with pytest.raises(ValidationError, match="params") as info:  # was: raw TypeError
        v2_hmac_sha256(params, V2_KEY)
    assert V2_KEY not in str(info.value)


@pytest.mark.parametrize("number", ["abc\n", "abc\r\n"])
def test_h5_request_number_takes_no_trailing_newline(number: str) -> None:
    with pytest.raises(ValidationError, match="out_request_no"):  # "$" matched before a final "\n"
        h5_send_params(stock_id="1", out_request_no=number, send_coupon_merchant="1", open_id="o", apiv2_key=V2_KEY)


def test_h5_coupon_code_must_be_a_string() -> None:
    with pytest.raises(ValidationError, match="coupon_code"):
        h5_send_params(
            stock_id="1", out_request_no="a1", send_coupon_merchant="1", open_id="o", apiv2_key=V2_KEY, coupon_code=5
        )  # type: ignore[arg-type]


# -- the CLI: a broken merchant.json, send-batch with a refused Redis password --------------------


@pytest.mark.parametrize("content", ['{"apiv3_key": "' + APIV3 + '"', '{"apiv3_key": "' + APIV3 + '"}', "[1]"])
def test_cli_broken_keys_dir_is_one_line_without_its_keys(tmp_path: Path, content: str) -> None:
    (tmp_path / "merchant.json").write_text(content)
    done = _cli("certificates", "download", "--keys-dir", str(tmp_path))
    assert done.returncode == 2, done.stderr  # was: a JSONDecodeError / KeyError / TypeError traceback
    assert "Traceback" not in done.stderr and APIV3 not in done.stdout + done.stderr
    assert "merchant.json" in done.stderr and "recreate it" in done.stderr


def test_cli_send_batch_refused_redis_password_sends_nothing(password_redis: int, tmp_path: Path) -> None:
    from wxpay_async.emulator import write_keys_dir

    write_keys_dir(tmp_path / "keys", "http://127.0.0.1:1")
    (tmp_path / "in.csv").write_text("openid\no-1\n")
    started = time.monotonic()
    done = _cli(
        "send-batch",
        str(tmp_path / "in.csv"),
        "--keys-dir",
        str(tmp_path / "keys"),
        "--stock-id",
        "9856000000000001",
        "--appid",
        "wx233544546545989",
        "--redis",
        f"redis://:{SECRET}@127.0.0.1:{password_redis}/0",
        "-q",
    )
    assert time.monotonic() - started < 30  # not the 60 s outage wait
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and SECRET not in done.stdout + done.stderr
    assert "RedisConfigurationError" in done.stderr and "password" in done.stderr
    assert not (tmp_path / "in.result.csv").exists()


# -- RedisJournal: redis-py's own errors never escape ------------------------------------------------


async def test_redis_journal_unreachable_is_a_journal_error() -> None:
    from wxpay_async.errors import JournalError

    journal = RedisJournal(f"redis://:{SECRET}@127.0.0.1:{_free_port()}/0")
    try:
        with pytest.raises(JournalError, match="opening the journal") as info:  # was: redis ConnectionError
            await journal.open("b")
    finally:
        await journal.close()
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("auth", [f":{SECRET}@", ""])
async def test_a_standalone_rate_limiter_refused_by_redis_says_so_instead_of_pacing_alone(
    password_redis: int, auth: str
) -> None:
    # Before: a wrong (or missing) password was taken for an outage, logged, and the process
    # paced itself at its local share for good: N workers then sent N times the merchant's rate.
    limiter = RedisRateLimiter(f"redis://{auth}127.0.0.1:{password_redis}/0", mchid="1900000001", rate=50)
    try:
        with pytest.raises(RedisConfigurationError, match="refused the shared rate limiter") as info:
            await limiter.acquire()
    finally:
        await limiter.aclose()
    assert not limiter.in_fallback and limiter.fallbacks == 0
    assert SECRET not in str(info.value)


async def test_redis_journal_refused_password_is_a_configuration_error(password_redis: int) -> None:
    journal = RedisJournal(f"redis://:{SECRET}@127.0.0.1:{password_redis}/0")
    try:
        with pytest.raises(RedisConfigurationError, match="password") as info:
            await journal.open("b")
    finally:
        await journal.close()
    assert SECRET not in str(info.value)


# -- notifications of the new event types: hostile resources and a wrong key are WxPayErrors -------------


def test_hostile_notifications_of_every_event_type_raise_only_wxpay_errors() -> None:
    from wxpay_async.crypto import Verifier
    from wxpay_async.notifications import NotificationHandler
    from wxpay_async.notifications._models import NOTIFICATION_CLASSES
    from wxpay_async.testing._notifications import build_notification

    key_id = generate_public_key_id()
    handler = NotificationHandler(Verifier(public_key=PLATFORM.private_key.public_key(), public_key_id=key_id), APIV3)
    other_key = generate_apiv3_key()  # e.g. the brand API key where the APIv3 key was configured
    hostile: list[dict[str, Any]] = [
        {},
        {"coupon_code": [1, 2], "stock_id": {"a": 1}},
        {"send_time": 12, "use_time": [], "return_time": {}, "out_request_no": 1e308},
        {"attach_info": "not an object", "coupon_code": "c"},
        {"consume_information": [], "coupon_amount_info": "x", "state": None},
    ]
    accessors = ("model", "coupon_use", "product_coupon_send", "product_coupon_use", "product_coupon_return")
    for event_type in [*NOTIFICATION_CLASSES, "SOMETHING.NEW"]:
        for resource in hostile:
            for key in (APIV3, other_key):
                signed = build_notification(
                    resource, apiv3_key=key, private_key=PLATFORM.private_key, serial=key_id, event_type=event_type
                )
                try:
                    parsed = handler.parse(signed.headers, signed.body)
                except WxPayError as exc:
                    assert APIV3 not in str(exc) and other_key not in str(exc)
                    continue
                for name in (*accessors, "merchant_coupon_send"):
                    with contextlib.suppress(WxPayError):  # a resource that does not fit: said, typed
                        getattr(parsed, name)
                assert APIV3 not in repr(parsed)


# -- send_row: bad inputs are WxPayErrors; an invalid row is a final "failed", not an exception to retry ---


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"row": {"openid": "o"}, "batch_id": 5}, "batch_id"),
        ({"row": None, "batch_id": "b"}, "row"),
        ({"row": "openid", "batch_id": "b"}, "row"),
        ({"row": {"openid": "o"}, "batch_id": "b", "defaults": [1]}, "defaults"),
        ({"row": {"openid": "o"}, "batch_id": "b", "kind": "bogus"}, "kind"),  # was: sent as a product coupon
    ],
)
async def test_send_row_bad_arguments_are_validation_errors(kwargs: dict[str, Any], field: str) -> None:
    from wxpay_async.batch import send_row

    async with Client(mchid="1900000001", merchant_serial="AB12", apiv3_key=APIV3, **_base()) as wx:
        with pytest.raises(ValidationError) as info:  # was: raw TypeError / AttributeError
            await send_row(wx, stock_id="9856000000000001", appid="wx233544546545989", **kwargs)
    assert info.value.field == field


@pytest.mark.parametrize("row", [{"openid": ""}, {"openid": "o", "coupon_value": "ten"}])
async def test_send_row_invalid_row_is_a_final_failure(row: dict[str, Any]) -> None:
    from wxpay_async.batch import send_row

    async with Client(mchid="1900000001", merchant_serial="AB12", apiv3_key=APIV3, **_base()) as wx:
        outcome = await send_row(wx, row, batch_id="b", stock_id="9856000000000001", appid="wx233544546545989")
    assert outcome.state == "failed" and outcome.code == "VALIDATION" and not outcome.retryable


async def test_batch_sender_batch_id_must_be_a_string() -> None:
    from wxpay_async.batch import BatchSender

    async with Client(mchid="1900000001", merchant_serial="AB12", apiv3_key=APIV3, **_base()) as wx:
        with pytest.raises(ValidationError, match="batch_id"):  # was: raw TypeError
            BatchSender(wx, batch_id=5, progress=None)  # type: ignore[arg-type]


async def test_brand_notification_with_a_wrong_key_names_the_brand_api_key() -> None:
    from wxpay_async.errors import DecryptionError
    from wxpay_async.testing._notifications import build_notification

    key_id = generate_public_key_id()
    base = _base(platform_public_key_id=key_id)
    async with Client(brand_id="120344", brand_serial="AB12", brand_api_key=APIV3, **base) as wx:
        handler = wx.notification_handler()
        wrong = generate_apiv3_key()
        signed = build_notification(
            {"coupon_code": "c"},
            apiv3_key=wrong,
            private_key=PLATFORM.private_key,
            serial=key_id,
            event_type="PRODUCT_COUPON.SEND",
        )
        with pytest.raises(DecryptionError, match="brand API key") as info:  # was: "wrong APIv3 key" only
            handler.parse(signed.headers, signed.body)
    assert APIV3 not in str(info.value) and wrong not in str(info.value)
