"""Picks the right platform key by ``Wechatpay-Serial`` and checks a signature with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import ConfigurationError
from ._keys import certificate_serial
from ._rsa import rsa_verify

SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"


class Verifier:
    """Immutable set of platform keys: certificates by serial, plus an optional public key by id.

    Certificate mode, public-key mode and the combined mode merchants use while migrating are
    all this one class; the serial on the response decides which key applies.
    """

    __slots__ = ("_keys",)

    def __init__(
        self,
        certificates: Iterable[x509.Certificate] = (),
        public_key: rsa.RSAPublicKey | None = None,
        public_key_id: str | None = None,
    ) -> None:
        keys: dict[str, rsa.RSAPublicKey | x509.Certificate] = {}
        for cert in certificates:
            keys[certificate_serial(cert)] = cert
        if (public_key is None) != (public_key_id is None):
            raise ConfigurationError("platform public key and its id (PUB_KEY_ID_...) go together")
        if public_key is not None and public_key_id is not None:
            if not public_key_id.startswith(PUBLIC_KEY_ID_PREFIX):
                raise ConfigurationError(
                    f"platform public key id must start with {PUBLIC_KEY_ID_PREFIX!r}, got {public_key_id!r}"
                )
            keys[public_key_id] = public_key
        self._keys: Mapping[str, rsa.RSAPublicKey | x509.Certificate] = keys

    @property
    def serials(self) -> frozenset[str]:
        return frozenset(self._keys)

    def knows(self, serial: str) -> bool:
        return serial in self._keys

    def verify(self, serial: str, message: bytes, signature: str) -> bool:
        """True only for a genuine signature by the key named ``serial``; probes always fail."""
        if signature.startswith(SIGNTEST_PREFIX):
            return False
        key = self._keys.get(serial)
        if key is None:
            return False
        return rsa_verify(key, message, signature)

    def __repr__(self) -> str:
        return f"Verifier(serials={sorted(self._keys)})"
