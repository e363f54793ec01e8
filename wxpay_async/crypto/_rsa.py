"""SHA256withRSA signatures and RSA-OAEP for sensitive fields."""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..errors import DecryptionError
from ._keys import PublicKeySource, _rsa_public

_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def rsa_sign(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    """Base64 SHA256withRSA (PKCS#1 v1.5) signature of ``message``."""
    return base64.b64encode(private_key.sign(message, _PKCS1, _SHA256)).decode("ascii")


def rsa_verify(key_or_cert: PublicKeySource, message: bytes, signature: str) -> bool:
    """True when ``signature`` (base64) is a valid SHA256withRSA signature of ``message``.

    Anything malformed (bad base64, wrong length) is simply "not valid": callers decide what a
    failure means, this never raises on attacker-controlled input.
    """
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        _rsa_public(key_or_cert).verify(raw, message, _PKCS1, _SHA256)
    except InvalidSignature:
        return False
    return True


def _oaep() -> padding.OAEP:
    # WeChat Pay uses OAEP with SHA-1 and MGF1-SHA-1 (RSA/ECB/OAEPWithSHA-1AndMGF1Padding).
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)


def oaep_encrypt(key_or_cert: PublicKeySource, plaintext: str | bytes) -> str:
    """Encrypt a sensitive field for the platform key; send its id in ``Wechatpay-Serial``."""
    data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
    return base64.b64encode(_rsa_public(key_or_cert).encrypt(data, _oaep())).decode("ascii")


def oaep_decrypt(private_key: rsa.RSAPrivateKey, ciphertext: str | bytes) -> str:
    """Decrypt a sensitive response field encrypted for the merchant key."""
    try:
        raw = base64.b64decode(ciphertext, validate=True)
        return private_key.decrypt(raw, _oaep()).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError(f"RSA-OAEP decryption failed: {exc}") from None
