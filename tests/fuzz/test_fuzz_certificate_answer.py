"""Fuzz: any /v3/certificates answer is parsed or refused with a typed WxPayError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wxpay_async._request import Request, Response
from wxpay_async.certificates import decrypt_certificates
from wxpay_async.crypto import aead_encrypt, make_nonce, response_message, rsa_sign
from wxpay_async.devkeys import KeyPair
from wxpay_async.errors import WxPayError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["serial_no", "effective_time", "expire_time", "encrypt_certificate"]
ENC_FIELDS = ["algorithm", "nonce", "associated_data", "ciphertext"]
enc_values = st.one_of(st.text(max_size=12), st.text(alphabet="AB+/=", min_size=20, max_size=60), json_values)


def _valid_item(keys: KeyPair, apiv3_key: str) -> dict[str, Any]:
    nonce = make_nonce(12)
    cert = keys.certificate
    return {
        "serial_no": keys.serial,
        "effective_time": cert.not_valid_before_utc.isoformat(),
        "expire_time": cert.not_valid_after_utc.isoformat(),
        "encrypt_certificate": {
            "algorithm": "AEAD_AES_256_GCM",
            "nonce": nonce,
            "associated_data": "certificate",
            "ciphertext": aead_encrypt(apiv3_key, nonce, "certificate", keys.certificate_pem()),
        },
    }


@st.composite
def answers(draw: st.DrawFn, keys: KeyPair, apiv3_key: str) -> bytes:
    kind = draw(st.sampled_from(["raw", "json", "mutated"]))
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    item = _valid_item(keys, apiv3_key)
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            item[draw(st.sampled_from(FIELDS))] = draw(json_values)
        elif isinstance(item.get("encrypt_certificate"), dict):
            item["encrypt_certificate"][draw(st.sampled_from(ENC_FIELDS))] = draw(enc_values)
    return json.dumps({"data": draw(st.sampled_from([[item], [item, draw(json_values)]]))}).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_certificate_answer_raises_only_typed_errors(platform_keys: KeyPair, apiv3_key: str, data: Any) -> None:
    body = data.draw(answers(platform_keys, apiv3_key))
    timestamp, nonce = "1700000000", make_nonce()
    headers = {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": platform_keys.serial,
        "Wechatpay-Signature": rsa_sign(platform_keys.private_key, response_message(timestamp, nonce, body)),
    }
    request = Request(method="GET", base_url="http://127.0.0.1", target="/v3/certificates")
    response = Response(status=200, headers=headers, content=body, request=request)
    try:
        certificates = decrypt_certificates(response, apiv3_key)
    except WxPayError:
        return
    assert all(c.serial_no == platform_keys.serial for c in certificates)
