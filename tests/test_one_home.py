"""One home per rule: exception classes, the transient rule, status errors with headers, the signed-message check."""

from __future__ import annotations

import ast
import pathlib
import time

import pytest
from aiohttp.test_utils import TestServer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import wxpay_async
from wxpay_async import Client, RetryPolicy
from wxpay_async.certificates import decrypt_certificates
from wxpay_async.crypto import SIGNTEST_PREFIX, Verifier, validate_signed_message
from wxpay_async.errors import (
    InternalServerError,
    NotificationTooLargeError,
    RateLimitError,
    SignatureVerificationError,
    UnknownSerialError,
    WxPayError,
    is_rate_limited,
    is_transient,
)
from wxpay_async.middleware.otel import OpenTelemetryMiddleware

from .conftest import client_kwargs
from .fake_wechat import FakeWeChat, Reply

PACKAGE = pathlib.Path(wxpay_async.__file__).parent
NO_RETRY = RetryPolicy(max_attempts=1)


def test_every_exception_class_of_the_sdk_lives_in_errors() -> None:
    """Outside errors.py only the CLI's and the emulator's internal errors (never raised by a call)."""
    allowed = {("cli.py", "CLIError"), ("emulator/_errors.py", "ApiError")}
    found = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if any(b.endswith(("Error", "Exception")) for b in bases) and (rel, node.name) not in allowed:
                    found.append((rel, node.name))
    assert found == []


def test_old_import_places_still_work() -> None:
    from wxpay_async import errors
    from wxpay_async.batch._journal import JournalError
    from wxpay_async.certificates import CertificateError, CertificateManagerClosedError
    from wxpay_async.flows import FlowFormatError
    from wxpay_async.notifications import MalformedNotificationError, NotificationInProgressError

    assert JournalError is errors.JournalError and CertificateError is errors.CertificateError
    assert CertificateManagerClosedError is errors.CertificateManagerClosedError
    assert FlowFormatError is errors.FlowFormatError
    assert MalformedNotificationError is errors.MalformedNotificationError
    assert NotificationInProgressError is errors.NotificationInProgressError
    assert issubclass(NotificationTooLargeError, MalformedNotificationError)


@pytest.mark.parametrize(
    ("status", "code", "transient", "limited"),
    [
        (429, None, True, True),
        (500, "SYSTEM_ERROR", True, False),
        (503, None, True, False),
        (501, None, False, False),
        (400, "SYSTEM_ERROR", True, False),
        (403, "FREQUENCY_LIMITED", True, True),
        (400, "PARAM_ERROR", False, False),
        (403, "NOT_ENOUGH", False, False),
    ],
)
def test_one_transient_rule(status: int, code: str | None, transient: bool, limited: bool) -> None:
    assert is_transient(status, code) is transient
    assert is_rate_limited(status, code) is limited
    error = wxpay_async.errors.status_error_class(status)(status=status, code=code, message=None)
    assert error.transient is transient and error.rate_limited is limited


async def test_status_errors_keep_the_answer_headers_and_retry_after(fake: FakeWeChat, server: TestServer) -> None:
    async with Client(**client_kwargs(fake, server, mode="public_key", retry=NO_RETRY)) as wx:
        fake.queue(
            Reply(status=429, body={"code": "FREQUENCY_LIMITED", "message": "slow"}, headers={"Retry-After": "7"})
        )
        with pytest.raises(RateLimitError) as caught:
            await wx.favor.get_stock("1", stock_creator_mchid=wx.mchid)
        assert caught.value.retry_after == 7.0
        assert caught.value.headers["Request-ID"] == caught.value.request_id
        fake.queue(Reply(status=503, body={"code": "SYSTEM_ERROR", "message": "x"}))
        with pytest.raises(InternalServerError) as caught5:
            await wx.favor.get_stock("1", stock_creator_mchid=wx.mchid)
        assert caught5.value.retry_after is None and caught5.value.transient


async def test_the_retry_layer_and_telemetry_use_the_same_rule(fake: FakeWeChat, server: TestServer) -> None:
    """A 403 FREQUENCY_LIMITED is transient for all three (the batch sender reads ``exc.transient``)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    retry = RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.002)
    otel = OpenTelemetryMiddleware(tracer_provider=provider)
    async with Client(**client_kwargs(fake, server, mode="public_key", retry=retry, middleware=[otel])) as wx:
        fake.queue(Reply(status=403, body={"code": "FREQUENCY_LIMITED", "message": "slow"}))
        stock = await wx.favor.get_stock("1", stock_creator_mchid=wx.mchid)  # retried, then answered
        assert stock is not None
        fake.queue(Reply(status=403, body={"code": "NOT_ENOUGH", "message": "no budget"}))
        with pytest.raises(WxPayError):
            await wx.favor.get_stock("1", stock_creator_mchid=wx.mchid)
    transient = [s.attributes.get("wxpay.transient") for s in exporter.get_finished_spans()]
    assert transient == [True, None, False]


def test_one_validator_for_answers_notifications_and_certificate_lists(fake: FakeWeChat) -> None:
    """The certificates answer is now checked for freshness like the others (a replayed list is refused)."""

    fake.clock = lambda: time.time() - 3600  # signed an hour ago: a replay
    reply = fake._respond(Reply(body=fake.certificates_body(), serial=fake.platform_certs[0].serial), _FakeRequest())
    response = wxpay_async.Response(
        status=200,
        headers=dict(reply.headers),
        content=reply.body,
        request=wxpay_async.Request(method="GET", base_url="http://x", target="/v3/certificates"),
    )
    with pytest.raises(SignatureVerificationError, match="away from local time"):
        decrypt_certificates(response, fake.apiv3_key)
    fake.clock = time.time
    fresh = fake._respond(Reply(body=fake.certificates_body(), serial=fake.platform_certs[0].serial), _FakeRequest())
    ok = response.replace(headers=dict(fresh.headers), content=fresh.body)
    assert [c.serial_no for c in decrypt_certificates(ok, fake.apiv3_key)] == [fake.platform_certs[0].serial]


def test_validator_refuses_probes_and_names_unknown_serials(fake: FakeWeChat) -> None:
    reply = fake._respond(Reply(body={"a": 1}, signature="signtest"), _FakeRequest())
    verifier = Verifier([c.certificate for c in fake.platform_certs])
    with pytest.raises(SignatureVerificationError, match="probe"):
        validate_signed_message(reply.headers, reply.body, verifier, now=time.time(), max_skew=300, what="x")
    assert reply.headers["Wechatpay-Signature"].startswith(SIGNTEST_PREFIX)
    good = fake._respond(Reply(body={"a": 1}), _FakeRequest())
    with pytest.raises(UnknownSerialError) as caught:
        validate_signed_message(good.headers, good.body, Verifier(), now=time.time(), max_skew=300, what="x")
    assert caught.value.serial == good.headers["Wechatpay-Serial"]


class _FakeRequest:
    """What FakeWeChat._respond reads of a request: its headers."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
