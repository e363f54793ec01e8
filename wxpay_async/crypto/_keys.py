"""Loading merchant keys, platform certificates and platform public keys from PEM.

Accepts PEM text, PEM bytes or a ``pathlib.Path``; a plain ``str`` is always PEM text, never a
file name, so a misplaced path cannot be mistaken for a key (the error says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..errors import ConfigurationError

if TYPE_CHECKING:  # cryptography.x509 costs ~20 ms to import; public-key mode never needs it
    from cryptography import x509

PEMSource: TypeAlias = str | bytes | Path
PublicKeySource: TypeAlias = "rsa.RSAPublicKey | x509.Certificate"

MIN_RSA_BITS = 2048


def _read(src: PEMSource, what: str) -> bytes:
    if isinstance(src, Path):
        try:
            return src.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read {what} from {src}: {exc.strerror or exc}") from None
    if isinstance(src, str):
        data = src.encode("ascii", "replace")
    elif isinstance(src, bytes | bytearray | memoryview):
        data = bytes(src)
    else:
        raise ConfigurationError(f"{what} must be PEM text (str/bytes) or a pathlib.Path, not {type(src).__name__}")
    if b"-----BEGIN" not in data:
        hint = " (to load a file, pass pathlib.Path(...))" if isinstance(src, str) and len(src) < 4096 else ""
        raise ConfigurationError(f"{what} is not PEM: no '-----BEGIN' line{hint}")
    return data


def _check_rsa_size(key: rsa.RSAPrivateKey | rsa.RSAPublicKey, what: str) -> None:
    if key.key_size < MIN_RSA_BITS:
        raise ConfigurationError(f"{what} is RSA-{key.key_size}; WeChat Pay requires RSA-{MIN_RSA_BITS} or more")


def load_private_key(src: PEMSource, password: bytes | None = None) -> rsa.RSAPrivateKey:
    """Load the merchant API private key (``apiclient_key.pem``, PKCS#8 or PKCS#1)."""
    data = _read(src, "private key")
    try:
        # OpenSSL's full RSA key check tests p and q for primality (~25 ms at start-up). This is
        # the merchant's own key, not attacker input, and the signature self-test below catches
        # any inconsistent key (wrong d, CRT values...) that would sign wrongly.
        key = serialization.load_pem_private_key(data, password=password, unsafe_skip_rsa_key_validation=True)
    except TypeError as exc:
        # cryptography raises TypeError for "encrypted but no password" and the reverse.
        raise ConfigurationError(f"private key: {exc} (pass password=...)") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigurationError(f"private key could not be parsed: {_first_line(exc)}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError(f"private key must be RSA, got {type(key).__name__}")
    _check_rsa_size(key, "private key")
    _self_test(key)
    return key


def _self_test(key: rsa.RSAPrivateKey) -> None:
    """Sign once and verify with the public half: an inconsistent key never signs a request."""
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    message = b"wxpay_async private key self-test"
    try:
        key.public_key().verify(key.sign(message, pkcs1, sha256), message, pkcs1, sha256)
    except (InvalidSignature, ValueError) as exc:
        raise ConfigurationError(f"private key is inconsistent (its signatures do not verify): {exc!r}") from None


def load_certificate(src: PEMSource) -> x509.Certificate:
    """Load an X.509 certificate (a platform certificate or the merchant API certificate)."""
    from cryptography.x509 import load_pem_x509_certificate

    data = _read(src, "certificate")
    try:
        cert = load_pem_x509_certificate(data)
    except ValueError as exc:
        raise ConfigurationError(f"certificate could not be parsed: {_first_line(exc)}") from None
    pub = cert.public_key()
    if not isinstance(pub, rsa.RSAPublicKey):
        raise ConfigurationError(f"certificate key must be RSA, got {type(pub).__name__}")
    _check_rsa_size(pub, "certificate key")
    return cert


def load_public_key(src: PEMSource) -> rsa.RSAPublicKey:
    """Load the WeChat Pay platform public key (``pub_key.pem``, SubjectPublicKeyInfo or PKCS#1)."""
    data = _read(src, "public key")
    if b"CERTIFICATE" in data:
        return _rsa_public(load_certificate(data))
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigurationError(f"public key could not be parsed: {_first_line(exc)}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigurationError(f"public key must be RSA, got {type(key).__name__}")
    _check_rsa_size(key, "public key")
    return key


def certificate_serial(cert: x509.Certificate) -> str:
    """The serial number as WeChat Pay writes it: upper-case hex, no separators."""
    return format(cert.serial_number, "X")


def _rsa_public(key_or_cert: PublicKeySource) -> rsa.RSAPublicKey:
    key = key_or_cert if isinstance(key_or_cert, rsa.RSAPublicKey) else key_or_cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigurationError(f"expected an RSA public key or certificate, got {type(key).__name__}")
    return key


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
