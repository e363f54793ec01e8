"""The emulator's identities: one merchant, platform certificates and a platform public key.

``write_keys_dir``/``load_keys_dir`` keep them in a directory (``merchant.json`` + PEM files) so
``wxpay-async emulator --keys-dir DIR`` and clients configured from that directory agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs

from ..crypto import certificate_serial, load_certificate, load_private_key
from ..devkeys import KeyPair, generate_apiv3_key, generate_key_pair, generate_public_key_id
from ._types import BrandClientKwargs, ClientKwargs

DEFAULT_MCHID = "1900000001"
#: The emulator's brand (品牌直连); the official brand samples' literal brand id is "120344".
DEFAULT_BRAND_ID = "120344"
MERCHANT_JSON = "merchant.json"


@attrs.define(kw_only=True)
class PlatformKey:
    """A platform certificate; listed at once, used for signing from ``active_from`` on."""

    pair: KeyPair = attrs.field(repr=False)
    active_from: float = 0.0
    #: Overrides the certificate's own ``not_valid_after`` (epoch seconds), to expire old keys early.
    expires_at: float | None = None

    @property
    def serial(self) -> str:
        return self.pair.serial

    @property
    def expire_time(self) -> float:
        if self.expires_at is not None:
            return self.expires_at
        return self.pair.certificate.not_valid_after_utc.timestamp()

    @property
    def effective_time(self) -> float:
        return self.pair.certificate.not_valid_before_utc.timestamp()

    def listed(self, now: float) -> bool:
        return now < self.expire_time

    def usable(self, now: float) -> bool:
        """Valid for signing: activated and not expired."""
        return self.active_from <= now < self.expire_time


@attrs.define(kw_only=True)
class EmulatorKeys:
    """The merchant's API key and APIv3 key, plus the platform's certificates and public key."""

    mchid: str
    merchant: KeyPair = attrs.field(repr=False)
    apiv3_key: str = attrs.field(repr=False)
    platform: list[PlatformKey]
    public_key: KeyPair = attrs.field(repr=False)
    public_key_id: str
    #: A brand that connects directly (品牌直连): its brand API certificate and brand API key.
    brand_id: str = DEFAULT_BRAND_ID
    brand: KeyPair | None = attrs.field(default=None, repr=False)
    brand_api_key: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def generate(cls, mchid: str = DEFAULT_MCHID, brand_id: str = DEFAULT_BRAND_ID) -> EmulatorKeys:
        return cls(
            mchid=mchid,
            merchant=generate_key_pair(f"merchant {mchid}"),
            apiv3_key=generate_apiv3_key(),
            platform=[PlatformKey(pair=generate_key_pair("wxpay_async emulator platform"))],
            public_key=generate_key_pair("wxpay_async emulator public key"),
            public_key_id=generate_public_key_id(),
            brand_id=brand_id,
            brand=generate_key_pair(f"brand {brand_id}"),
            brand_api_key=generate_apiv3_key(),  # 32 characters, digits and letters (品牌API密钥.md)
        )

    def brand_client_kwargs(self, base_url: str) -> BrandClientKwargs:
        """Keyword arguments for a brand :class:`wxpay_async.Client` (品牌直连) talking to this emulator."""
        if self.brand is None or self.brand_api_key is None:
            raise ValueError("these emulator keys have no brand (generate them again, or add one)")
        return {
            "brand_id": self.brand_id,
            "brand_serial": self.brand.serial,
            "private_key": self.brand.private_key,
            "brand_api_key": self.brand_api_key,
            "platform_public_key": self.public_key.public_key,
            "platform_public_key_id": self.public_key_id,
            "base_url": base_url,
        }

    def client_kwargs(self, base_url: str, *, mode: str = "public_key") -> ClientKwargs:
        """Keyword arguments for :class:`wxpay_async.Client` talking to this emulator."""
        kwargs: ClientKwargs = {
            "mchid": self.mchid,
            "merchant_serial": self.merchant.serial,
            "private_key": self.merchant.private_key,
            "apiv3_key": self.apiv3_key,
            "base_url": base_url,
        }
        if mode in ("public_key", "combined", "both"):
            kwargs["platform_public_key"] = self.public_key.public_key
            kwargs["platform_public_key_id"] = self.public_key_id
        return kwargs


def write_keys_dir(directory: Path | str, base_url: str = "", *, keys: EmulatorKeys | None = None) -> EmulatorKeys:
    """Create dev keys and ``merchant.json`` in ``directory`` unless they already exist; load them.

    An existing directory keeps its keys (clients configured from it keep working); only
    ``base_url`` is rewritten when it changed.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / MERCHANT_JSON
    if config.exists():
        loaded = load_keys_dir(directory)
        data = json.loads(config.read_text())
        if base_url and data.get("base_url") != base_url:
            data["base_url"] = base_url
            config.write_text(json.dumps(data, indent=2))
        return loaded
    keys = keys or EmulatorKeys.generate()
    files = {
        "apiclient_key.pem": keys.merchant.private_pem(),
        "apiclient_cert.pem": keys.merchant.certificate_pem(),
        "platform_key.pem": keys.platform[0].pair.private_pem(),
        "platform_cert.pem": keys.platform[0].pair.certificate_pem(),
        "pub_key.pem": keys.public_key.public_pem(),
        "pub_key_private.pem": keys.public_key.private_pem(),
        "pub_key_cert.pem": keys.public_key.certificate_pem(),
    }
    if keys.brand is not None:
        files["brand_apiclient_key.pem"] = keys.brand.private_pem()
        files["brand_apiclient_cert.pem"] = keys.brand.certificate_pem()
    for name, content in files.items():
        path = directory / name
        path.write_bytes(content)
        if name in ("apiclient_key.pem", "platform_key.pem", "pub_key_private.pem", "brand_apiclient_key.pem"):
            path.chmod(0o600)
    config.write_text(
        json.dumps(
            {
                "mchid": keys.mchid,
                "merchant_serial": keys.merchant.serial,
                "private_key_file": "apiclient_key.pem",
                "certificate_file": "apiclient_cert.pem",
                "apiv3_key": keys.apiv3_key,
                "public_key_file": "pub_key.pem",
                "public_key_id": keys.public_key_id,
                "platform_serial": keys.platform[0].serial,
                "platform_certificate_file": "platform_cert.pem",
                "base_url": base_url,
                "brand_id": keys.brand_id,
                "brand_serial": keys.brand.serial if keys.brand is not None else None,
                "brand_private_key_file": "brand_apiclient_key.pem" if keys.brand is not None else None,
                "brand_api_key": keys.brand_api_key,
                "note": "development keys for the wxpay_async emulator; never use them with WeChat Pay",
            },
            indent=2,
        )
    )
    config.chmod(0o600)
    return keys


def _pair(private_pem: bytes, cert_path: Path) -> KeyPair:
    cert = load_certificate(cert_path)
    return KeyPair(private_key=load_private_key(private_pem), certificate=cert, serial=certificate_serial(cert))


def load_keys_dir(directory: Path | str) -> EmulatorKeys:
    """The keys :func:`write_keys_dir` wrote."""
    directory = Path(directory)
    data = json.loads((directory / MERCHANT_JSON).read_text())
    merchant = _pair((directory / "apiclient_key.pem").read_bytes(), directory / "apiclient_cert.pem")
    platform = _pair((directory / "platform_key.pem").read_bytes(), directory / "platform_cert.pem")
    public_private = (directory / "pub_key_private.pem").read_bytes()
    cert_path = directory / "pub_key_cert.pem"
    if cert_path.exists():
        public = _pair(public_private, cert_path)
    else:  # directories written before the certificate was kept
        public = KeyPair(private_key=load_private_key(public_private), certificate=platform.certificate, serial="")
    public = attrs.evolve(public, serial=data["public_key_id"])
    brand = None
    if (directory / "brand_apiclient_cert.pem").exists():  # directories written before brands: none
        brand = _pair((directory / "brand_apiclient_key.pem").read_bytes(), directory / "brand_apiclient_cert.pem")
    return EmulatorKeys(
        mchid=data["mchid"],
        merchant=merchant,
        apiv3_key=data["apiv3_key"],
        platform=[PlatformKey(pair=platform)],
        public_key=public,
        public_key_id=data["public_key_id"],
        brand_id=data.get("brand_id") or DEFAULT_BRAND_ID,
        brand=brand,
        brand_api_key=data.get("brand_api_key") if brand is not None else None,
    )
