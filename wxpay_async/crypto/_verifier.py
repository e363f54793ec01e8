"""Picks the right platform key by ``Wechatpay-Serial`` and checks a signature with it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, cast

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa
from multidict import istr

from ..errors import ConfigurationError, SignatureVerificationError, UnknownSerialError
from ._keys import certificate_serial
from ._rsa import rsa_verify
from ._signing import response_message

if TYPE_CHECKING:
    from cryptography import x509

SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"
#: How far a signed message's Wechatpay-Timestamp may be from local time (WeChat Pay: 5 minutes).
MAX_SKEW_SECONDS = 300
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"


class Verifier:
    """Immutable set of platform keys: certificates by serial, plus an optional public key by id.

    Certificate mode, public-key mode and the combined mode merchants use while migrating are
    all this one class; the serial on the response decides which key applies. A certificate is
    trusted only inside its own X.509 validity (notBefore..notAfter), checked at verification
    time with ``clock``, whatever a certificate list claimed about it.
    """

    __slots__ = ("_clock", "_keys", "_windows")

    def __init__(
        self,
        certificates: Iterable[x509.Certificate] = (),
        public_key: rsa.RSAPublicKey | None = None,
        public_key_id: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        keys: dict[str, rsa.RSAPublicKey | x509.Certificate] = {}
        windows: dict[str, tuple[float, float]] = {}
        for cert in certificates:
            serial = certificate_serial(cert)
            keys[serial] = cert
            windows[serial] = (cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp())
        if (public_key is None) != (public_key_id is None):
            raise ConfigurationError("platform public key and its id (PUB_KEY_ID_...) go together")
        if public_key is not None and public_key_id is not None:
            if not public_key_id.startswith(PUBLIC_KEY_ID_PREFIX):
                raise ConfigurationError(
                    f"platform public key id must start with {PUBLIC_KEY_ID_PREFIX!r}, got {public_key_id!r}"
                )
            keys[public_key_id] = public_key
        self._keys: Mapping[str, rsa.RSAPublicKey | x509.Certificate] = keys
        self._windows: Mapping[str, tuple[float, float]] = windows
        self._clock = clock

    @property
    def serials(self) -> frozenset[str]:
        return frozenset(self._keys)

    def _in_force(self, serial: str) -> bool:
        window = self._windows.get(serial)
        if window is None:
            return True  # the platform public key has no validity period
        now = self._clock()
        return window[0] <= now <= window[1]

    def knows(self, serial: str) -> bool:
        """True when a key named ``serial`` is held and (for a certificate) valid right now."""
        return self.key_in_force(serial) is not None

    def key_in_force(self, serial: str) -> rsa.RSAPublicKey | x509.Certificate | None:
        """The key named ``serial`` when :meth:`knows` it, else None (one lookup for both steps)."""
        key = self._keys.get(serial)
        if key is None or not self._in_force(serial):
            return None
        return key

    @staticmethod
    def verify_with(key: rsa.RSAPublicKey | x509.Certificate, message: bytes, signature: str) -> bool:
        """:meth:`verify` with the key :meth:`key_in_force` gave (signature probes refused before)."""
        return rsa_verify(key, message, signature)

    def verify(self, serial: str, message: bytes, signature: str) -> bool:
        """True only for a genuine signature by the key named ``serial``; probes always fail."""
        if signature.startswith(SIGNTEST_PREFIX):
            return False
        key = self.key_in_force(serial)
        return key is not None and rsa_verify(key, message, signature)

    def __repr__(self) -> str:
        return f"Verifier(serials={sorted(self._keys)})"


SIGNATURE_HEADERS = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial")
# The same names as istr (equal to the str): case-insensitive multidicts look them up faster.
_TIMESTAMP, _NONCE, _SIGNATURE, _SERIAL = (istr(name) for name in SIGNATURE_HEADERS)


def missing_signature_headers(headers: Mapping[str, str]) -> list[str]:
    """The ``Wechatpay-*`` headers absent from a (case-insensitive) header mapping."""
    return [name for name in SIGNATURE_HEADERS if not headers.get(name)]


# What each header may look like: ASCII only (``re.ASCII``: no Unicode or fullwidth digits),
# bounded, so nothing downstream (int(), .encode("ascii"), base64) sees anything else.
_HEADER_FORMATS: dict[str, re.Pattern[str]] = {
    "Wechatpay-Timestamp": re.compile(r"[0-9]{1,12}", re.ASCII),
    "Wechatpay-Nonce": re.compile(r"[A-Za-z0-9_\-]{1,64}", re.ASCII),
    "Wechatpay-Signature": re.compile(r"[A-Za-z0-9+/=]{1,2048}", re.ASCII),
    "Wechatpay-Serial": re.compile(r"[A-Za-z0-9_]{1,64}", re.ASCII),
}


def _well_formed(timestamp: str, nonce: str, signature: str, serial: str) -> bool:
    """Whether all four (non-empty) values match their _HEADER_FORMATS.

    The long signature is checked with ``bytes.translate`` (a regex over its 344 characters
    cost about as much as the rest of reading the headers), the three short ones in one match.
    """
    return (
        len(signature) <= 2048
        and signature.isascii()
        and not signature.encode("ascii").translate(None, _BASE64_ALPHABET)
        and _SHORT_FORMATS.fullmatch(f"{timestamp}\n{nonce}\n{serial}") is not None
    )


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_SHORT_FORMATS = re.compile(
    "\n".join(_HEADER_FORMATS[name].pattern for name in ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial")),
    re.ASCII,
)


@attrs.frozen
class SignatureHeaders:
    """The ``Wechatpay-*`` headers of an answer or notification: one place checks them all."""

    timestamp: str
    nonce: str
    signature: str
    serial: str

    @classmethod
    def read(cls, headers: Mapping[str, str]) -> SignatureHeaders | None:
        """From a case-insensitive mapping; None when any of the four is missing.

        A header that is present but malformed (non-ASCII, Unicode digits, spaces, too long,
        a non-numeric timestamp) raises :class:`SignatureVerificationError`: it is the protocol
        error, never a ``ValueError``/``UnicodeEncodeError`` from deeper down.
        """
        get = headers.get
        timestamp, nonce, signature, serial = values = (
            get(_TIMESTAMP),
            get(_NONCE),
            get(_SIGNATURE),
            get(_SERIAL),
        )
        if not (timestamp and nonce and signature and serial):
            return None
        if (
            type(timestamp) is str
            and type(nonce) is str
            and type(signature) is str
            and type(serial) is str
            and _well_formed(timestamp, nonce, signature, serial)
        ):
            # The common answer: all four well-formed (what _HEADER_FORMATS match, tested faster).
            return cls(timestamp, nonce, signature, serial)
        for name, value in zip(SIGNATURE_HEADERS, values, strict=True):
            if not isinstance(value, str) or _HEADER_FORMATS[name].fullmatch(value) is None:
                shown = value[:40] if isinstance(value, str) else type(value).__name__
                raise SignatureVerificationError(f"malformed {name} header {shown!r}")
        return cls(*cast("list[str]", values))

    def check_fresh(self, now: float, max_skew: float, *, context: str = "") -> None:
        """Refuse signature probes and timestamps outside the replay window."""
        prefix = f"{context}: " if context else ""
        if self.signature.startswith(SIGNTEST_PREFIX):
            raise SignatureVerificationError(f"{prefix}signature probe (WECHATPAY/SIGNTEST/) rejected")
        try:
            skew = abs(now - int(self.timestamp))
        except ValueError:
            raise SignatureVerificationError(f"{prefix}bad Wechatpay-Timestamp {self.timestamp!r}") from None
        if skew > max_skew:
            raise SignatureVerificationError(
                f"{prefix}Wechatpay-Timestamp is {skew:.0f}s away from local time (limit {max_skew:.0f}s)"
            )

    def matches(self, verifier: Verifier, body: bytes) -> bool:
        """True when the key named by ``serial`` signed ``TIMESTAMP\\nNONCE\\nBODY\\n``."""
        return verifier.verify(self.serial, response_message(self.timestamp, self.nonce, body), self.signature)


def validate_signed_message(
    headers: Mapping[str, str], body: bytes, verifier: Verifier, now: float, max_skew: float, what: str
) -> SignatureHeaders:
    """The one check of a message WeChat Pay signed: API answers, notifications, certificate lists.

    As wechatpay-go's ``validateHTTPMessage`` (core/auth/validators/wechatpay_validator.go) serves
    both of its validators: the four ``Wechatpay-*`` headers present and well-formed, not a
    signature probe, the timestamp within ``max_skew`` seconds of ``now``, the key named by the
    serial held and in force, and the signature over ``TIMESTAMP\\nNONCE\\nBODY\\n`` valid.
    Raises :class:`SignatureVerificationError` saying which (:class:`UnknownSerialError` for an
    unknown or expired key, so a caller may refresh its keys once and call again).
    """
    signed = SignatureHeaders.read(headers)
    if signed is None:
        missing = ", ".join(missing_signature_headers(headers))
        raise SignatureVerificationError(f"{what} carries no WeChat Pay signature headers (lacks {missing})")
    signed.check_fresh(now, max_skew)
    key = verifier.key_in_force(signed.serial)
    if key is None:
        raise UnknownSerialError(f"no platform key with serial {signed.serial}", serial=signed.serial)
    if not verifier.verify_with(key, response_message(signed.timestamp, signed.nonce, body), signed.signature):
        raise SignatureVerificationError(
            f"{what} signature does not match (serial {signed.serial})", serial=signed.serial
        )
    return signed
