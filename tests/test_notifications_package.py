"""The notifications package (issue 19 part 5): one concern per module, every import path kept,
endpoint answers chosen by error type (not by the error's text)."""

from __future__ import annotations

import ast
import importlib
import socket
from pathlib import Path

import pytest

import wxpay_async.notifications as notifications
from wxpay_async.crypto import Verifier
from wxpay_async.devkeys import KeyPair
from wxpay_async.errors import WxPayError
from wxpay_async.notifications import (
    DedupeStoreError,
    MalformedNotificationError,
    Notification,
    NotificationHandler,
    NotificationTooLargeError,
    RedisDedupeStore,
)

from .test_notifications import COUPON_USE, notification

PACKAGE = Path(notifications.__file__).parent

#: Every public name ``wxpay_async/notifications.py`` defined before the split (main@89bace2), and
#: the names added since; each stays importable from ``wxpay_async.notifications``.
PUBLIC_BEFORE = [
    "MAX_BODY_BYTES",
    "MAX_SKEW_SECONDS",
    "MalformedNotificationError",
    "NotificationInProgressError",
    "NormalCouponInformation",
    "ConsumeInformation",
    "CouponUseResource",
    "ProductCouponSendResource",
    "Notification",
    "decrypt_resource",
    "ClaimState",
    "DedupeStore",
    "InMemoryDedupeStore",
    "RedisDedupeStore",
    "Callback",
    "NotificationHandler",
    "aiohttp_handler",
    "ASGIApp",
    "asgi_app",
    "starlette_endpoint",
    "RESOURCE_MODELS",
]


@pytest.mark.parametrize("name", PUBLIC_BEFORE)
def test_every_public_name_keeps_its_import_path(name: str) -> None:
    module = importlib.import_module("wxpay_async.notifications")
    assert hasattr(module, name)
    assert name in module.__all__


def test_all_names_only_what_the_package_exports() -> None:
    for name in notifications.__all__:
        assert getattr(notifications, name) is not None, name


#: Which package modules each module may import: lower layers never import upper ones.
ALLOWED = {
    "_errors": set(),
    "_models": {"_errors", "_merchant_coupon"},
    "_merchant_coupon": set(),
    "_decrypt": {"_errors"},
    "_dedupe": set(),
    "_redis_dedupe": {"_dedupe"},
    "_answers": {"_errors"},
    "_handler": {"_answers", "_decrypt", "_dedupe", "_errors", "_models"},
    "_aiohttp": {"_answers", "_handler"},
    "_asgi": {"_answers", "_handler"},
    "_starlette": {"_answers", "_handler"},
}


def test_each_module_imports_only_the_layers_below_it() -> None:
    modules = {p.stem for p in PACKAGE.glob("_*.py") if p.stem != "__init__"}
    assert modules == set(ALLOWED), "a module was added or removed: say what it may import"
    for name in sorted(modules):
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        imported = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module is not None
        }
        assert imported <= ALLOWED[name], (name, imported - ALLOWED[name])


@pytest.fixture
def handler(platform_keys: KeyPair, apiv3_key: str) -> NotificationHandler:
    return NotificationHandler(Verifier([platform_keys.certificate]), apiv3_key, max_body_bytes=4096)


async def test_answers_follow_the_error_type_not_its_text(
    handler: NotificationHandler, platform_keys: KeyPair, apiv3_key: str
) -> None:
    headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE, nid="EV-text")

    async def refuses(n: Notification) -> None:
        raise MalformedNotificationError("the coupon amount exceeds what our ledger allows")

    # A malformed-resource error whose text says "exceeds" is a 400, not a "body too large" 413.
    status, payload = await handler.respond(headers, body, refuses)
    assert (status, payload["message"]) == (400, "the coupon amount exceeds what our ledger allows")
    big_headers, big_body = notification(
        platform_keys, platform_keys.serial, apiv3_key, {**COUPON_USE, "pad": "x" * 5000}, nid="EV-big"
    )
    with pytest.raises(NotificationTooLargeError) as raised:
        handler.parse(big_headers, big_body)
    assert isinstance(raised.value, MalformedNotificationError)  # existing except clauses still catch it
    assert await handler.respond(big_headers, big_body, refuses) == (413, {"code": "FAIL", "message": "body too large"})


async def test_an_unreachable_redis_is_a_wxpay_error_and_the_callback_does_not_run(
    platform_keys: KeyPair, apiv3_key: str
) -> None:
    with socket.socket() as s:  # a port nothing listens on: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = RedisDedupeStore(f"redis://127.0.0.1:{port}/0")
    handler = NotificationHandler(Verifier([platform_keys.certificate]), apiv3_key, dedupe=store)
    headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE, nid="EV-noredis")
    ran: list[str] = []

    async def callback(n: Notification) -> None:
        ran.append(n.id)

    try:
        with pytest.raises(DedupeStoreError, match="did not run") as raised:
            await handler.handle(headers, body, callback)
        assert isinstance(raised.value, WxPayError) and raised.value.__cause__ is not None
        status, payload = await handler.respond(headers, body, callback)
        assert (status, payload["message"]) == (500, "dedupe store unavailable, please retry")
        assert ran == []
    finally:
        await store.aclose()
