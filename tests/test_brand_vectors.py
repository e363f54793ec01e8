"""Known answers for brands (品牌直连), computed by WeChat Pay's official brand utility.

``tests/official/vectors/brand.json`` was written by ``scripts/brand_vectors.py``, which ran the
official ``WXPayBrandUtility`` methods (``buildAuthorization``, ``verify``, ``aesAeadDecrypt``;
source named in the file) with javac/java. The SDK must produce the very same Authorization
headers from the same inputs, and read the notification the official code verified and decrypted
with the brand API key to the same plaintext.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from wxpay_async import Client
from wxpay_async.crypto import BRAND_SCHEME, load_private_key
from wxpay_async.errors import WxPayError
from wxpay_async.middleware import SigningMiddleware

VECTORS = json.loads((Path(__file__).parent / "official" / "vectors" / "brand.json").read_text(encoding="utf-8"))


def brand_client(**extra: Any) -> Client:
    return Client(
        brand_id=VECTORS["brand_id"],
        brand_serial=VECTORS["brand_serial"],
        private_key=VECTORS["brand_private_key_pem"],
        brand_api_key=VECTORS["brand_api_key"],
        platform_public_key=VECTORS["platform_public_key_pem"],
        platform_public_key_id=VECTORS["platform_public_key_id"],
        **extra,
    )


def test_vectors_name_the_official_source() -> None:
    assert VECTORS["source"].startswith("wechatpay-apiv3/wechatpay-skills@")
    assert VECTORS["source"].endswith("Java/9-SDK工具类/WXPayBrandUtility.java")
    assert len(VECTORS["authorization"]) == 3


@pytest.mark.parametrize("vector", VECTORS["authorization"], ids=lambda v: f"{v['method']} {v['uri']}")
async def test_authorization_equals_the_official_utility(vector: dict[str, str]) -> None:
    official = vector["official_authorization"]
    params = BRAND_SCHEME.parse(official)
    split = urlsplit(vector["uri"])
    wx = brand_client()
    try:
        request = wx.build_request(
            vector["method"],
            split.path,
            query=dict(parse_qsl(split.query)) or None,
            content=vector["body"].encode("utf-8") or None,
        )
        assert request.target == vector["uri"]
        signer = SigningMiddleware(
            VECTORS["brand_id"],
            VECTORS["brand_serial"],
            load_private_key(VECTORS["brand_private_key_pem"]),
            clock=lambda: float(params["timestamp"]),
            nonce=lambda: params["nonce_str"],
            scheme=wx.credentials.scheme,
        )
        signed = await signer.sign(request)
        assert signed.headers["Authorization"] == official  # byte for byte, parameter order included
        assert request.headers["Wechatpay-Serial"] == VECTORS["platform_public_key_id"]
        other = SigningMiddleware(
            VECTORS["brand_id"],
            VECTORS["brand_serial"],
            load_private_key(VECTORS["brand_private_key_pem"]),
            clock=lambda: float(params["timestamp"]) + 1,
            nonce=lambda: params["nonce_str"],
            scheme=BRAND_SCHEME,
        )
        assert (await other.sign(request)).headers["Authorization"] != official
    finally:
        await wx.aclose()


async def test_notification_reads_as_the_official_utility_decrypted_it() -> None:
    note = VECTORS["notification"]
    assert note["official_verify"] == "VERIFIED"
    timestamp = int(note["headers"]["Wechatpay-Timestamp"])
    wx = brand_client()
    try:
        handler = wx.notification_handler(clock=lambda: float(timestamp))
        parsed = handler.parse(note["headers"], note["body"].encode("utf-8"))
        assert parsed.resource == json.loads(note["official_plaintext"])
        assert parsed.event_type == "PRODUCT_COUPON.SEND"
        assert parsed.model.coupon_code == "Code_123456" and parsed.model.stock_id == "1000000013001"
        tampered = note["body"].replace("商品券发放通知", "商品券发放通知!")
        with pytest.raises(WxPayError):
            handler.parse(note["headers"], tampered.encode("utf-8"))
    finally:
        await wx.aclose()
    # Decrypted with another key (a merchant's APIv3 key): refused.
    other = Client(
        brand_id=VECTORS["brand_id"],
        brand_serial=VECTORS["brand_serial"],
        private_key=VECTORS["brand_private_key_pem"],
        brand_api_key="Z" * 32,
        platform_public_key=VECTORS["platform_public_key_pem"],
        platform_public_key_id=VECTORS["platform_public_key_id"],
    )
    try:
        with pytest.raises(WxPayError):
            other.notification_handler(clock=lambda: float(timestamp)).parse(
                note["headers"], note["body"].encode("utf-8")
            )
    finally:
        await other.aclose()
