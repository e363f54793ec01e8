"""The APIv3 protocol on the server side: verify ``Authorization``, sign answers, serve certificates."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import os
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from ..crypto import (
    AUTH_SCHEMA,
    BRAND_SCHEME,
    SIGNTEST_PREFIX,
    aead_encrypt,
    make_nonce,
    parse_any_authorization,
    request_message,
    response_message,
    rsa_sign,
    rsa_verify,
)
from ._clock import rfc3339
from ._errors import ApiError, sign_error
from ._faults import DEFAULT_SKEW, Fault
from ._host import BRAND_PRINCIPAL, SigningHost


def verify_request(emu: SigningHost, method: str, raw_path: str, headers: Mapping[str, str], signed_body: bytes) -> str:
    """The caller's mchid when ``Authorization`` is a valid merchant signature; 401 SIGN_ERROR otherwise.

    ``raw_path`` is the target exactly as received (percent-encoding and query untouched) and
    ``signed_body`` the exact body bytes (the ``meta`` JSON for uploads): anything a client
    changed between signing and sending shows up here, as it does at WeChat Pay.
    """
    value = headers.get("Authorization")
    if not value:
        raise sign_error("Authorization header is missing")
    try:
        scheme, auth = parse_any_authorization(value)
    except ValueError as exc:
        raise sign_error(f"Authorization is malformed: {exc}") from None
    brand_path = raw_path.startswith("/brand/")
    if (scheme is BRAND_SCHEME) != brand_path:
        # Brand APIs take the brand scheme only, merchant APIs the merchant scheme only
        # (签名与验签规则.md: "签名方案：WECHATPAY-BRAND-SHA256-RSA2048"): 401 SIGN_ERROR, the public
        # signature-failure code of every page.
        raise sign_error(
            f"{scheme.name} is not accepted on {'brand' if brand_path else 'merchant'} APIs "
            f"(use {BRAND_SCHEME.name if brand_path else 'WECHATPAY2-SHA256-RSA2048'})"
        )
    if scheme is BRAND_SCHEME:
        return _verify_brand(emu, method, raw_path, headers, signed_body, auth)
    merchant = emu.merchants.get(auth["mchid"])
    if merchant is None:
        raise sign_error(f"mchid {auth['mchid']} is not registered with this emulator")
    if auth["serial_no"].upper() != merchant.serial.upper():
        raise sign_error(f"serial_no {auth['serial_no']} is not the merchant API certificate serial")
    _check_signature(emu, merchant.public_key, method, raw_path, signed_body, auth)
    return merchant.mchid


def _check_signature(
    emu: SigningHost,
    public_key: rsa.RSAPublicKey,
    method: str,
    raw_path: str,
    signed_body: bytes,
    auth: Mapping[str, str],
) -> None:
    """The timestamp within ±300 s, then the signature over the request (merchant and brand alike)."""
    _check_time(emu, auth)
    if not emu.config.verify_signatures and emu.config.benchmark:
        return
    message = request_message(method, raw_path, auth["timestamp"], auth["nonce_str"], signed_body)
    if not rsa_verify(public_key, message, auth["signature"]):
        raise sign_error("signature does not match the request (method, path with query, timestamp, nonce, body)")


def _check_time(emu: SigningHost, auth: Mapping[str, str]) -> None:
    try:
        timestamp = int(auth["timestamp"])
    except ValueError:
        raise sign_error("timestamp is not an integer") from None
    skew = emu.now() - timestamp
    if abs(skew) > emu.config.max_skew:
        raise sign_error(f"timestamp {timestamp} is {skew:+.0f} s away from the server time (limit ±300 s)")


def _verify_brand(
    emu: SigningHost,
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    signed_body: bytes,
    auth: Mapping[str, str],
) -> str:
    """A brand-signed request (品牌直连): ``brand:<brand_id>`` when it verifies, 401 SIGN_ERROR otherwise.

    The brand pages require ``Wechatpay-Serial`` (the WeChat Pay public key id) on every request
    (签名与验签规则.md, 请求头必填项); its absence is answered 400 PARAM_ERROR (no page names the code).
    """
    brand = emu.brands.get(auth["brand_id"])
    if brand is None:
        raise sign_error(f"brand_id {auth['brand_id']} is not registered with this emulator")
    if auth["serial_no"].upper() != brand.serial.upper():
        raise sign_error(f"serial_no {auth['serial_no']} is not the brand API certificate serial")
    if not headers.get("Wechatpay-Serial"):
        raise ApiError(
            400, "PARAM_ERROR", "请求头 Wechatpay-Serial 必填：the WeChat Pay public key id (PUB_KEY_ID_...)"
        )
    _check_signature(emu, brand.public_key, method, raw_path, signed_body, auth)
    return BRAND_PRINCIPAL + brand.brand_id


class ResponseSigner:
    """Signs answers and notifications; in benchmark mode reuses signatures for identical bodies.

    Benchmark mode is NOT the real protocol: a signature (with its timestamp and nonce) is reused
    for up to ``pool_ttl`` seconds for byte-identical bodies, so the emulator's RSA cost does not
    cap a client benchmark. Clients still verify every signature they receive.
    """

    def __init__(self, emu: SigningHost, pool_ttl: float = 60.0) -> None:
        self._emu = emu
        self._pool: dict[tuple[str, bytes], tuple[int, str, str]] = {}
        self.pool_ttl = pool_ttl
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    async def headers_async(
        self,
        body: bytes,
        *,
        requested_serial: str | None,
        for_certificates: bool = False,
        fault: Fault | None = None,
    ) -> dict[str, str]:
        """:meth:`headers`; in benchmark mode bodies not in the pool are signed on worker threads
        (OpenSSL releases the GIL), so signing uses every core instead of the event loop's one."""
        if not self._emu.config.benchmark or fault is not None:
            return self.headers(body, requested_serial=requested_serial, for_certificates=for_certificates, fault=fault)
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=os.cpu_count() or 2, thread_name_prefix="emulator-sign"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor,
            functools.partial(self.headers, body, requested_serial=requested_serial, for_certificates=for_certificates),
        )

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def headers(
        self,
        body: bytes,
        *,
        requested_serial: str | None,
        for_certificates: bool = False,
        fault: Fault | None = None,
    ) -> dict[str, str]:
        emu = self._emu
        serial, key = emu.signing_key(requested_serial, for_certificates=for_certificates)
        kind = fault.kind if fault is not None else None
        if kind == "rotate_certificate":
            new = emu.rotate_certificate(delay=0.0)
            serial, key = new.serial, new.pair.private_key
        timestamp_offset = 0
        if kind == "skew":
            timestamp_offset = int(fault.skew if fault is not None and fault.skew is not None else DEFAULT_SKEW)
        timestamp, nonce, signature = self._sign(serial, key, body, timestamp_offset)
        if kind == "bad_signature":
            _, _, signature = self._sign(serial, key, body + b"tampered", timestamp_offset, pooled=False)
        elif kind == "signtest":
            signature = SIGNTEST_PREFIX + signature
        return {
            "Wechatpay-Timestamp": str(timestamp),
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": AUTH_SCHEMA,
        }

    def _sign(
        self, serial: str, key: rsa.RSAPrivateKey, body: bytes, offset: int, *, pooled: bool = True
    ) -> tuple[int, str, str]:
        now = int(self._emu.now())
        if pooled and self._emu.config.benchmark and offset == 0:
            cached = self._pool.get((serial, body))
            if cached is not None and now - cached[0] < self.pool_ttl:
                return cached
        timestamp = now + offset
        nonce = make_nonce()
        signature = rsa_sign(key, response_message(str(timestamp), nonce, body))
        if pooled and self._emu.config.benchmark and offset == 0:
            if len(self._pool) > 10_000:
                self._pool.clear()
            self._pool[(serial, body)] = (timestamp, nonce, signature)
        return timestamp, nonce, signature


def certificates_payload(emu: SigningHost, apiv3_key: str) -> dict[str, Any]:
    """``GET /v3/certificates``: every listed platform certificate, AEAD-encrypted for the merchant."""
    if emu.config.mode == "public_key":
        if emu.config.certificates_in_public_key_mode == "empty":
            return {"data": []}
        raise ApiError(
            404,
            "RESOURCE_NOT_EXISTS",
            "无可用的平台证书：this merchant uses the WeChat Pay public key (PUB_KEY_ID_...) instead",
        )
    data = [certificate_entry(apiv3_key, platform) for platform in emu.listed_certificates()]
    return {"data": data}


def body_fingerprint(payload: Any) -> str:
    """A stable digest of a JSON request, to tell an idempotent replay from a changed request."""
    from .._request import encode_json

    return hashlib.sha256(encode_json(_canonical(payload))).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def certificate_entry(apiv3_key: str, platform: Any) -> dict[str, Any]:
    """One ``data`` item of a ``/v3/certificates`` answer: the certificate AES-GCM encrypted."""
    nonce = make_nonce(12)
    return {
        "serial_no": platform.serial,
        "effective_time": rfc3339(platform.effective_time),
        "expire_time": rfc3339(platform.expire_time),
        "encrypt_certificate": {
            "algorithm": "AEAD_AES_256_GCM",
            "nonce": nonce,
            "associated_data": "certificate",
            "ciphertext": aead_encrypt(apiv3_key, nonce, "certificate", platform.pair.certificate_pem()),
        },
    }
