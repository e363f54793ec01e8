"""AEAD_AES_256_GCM as WeChat Pay uses it (certificates and notification resources)."""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import DecryptionError

_TAG_BYTES = 16


def _b(value: str | bytes, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _aesgcm(key: str | bytes) -> AESGCM:
    raw = _b(key, "key")
    if len(raw) not in (16, 24, 32):
        # Never echo the key itself.
        raise DecryptionError(f"AES-GCM key must be 16, 24 or 32 bytes, got {len(raw)}")
    return AESGCM(raw)


def aead_encrypt(key: str | bytes, nonce: str | bytes, associated_data: str | bytes, plaintext: str | bytes) -> str:
    """Encrypt and return base64(ciphertext ‖ tag)."""
    ct = _aesgcm(key).encrypt(_b(nonce, "nonce"), _b(plaintext, "plaintext"), _b(associated_data, "aad"))
    return base64.b64encode(ct).decode("ascii")


def aead_decrypt(key: str | bytes, nonce: str | bytes, associated_data: str | bytes, ciphertext: str | bytes) -> bytes:
    """Decrypt base64(ciphertext ‖ tag); :class:`DecryptionError` when authentication fails."""
    try:
        raw = base64.b64decode(_b(ciphertext, "ciphertext"), validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("AES-GCM ciphertext is not valid base64") from None
    if len(raw) < _TAG_BYTES:
        raise DecryptionError("AES-GCM ciphertext is shorter than its 16-byte tag")
    nonce_b = _b(nonce, "nonce")
    if not 8 <= len(nonce_b) <= 128:
        raise DecryptionError(f"AES-GCM nonce must be 8 to 128 bytes, got {len(nonce_b)}")
    try:
        return _aesgcm(key).decrypt(nonce_b, raw, _b(associated_data, "aad"))
    except InvalidTag:
        raise DecryptionError(
            "AES-GCM authentication failed: wrong APIv3 key (a brand: its brand API key), nonce or associated data, "
            "or the data was altered"
        ) from None
