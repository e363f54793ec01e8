"""The emulator's state and settings: one object that the app, the admin API and tests share."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from ..crypto import certificate_serial
from ..devkeys import generate_key_pair
from ._auth import ResponseSigner
from ._clock import Clock, SkewedClock
from ._errors import ApiError, param_error
from ._faults import DEFAULT_TIMEOUT_DELAY, FaultInjector
from ._host import BRAND_PRINCIPAL
from ._keys import EmulatorKeys, PlatformKey
from ._ledger import Ledger
from ._notify import Notifier
from ._ratelimit import RateLimiter
from ._store import Store

Mode = Literal["certificate", "public_key", "both"]


@attrs.define(kw_only=True)
class EmulatorConfig:
    """Settings; every duration is in seconds.

    ``mode``: which platform keys sign answers. ``certificate``: platform certificates only;
    ``public_key``: the platform public key only (``GET /v3/certificates`` answers 404
    RESOURCE_NOT_EXISTS, or ``{"data": []}`` with ``certificates_in_public_key_mode="empty"``);
    ``both`` (migration): certificates are served, answers are signed with the key the request's
    ``Wechatpay-Serial`` names, else the public key (certificate downloads: the newest certificate).

    ``benchmark``: reuse response signatures for identical bodies (not the real protocol; see
    :class:`ResponseSigner`); with it, ``verify_signatures=False`` also skips the RSA check of
    requests (the Authorization header is still parsed and its timestamp checked).
    """

    mode: Mode = "both"
    max_skew: float = 300.0
    rotation_delay: float = 24 * 3600.0
    send_rate: float = 500.0
    send_burst: float | None = None
    notify_retry_interval: float = 60.0
    notify_max_attempts: int = 9
    notify_timeout: float = 5.0
    allow_http_notify_url: bool = False
    download_ttl: float = 30.0
    timeout_fault_delay: float = DEFAULT_TIMEOUT_DELAY
    certificates_in_public_key_mode: Literal["not_found", "empty"] = "not_found"
    benchmark: bool = False
    verify_signatures: bool = True
    seed: int | None = None
    db_path: Path | None = None

    def public(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["db_path"] = str(self.db_path) if self.db_path is not None else None
        return out


@attrs.define(kw_only=True)
class Merchant:
    """A merchant the emulator accepts requests from."""

    mchid: str
    serial: str
    public_key: rsa.RSAPublicKey = attrs.field(repr=False)
    apiv3_key: str = attrs.field(repr=False)


@attrs.define(kw_only=True)
class Brand:
    """A brand (品牌直连) the emulator accepts brand-signed requests from."""

    brand_id: str
    serial: str
    public_key: rsa.RSAPublicKey = attrs.field(repr=False)
    brand_api_key: str = attrs.field(repr=False)


class Emulator:
    """State of one emulated WeChat Pay: keys, merchants, coupons, faults, ledger, notifications.

    Create one, then serve it with :func:`create_app` or :func:`run_emulator`. All times come
    from ``clock`` (epoch seconds) plus the admin-settable ``clock.skew``.
    """

    def __init__(
        self,
        keys: EmulatorKeys | None = None,
        config: EmulatorConfig | None = None,
        *,
        clock: Clock | None = None,
        **options: Any,
    ) -> None:
        if config is not None and options:
            config = attrs.evolve(config, **options)
        self.config = config or EmulatorConfig(**options)
        self.keys = keys or EmulatorKeys.generate()
        self.clock = SkewedClock(clock)
        self.store = Store(self.config.db_path)
        self.ledger = Ledger(self.store)
        self.faults = FaultInjector(self.config.seed)
        self.limiter = RateLimiter(self.config.send_rate, self.clock, self.config.send_burst)
        self.signer = ResponseSigner(self)
        self.notifier = Notifier(self)
        self.merchants: dict[str, Merchant] = {}
        self.brands: dict[str, Brand] = {}
        #: Flow files waiting for download: token -> (content, expires_at).
        self.downloads: dict[str, tuple[bytes, float]] = {}
        #: Uploaded images by media id (their metadata is in the store).
        self.media_bytes: dict[str, bytes] = {}
        self.register_merchant(self.keys.mchid, self.keys.merchant.certificate, self.keys.apiv3_key)
        if self.keys.brand is not None and self.keys.brand_api_key is not None:
            self.register_brand(self.keys.brand_id, self.keys.brand.certificate, self.keys.brand_api_key)

    # -- time ------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock()

    # -- merchants and brands ------------------------------------------------------------------
    def register_merchant(
        self, mchid: str, certificate: x509.Certificate | rsa.RSAPublicKey, apiv3_key: str, serial: str | None = None
    ) -> Merchant:
        """Accept requests from another merchant (its API certificate, or public key and serial)."""
        key, serial = _key_and_serial(certificate, serial)
        merchant = Merchant(mchid=mchid, serial=serial, public_key=key, apiv3_key=apiv3_key)
        self.merchants[mchid] = merchant
        return merchant

    def register_brand(
        self,
        brand_id: str,
        certificate: x509.Certificate | rsa.RSAPublicKey,
        brand_api_key: str,
        serial: str | None = None,
    ) -> Brand:
        """Accept brand-signed requests (品牌直连) from a brand: its brand API certificate and API key."""
        key, serial = _key_and_serial(certificate, serial)
        brand = Brand(brand_id=brand_id, serial=serial, public_key=key, brand_api_key=brand_api_key)
        self.brands[brand_id] = brand
        return brand

    def notification_identity(self, principal: str) -> tuple[str, bool] | None:
        """The AES key notifications to ``principal`` are encrypted with, and whether it is a brand.

        Merchants: the APIv3 key; brands: the brand API key (品牌API密钥.md: "解密过程中用的 key 就是品牌API密钥").
        """
        if principal.startswith(BRAND_PRINCIPAL):
            brand = self.brands.get(principal[len(BRAND_PRINCIPAL) :])
            return (brand.brand_api_key, True) if brand is not None else None
        merchant = self.merchants.get(principal)
        return (merchant.apiv3_key, False) if merchant is not None else None

    # -- platform keys -------------------------------------------------------------------------
    def listed_certificates(self) -> list[PlatformKey]:
        now = self.now()
        return [p for p in self.keys.platform if p.listed(now)]

    def _current_certificate(self) -> PlatformKey:
        now = self.now()
        usable = [p for p in self.keys.platform if p.usable(now)]
        if not usable:  # never leave the emulator unable to sign
            usable = sorted(self.keys.platform, key=lambda p: p.active_from)[:1]
        return max(usable, key=lambda p: p.active_from)

    def signing_key(self, requested: str | None, *, for_certificates: bool = False) -> tuple[str, rsa.RSAPrivateKey]:
        """The serial and key an answer is signed with (see :class:`EmulatorConfig` ``mode``)."""
        mode = self.config.mode
        if requested:
            if requested == self.keys.public_key_id and mode != "certificate":
                return self.keys.public_key_id, self.keys.public_key.private_key
            if mode != "public_key":
                now = self.now()
                for platform in self.keys.platform:
                    if platform.serial == requested and platform.usable(now):
                        return platform.serial, platform.pair.private_key
        if mode == "public_key" or (mode == "both" and not for_certificates):
            return self.keys.public_key_id, self.keys.public_key.private_key
        current = self._current_certificate()
        return current.serial, current.pair.private_key

    def notification_serial(self) -> str:
        return self.signing_key(None)[0]

    def rotate_certificate(self, delay: float | None = None, *, expire_old_in: float | None = None) -> PlatformKey:
        """Add a platform certificate: listed at once, signing after ``delay`` (default ``rotation_delay``).

        ``expire_old_in`` makes the certificates listed so far expire that many seconds from now.
        """
        now = self.now()
        if expire_old_in is not None:
            for platform in self.keys.platform:
                platform.expires_at = min(platform.expire_time, now + expire_old_in)
        new = PlatformKey(
            pair=generate_key_pair(
                "wxpay_async emulator platform (rotated)",
                not_before=dt.datetime.fromtimestamp(now - 86400, dt.UTC),
            ),
            active_from=now + (self.config.rotation_delay if delay is None else delay),
        )
        self.keys.platform.append(new)
        return new

    # -- shared checks ---------------------------------------------------------------------------
    def check_notify_url(self, url: Any, field: str = "notify_url") -> str:
        """https, absolute, no query (developer guide); plain http only for loopback hosts."""
        if not isinstance(url, str) or not url:
            raise param_error(field, "must be a non-empty URL string", url)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise param_error(field, "must be an absolute https URL", url)
        if parts.query or parts.fragment:
            raise param_error(field, "must not carry query parameters", url)
        if parts.scheme == "http" and not (self.config.allow_http_notify_url or _is_loopback(parts.hostname)):
            raise param_error(field, "must use https", url)
        return url

    def rate_limit(self, mchid: str, code: str) -> None:
        if not self.limiter.allow(mchid):
            raise ApiError(429, code, "请求过于频繁，请稍后使用原参数重试", headers={"Retry-After": "1"})

    def describe(self) -> dict[str, Any]:
        now = self.now()
        return {
            "config": self.config.public(),
            "mchid": self.keys.mchid,
            "merchant_serial": self.keys.merchant.serial,
            "public_key_id": self.keys.public_key_id,
            "clock_skew": self.clock.skew,
            "now": now,
            "platform_certificates": [
                {
                    "serial_no": p.serial,
                    "active_from": p.active_from,
                    "expire_time": p.expire_time,
                    "signing": p.usable(now),
                }
                for p in self.keys.platform
            ],
            "faults": self.faults.describe(),
            "send_rate": self.limiter.rate,
        }

    async def aclose(self) -> None:
        await self.notifier.close()
        self.store.close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _key_and_serial(
    certificate: x509.Certificate | rsa.RSAPublicKey, serial: str | None
) -> tuple[rsa.RSAPublicKey, str]:
    """A caller's public key and certificate serial: from its API certificate, or a bare key and serial."""
    if isinstance(certificate, x509.Certificate):
        key = certificate.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        return key, serial or certificate_serial(certificate)
    if serial is None:
        raise ValueError("a bare public key needs its certificate serial")
    return certificate, serial
