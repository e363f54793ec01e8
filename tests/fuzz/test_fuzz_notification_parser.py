"""Fuzz: genuinely signed but arbitrary notification bodies give a Notification or a typed error."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wxpay_async.crypto import Verifier, aead_encrypt, make_nonce, response_message, rsa_sign
from wxpay_async.devkeys import KeyPair
from wxpay_async.errors import WxPayError
from wxpay_async.notifications import NotificationHandler

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@st.composite
def bodies(draw: st.DrawFn, apiv3_key: str) -> bytes:
    kind = draw(st.sampled_from(["raw", "json", "envelope"]))
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    nonce = draw(st.one_of(st.just(make_nonce(12)), st.text(max_size=20)))
    plaintext = draw(st.one_of(st.just('{"coupon_id": "1"}'), st.text(max_size=30), json_values.map(json.dumps)))
    try:
        ciphertext: Any = aead_encrypt(apiv3_key, nonce, "coupon", plaintext)
    except (ValueError, WxPayError):
        ciphertext = draw(st.text(max_size=30))
    resource: dict[str, Any] = {
        "algorithm": draw(st.sampled_from(["AEAD_AES_256_GCM", "AES", ""])),
        "nonce": nonce,
        "associated_data": "coupon",
        "ciphertext": draw(st.one_of(st.just(ciphertext), json_values)),
    }
    envelope: dict[str, Any] = {
        "id": draw(st.one_of(st.text(max_size=10), json_values)),
        "create_time": draw(st.one_of(st.just("2025-01-02T13:29:36+08:00"), json_values)),
        "event_type": draw(st.one_of(st.just("COUPON.USE"), json_values)),
        "resource": draw(st.one_of(st.just(resource), json_values)),
    }
    for key in draw(st.lists(st.sampled_from(list(envelope)), max_size=2)):
        envelope.pop(key, None)
    return json.dumps(envelope).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_notification_parser_raises_only_typed_errors(platform_keys: KeyPair, apiv3_key: str, data: Any) -> None:
    handler = NotificationHandler(Verifier([platform_keys.certificate]), apiv3_key)
    body = data.draw(bodies(apiv3_key))
    timestamp, nonce = str(int(time.time())), make_nonce()
    headers = {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": platform_keys.serial,
        "Wechatpay-Signature": rsa_sign(platform_keys.private_key, response_message(timestamp, nonce, body)),
    }
    try:
        notification = handler.parse(headers, body)
    except WxPayError:
        return
    assert isinstance(notification.resource, dict)
    with contextlib.suppress(WxPayError):
        notification.model  # noqa: B018 - the typed model is parsing too
