"""Identities a Client signs as: a merchant (``mchid``) or a brand that connects directly (品牌直连).

A client holds exactly one identity. A brand identity is what the official brand utility's
``BrandConfig`` holds (brand id, brand API certificate serial, its private key, WeChat Pay public
key id and key; wechatpay-apiv3/wechatpay-skills@15f40d070c503be7f02c3ebeb8dfb6b8274f3291:
wechatpay-product-coupon/references/1-品牌/代码示例/Go/9-SDK工具类/wxpay_brand_utility.go) plus the
brand API key (品牌API密钥: 32 characters, digits and letters, decrypts notifications;
.../1-品牌/签名验签/品牌API密钥.md). Brands verify answers and notifications with the WeChat Pay
public key only ("使用微信支付公钥验签 ... 不是品牌API证书", .../1-品牌/签名验签/签名与验签规则.md),
so a brand client never downloads platform certificates.

Brand APIs live under ``/brand/`` (.../1-品牌/接入指南/API接口清单.md: "品牌直连 API 路径以 /brand/ 开头");
merchant APIs under ``/v3/``. A call for the other identity is refused before anything is sent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa

from .crypto import BRAND_SCHEME, PUBLIC_KEY_ID_PREFIX, AuthScheme, PEMSource, load_private_key, load_public_key
from .errors import ConfigurationError
from .errors import IdentityMismatchError as IdentityMismatchError  # importable from here, as before

if TYPE_CHECKING:
    from ._config import Credentials

#: Where brand APIs live (every other path is a merchant API).
BRAND_PATH_PREFIX = "/brand/"

#: Environment variables read by :meth:`Client.from_env` for a brand (set WXPAY_BRAND_ID).
BRAND_ENV_VARS = {
    "WXPAY_BRAND_ID": "brand id (品牌ID); selects the brand identity (required)",
    "WXPAY_BRAND_SERIAL": "serial number of the brand API certificate (required)",
    "WXPAY_PRIVATE_KEY_PATH": "path to the brand API certificate's apiclient_key.pem (or WXPAY_PRIVATE_KEY)",
    "WXPAY_BRAND_API_KEY": "the 32-character brand API key, 品牌API密钥 (required)",
    "WXPAY_PUBLIC_KEY_PATH": "path to the WeChat Pay public key pub_key.pem (required)",
    "WXPAY_PUBLIC_KEY_ID": "its id, PUB_KEY_ID_... (required)",
    "WXPAY_BASE_URL": "API base URL (default https://api.mch.weixin.qq.com)",
}

_BRAND_ID = re.compile(r"[0-9A-Za-z_\-]{1,64}", re.ASCII)
_API_KEY = re.compile(r"[0-9A-Za-z]{32}", re.ASCII)
_MERCHANT_ONLY = ("mchid", "merchant_serial", "apiv3_key")
_BRAND_ONLY = ("brand_id", "brand_serial", "brand_api_key")


def _secret_repr(_: object) -> str:
    return "***"


@attrs.frozen(kw_only=True)
class BrandCredentials:
    """What identifies and authenticates a brand (品牌直连). Secrets are hidden from repr."""

    brand_id: str
    brand_serial: str
    private_key: rsa.RSAPrivateKey = attrs.field(repr=_secret_repr)
    brand_api_key: str = attrs.field(repr=_secret_repr)
    platform_public_key: rsa.RSAPublicKey = attrs.field(repr=False)
    platform_public_key_id: str

    is_brand = True
    scheme: ClassVar[AuthScheme] = BRAND_SCHEME

    @property
    def identity_id(self) -> str:
        """The value of the Authorization header's ``brand_id``."""
        return self.brand_id

    @property
    def serial(self) -> str:
        return self.brand_serial

    @property
    def notification_key(self) -> str:
        """The AES-GCM key of notifications: the brand API key."""
        return self.brand_api_key

    @property
    def identity_key(self) -> str:
        """A name unique across merchants and brands (rate limiters, ledgers): ``brand:<brand_id>``."""
        return f"brand:{self.brand_id}"

    @classmethod
    def load(
        cls,
        *,
        brand_id: str,
        brand_serial: str,
        private_key: PEMSource | rsa.RSAPrivateKey,
        brand_api_key: str,
        platform_public_key: PEMSource | rsa.RSAPublicKey | None,
        platform_public_key_id: str | None,
    ) -> BrandCredentials:
        if not isinstance(brand_id, str) or not _BRAND_ID.fullmatch(brand_id):
            raise ConfigurationError(f"brand_id must be the brand id (digits, letters, _ or -), got {brand_id!r}")
        if (
            not isinstance(brand_serial, str)
            or not brand_serial
            or not all(c in "0123456789ABCDEFabcdef" for c in brand_serial)
        ):
            raise ConfigurationError("brand_serial must be the hex serial number of the brand API certificate")
        if not isinstance(brand_api_key, str) or not _API_KEY.fullmatch(brand_api_key):
            size = len(brand_api_key) if isinstance(brand_api_key, str) else type(brand_api_key).__name__
            raise ConfigurationError(
                f"brand_api_key must be the 32-character brand API key of digits and letters (got {size})"
            )
        if platform_public_key is None or not platform_public_key_id:
            raise ConfigurationError(
                "a brand verifies answers with the WeChat Pay public key: give platform_public_key "
                "and platform_public_key_id (PUB_KEY_ID_...)"
            )
        if not isinstance(platform_public_key_id, str) or not platform_public_key_id.startswith(PUBLIC_KEY_ID_PREFIX):
            raise ConfigurationError(f"platform_public_key_id must start with {PUBLIC_KEY_ID_PREFIX!r}")
        key = private_key if isinstance(private_key, rsa.RSAPrivateKey) else load_private_key(private_key)
        public = (
            platform_public_key
            if isinstance(platform_public_key, rsa.RSAPublicKey)
            else load_public_key(platform_public_key)
        )
        return cls(
            brand_id=brand_id,
            brand_serial=brand_serial.upper(),
            private_key=key,
            brand_api_key=brand_api_key,
            platform_public_key=public,
            platform_public_key_id=platform_public_key_id,
        )


def check_identity_fields(given: Mapping[str, object]) -> bool:
    """True for a brand identity, False for a merchant; ConfigurationError when both are mixed."""
    brand = [name for name in _BRAND_ONLY if given.get(name) is not None]
    merchant = [name for name in _MERCHANT_ONLY if given.get(name) is not None]
    if brand and merchant:
        raise ConfigurationError(
            f"a Client is one identity: merchant ({', '.join(merchant)}) and brand ({', '.join(brand)}) "
            "arguments cannot be mixed; create one client per identity"
        )
    if brand:
        missing = [name for name in _BRAND_ONLY if given.get(name) is None]
        if missing:
            raise ConfigurationError(f"a brand client needs {', '.join(missing)}")
        return True
    missing = [name for name in _MERCHANT_ONLY if given.get(name) is None]
    if missing:
        raise ConfigurationError(
            f"a merchant client needs {', '.join(missing)} (or give brand_id, brand_serial and brand_api_key)"
        )
    return False


def check_path(is_brand: bool, path: str) -> None:
    """Refuse a path of the other identity before anything is built or sent."""
    if path.startswith(BRAND_PATH_PREFIX) != is_brand:
        if is_brand:
            raise IdentityMismatchError(
                f"{path} is a merchant API; this client is a brand identity (brand APIs live under /brand/): "
                "use a merchant Client for it"
            )
        raise IdentityMismatchError(
            f"{path} is a brand API (品牌直连); this client is a merchant identity: use a brand Client "
            "(brand_id=, brand_serial=, brand_api_key=)"
        )


def brand_env_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Client keyword arguments of a brand from ``WXPAY_BRAND_*`` variables (see :data:`BRAND_ENV_VARS`)."""

    def need(name: str) -> str:
        value = env.get(name)
        if not value:
            raise ConfigurationError(f"environment variable {name} is not set ({BRAND_ENV_VARS[name]})")
        return value

    mixed = [name for name in ("WXPAY_MCHID", "WXPAY_MERCHANT_SERIAL", "WXPAY_APIV3_KEY") if env.get(name)]
    if mixed:
        raise ConfigurationError(
            f"WXPAY_BRAND_ID is set together with {', '.join(mixed)}: a client is either a merchant or a brand"
        )
    private_key: PEMSource = (
        env["WXPAY_PRIVATE_KEY"] if env.get("WXPAY_PRIVATE_KEY") else Path(need("WXPAY_PRIVATE_KEY_PATH"))
    )
    settings: dict[str, Any] = {
        "brand_id": need("WXPAY_BRAND_ID"),
        "brand_serial": need("WXPAY_BRAND_SERIAL"),
        "private_key": private_key,
        "brand_api_key": need("WXPAY_BRAND_API_KEY"),
        "platform_public_key": Path(need("WXPAY_PUBLIC_KEY_PATH")),
        "platform_public_key_id": need("WXPAY_PUBLIC_KEY_ID"),
    }
    if env.get("WXPAY_BASE_URL"):
        settings["base_url"] = env["WXPAY_BASE_URL"]
    return settings


def is_brand_env(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get("WXPAY_BRAND_ID"))


def load_identity(
    *,
    mchid: str | None,
    merchant_serial: str | None,
    apiv3_key: str | None,
    brand_id: str | None,
    brand_serial: str | None,
    brand_api_key: str | None,
    private_key: PEMSource | rsa.RSAPrivateKey,
    platform_public_key: PEMSource | rsa.RSAPublicKey | None,
    platform_public_key_id: str | None,
) -> Credentials | BrandCredentials:
    """The merchant or brand credentials the Client's arguments describe (never both)."""
    from ._config import Credentials

    given = {
        "mchid": mchid,
        "merchant_serial": merchant_serial,
        "apiv3_key": apiv3_key,
        "brand_id": brand_id,
        "brand_serial": brand_serial,
        "brand_api_key": brand_api_key,
    }
    if check_identity_fields(given):
        assert brand_id is not None and brand_serial is not None and brand_api_key is not None
        return BrandCredentials.load(
            brand_id=brand_id,
            brand_serial=brand_serial,
            private_key=private_key,
            brand_api_key=brand_api_key,
            platform_public_key=platform_public_key,
            platform_public_key_id=platform_public_key_id,
        )
    assert mchid is not None and merchant_serial is not None and apiv3_key is not None
    return Credentials.load(
        mchid=mchid,
        merchant_serial=merchant_serial,
        private_key=private_key,
        apiv3_key=apiv3_key,
        platform_public_key=platform_public_key,
        platform_public_key_id=platform_public_key_id,
    )
