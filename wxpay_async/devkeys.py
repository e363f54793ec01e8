"""Development keys and certificates for the emulator and tests; never for production.

Generates real RSA-2048 keys and X.509 certificates shaped like WeChat Pay's (upper-case hex
serials, a validity window), so code under test exercises the real cryptography.
"""

from __future__ import annotations

import datetime as dt
import secrets

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .crypto import certificate_serial


@attrs.frozen(kw_only=True)
class KeyPair:
    """An RSA key with a certificate for it; ``serial`` is the certificate serial WeChat Pay style."""

    private_key: rsa.RSAPrivateKey = attrs.field(repr=False)
    certificate: x509.Certificate = attrs.field(repr=False)
    serial: str

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_key_pair(
    common_name: str = "wxpay_async dev",
    *,
    not_before: dt.datetime | None = None,
    valid_for: dt.timedelta = dt.timedelta(days=5 * 365),
    key_size: int = 2048,
) -> KeyPair:
    """A fresh RSA key and a self-signed certificate with a random 160-bit serial."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    start = not_before or (dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wxpay_async emulator"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(secrets.randbits(159) | (1 << 152))
        .not_valid_before(start)
        .not_valid_after(start + valid_for)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(private_key=key, certificate=cert, serial=certificate_serial(cert))


def generate_apiv3_key() -> str:
    """A 32-character APIv3 key of the kind merchants set in the merchant platform."""
    return secrets.token_hex(16)


def generate_public_key_id() -> str:
    return "PUB_KEY_ID_" + "".join(secrets.choice("0123456789") for _ in range(22))
