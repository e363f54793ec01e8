"""Signed, encrypted notifications, built the way WeChat Pay sends them, for handler tests."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric import rsa

from ..crypto import AUTH_SCHEMA, SIGNTEST_PREFIX, aead_encrypt, make_nonce, response_message, rsa_sign

_CST = dt.timezone(dt.timedelta(hours=8))


class SignedNotification(NamedTuple):
    """What WeChat Pay POSTs to a notify URL: ``headers, body = build_notification(...)``."""

    headers: dict[str, str]
    body: bytes


def tampered_signature(signature: str) -> str:
    """``signature`` with one bit of its first byte flipped: well-formed base64, wrong signature."""
    raw = bytearray(base64.b64decode(signature))
    raw[0] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


def signature_headers(
    private_key: rsa.RSAPrivateKey,
    serial: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    tamper: bool = False,
    signtest: bool = False,
) -> dict[str, str]:
    """The ``Wechatpay-*`` headers of an answer or notification carrying ``body``, signed by ``private_key``.

    ``tamper`` flips a bit of the signature; ``signtest`` turns it into a ``WECHATPAY/SIGNTEST/``
    probe (WeChat Pay's check that merchants really verify); ``timestamp`` skews the clock.
    """
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = make_nonce()
    signature = rsa_sign(private_key, response_message(ts, nonce, body))
    if tamper:
        signature = tampered_signature(signature)
    if signtest:
        signature = SIGNTEST_PREFIX + signature
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": signature,
        "Wechatpay-Signature-Type": AUTH_SCHEMA,
    }


def build_notification(
    resource: Mapping[str, Any],
    *,
    apiv3_key: str,
    private_key: rsa.RSAPrivateKey,
    serial: str,
    event_type: str = "COUPON.USE",
    notification_id: str | None = None,
    summary: str = "代金券核销通知",
    original_type: str = "coupon",
    associated_data: str = "coupon",
    create_time: str | None = None,
    timestamp: int | None = None,
    tamper: bool = False,
    signtest: bool = False,
) -> SignedNotification:
    """A notification as WeChat Pay delivers it: ``resource`` AES-256-GCM encrypted with the
    APIv3 key, the envelope signed with the platform key ``private_key`` named ``serial`` (a
    certificate serial, or ``PUB_KEY_ID_...`` in public-key mode).

    Feed it to ``NotificationHandler.parse(headers, body)`` / ``respond(...)`` or POST it to your
    endpoint. ``timestamp`` (skew), ``tamper`` and ``signtest`` make the checks fail on purpose.
    """
    nonce = make_nonce(12)
    envelope = {
        "id": notification_id or f"EV-{uuid.uuid4().hex[:20]}",
        "create_time": create_time or dt.datetime.now(_CST).replace(microsecond=0).isoformat(),
        "event_type": event_type,
        "resource_type": "encrypt-resource",
        "summary": summary,
        "resource": {
            "algorithm": "AEAD_AES_256_GCM",
            "nonce": nonce,
            "associated_data": associated_data,
            "original_type": original_type,
            "ciphertext": aead_encrypt(
                apiv3_key, nonce, associated_data, json.dumps(dict(resource), ensure_ascii=False)
            ),
        },
    }
    body = json.dumps(envelope, ensure_ascii=False).encode("utf-8")
    headers = signature_headers(private_key, serial, body, timestamp=timestamp, tamper=tamper, signtest=signtest)
    return SignedNotification(headers, body)
