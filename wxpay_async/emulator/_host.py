"""What the signing (``_auth``) and notification (``_notify``) parts need of the emulator.

``Emulator`` builds a ``ResponseSigner`` and a ``Notifier`` and hands them itself. They are
typed against these Protocols instead of the concrete class, so ``_auth`` and ``_notify`` import
nothing of ``_emulator`` (not even for type checkers) and the package has no import cycle;
``tests/test_import_rules.py`` checks both. ``Emulator`` satisfies them structurally (mypy checks
that where it passes ``self``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from ._keys import PlatformKey


class HostConfig(Protocol):
    """The settings read by signing and delivery (``EmulatorConfig`` has them all)."""

    @property
    def mode(self) -> str: ...
    @property
    def max_skew(self) -> float: ...
    @property
    def verify_signatures(self) -> bool: ...
    @property
    def benchmark(self) -> bool: ...
    @property
    def certificates_in_public_key_mode(self) -> str: ...
    @property
    def notify_max_attempts(self) -> int: ...
    @property
    def notify_retry_interval(self) -> float: ...
    @property
    def notify_timeout(self) -> float: ...


class HostMerchant(Protocol):
    """A merchant whose requests are verified (``Merchant``)."""

    @property
    def mchid(self) -> str: ...
    @property
    def serial(self) -> str: ...
    @property
    def public_key(self) -> rsa.RSAPublicKey: ...


class HostBrand(Protocol):
    """A brand (品牌直连) whose brand-signed requests are verified (``Brand``)."""

    @property
    def brand_id(self) -> str: ...
    @property
    def serial(self) -> str: ...
    @property
    def public_key(self) -> rsa.RSAPublicKey: ...


#: The principal of a brand call (``Call.mchid`` of brand requests): never a valid mchid.
BRAND_PRINCIPAL = "brand:"


class SigningHost(Protocol):
    """What request verification and answer signing use: time, settings, merchants, platform keys."""

    @property
    def config(self) -> HostConfig: ...
    @property
    def merchants(self) -> Mapping[str, HostMerchant]: ...
    @property
    def brands(self) -> Mapping[str, HostBrand]: ...
    def now(self) -> float: ...
    def signing_key(
        self, requested: str | None, *, for_certificates: bool = False
    ) -> tuple[str, rsa.RSAPrivateKey]: ...
    def rotate_certificate(self, delay: float | None = None, *, expire_old_in: float | None = None) -> PlatformKey: ...
    def listed_certificates(self) -> list[PlatformKey]: ...
