"""Fuzz: the answer verifier returns a verified Response or raises SignatureVerificationError."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wxpay_async._request import Request, Response
from wxpay_async.crypto import Verifier, make_nonce, response_message, rsa_sign
from wxpay_async.devkeys import KeyPair
from wxpay_async.errors import SignatureVerificationError
from wxpay_async.middleware import StaticKeySource, VerifyingMiddleware

NAMES = ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial", "Wechatpay-Signature"]
header_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789١٢٣４５ \t+/=ABCDEF", max_size=24),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.binary(max_size=100),
    status=st.sampled_from([200, 204, 400, 500]),
    mutations=st.dictionaries(st.sampled_from(NAMES), st.one_of(header_text, st.none()), max_size=4),
)
async def test_answer_verifier_raises_only_the_protocol_error(
    platform_keys: KeyPair, body: bytes, status: int, mutations: dict[str, str | None]
) -> None:
    timestamp, nonce = str(int(time.time())), make_nonce()
    headers: dict[str, Any] = {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": platform_keys.serial,
        "Wechatpay-Signature": rsa_sign(platform_keys.private_key, response_message(timestamp, nonce, body)),
    }
    for name, value in mutations.items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    middleware = VerifyingMiddleware(StaticKeySource(Verifier([platform_keys.certificate])))
    request = Request(method="GET", base_url="http://127.0.0.1", target="/v3/x")
    response = Response(status=status, headers=headers, content=body, request=request)
    try:
        checked = await middleware.check(response)
    except SignatureVerificationError:
        return
    assert checked.verified or (status >= 400 and any(not headers.get(n) for n in NAMES))
