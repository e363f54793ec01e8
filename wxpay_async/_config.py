"""Merchant credentials: loaded once, validated early, never printed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa

from .crypto import MERCHANT_SCHEME, PUBLIC_KEY_ID_PREFIX, AuthScheme, PEMSource, load_private_key, load_public_key
from .errors import ConfigurationError

DEFAULT_BASE_URL = "https://api.mch.weixin.qq.com"

#: Environment variables read by :meth:`Client.from_env`.
ENV_VARS = {
    "WXPAY_MCHID": "merchant id (required)",
    "WXPAY_MERCHANT_SERIAL": "serial number of the merchant API certificate (required)",
    "WXPAY_PRIVATE_KEY_PATH": "path to apiclient_key.pem (or WXPAY_PRIVATE_KEY with the PEM text)",
    "WXPAY_APIV3_KEY": "the 32-character APIv3 key (required)",
    "WXPAY_PUBLIC_KEY_PATH": "path to the platform public key pub_key.pem (public-key mode)",
    "WXPAY_PUBLIC_KEY_ID": "its id, PUB_KEY_ID_... (public-key mode)",
    "WXPAY_BASE_URL": f"API base URL (default {DEFAULT_BASE_URL})",
}


def _secret_repr(_: object) -> str:
    return "***"


@attrs.frozen(kw_only=True)
class Credentials:
    """What identifies and authenticates a merchant. Secrets are hidden from repr."""

    mchid: str
    merchant_serial: str
    private_key: rsa.RSAPrivateKey = attrs.field(repr=_secret_repr)
    apiv3_key: str = attrs.field(repr=_secret_repr)
    platform_public_key: rsa.RSAPublicKey | None = attrs.field(default=None, repr=False)
    platform_public_key_id: str | None = None

    # The identity interface shared with BrandCredentials (wxpay_async._identity).
    is_brand = False
    scheme: ClassVar[AuthScheme] = MERCHANT_SCHEME

    @property
    def identity_id(self) -> str:
        return self.mchid

    @property
    def serial(self) -> str:
        return self.merchant_serial

    @property
    def notification_key(self) -> str:
        return self.apiv3_key

    @property
    def identity_key(self) -> str:
        return self.mchid

    @classmethod
    def load(
        cls,
        *,
        mchid: str,
        merchant_serial: str,
        private_key: PEMSource | rsa.RSAPrivateKey,
        apiv3_key: str,
        platform_public_key: PEMSource | rsa.RSAPublicKey | None = None,
        platform_public_key_id: str | None = None,
    ) -> Credentials:
        text = str(mchid) if isinstance(mchid, str | int) and not isinstance(mchid, bool) else ""
        if not (text.isascii() and text.isdigit()):
            # ASCII digits only: str.isdigit() also takes "１９００" and Arabic-Indic digits, which
            # would go into the Authorization header and every generated request number.
            raise ConfigurationError(f"mchid must be the numeric merchant id (ASCII digits), got {mchid!r}")
        if (
            not isinstance(merchant_serial, str)
            or not merchant_serial
            or not all(c in "0123456789ABCDEFabcdef" for c in merchant_serial)
        ):
            raise ConfigurationError("merchant_serial must be the hex serial number of the merchant API certificate")
        if not isinstance(apiv3_key, str) or len(apiv3_key.encode("utf-8")) != 32:
            size = len(apiv3_key.encode("utf-8")) if isinstance(apiv3_key, str) else type(apiv3_key).__name__
            raise ConfigurationError(f"apiv3_key must be the 32-character APIv3 key (got {size})")
        key = private_key if isinstance(private_key, rsa.RSAPrivateKey) else load_private_key(private_key)
        public: rsa.RSAPublicKey | None = None
        if platform_public_key is not None:
            public = (
                platform_public_key
                if isinstance(platform_public_key, rsa.RSAPublicKey)
                else load_public_key(platform_public_key)
            )
            if not platform_public_key_id:
                raise ConfigurationError("platform_public_key needs platform_public_key_id (PUB_KEY_ID_...)")
            if not isinstance(platform_public_key_id, str) or not platform_public_key_id.startswith(
                PUBLIC_KEY_ID_PREFIX
            ):
                raise ConfigurationError(f"platform_public_key_id must start with {PUBLIC_KEY_ID_PREFIX!r}")
        elif platform_public_key_id:
            raise ConfigurationError("platform_public_key_id given without platform_public_key")
        return cls(
            mchid=text,
            merchant_serial=merchant_serial.upper(),
            private_key=key,
            apiv3_key=apiv3_key,
            platform_public_key=public,
            platform_public_key_id=platform_public_key_id,
        )


def env_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Client keyword arguments from ``WXPAY_*`` variables (see :data:`ENV_VARS`).

    Every missing variable is named in one error, so a new set-up is fixed in one go.
    """
    env = os.environ if environ is None else environ
    if env.get("WXPAY_BRAND_ID"):  # a brand identity (品牌直连): its own variables
        from ._identity import brand_env_settings

        return brand_env_settings(env)
    missing: list[str] = []

    def need(name: str) -> str:
        value = env.get(name)
        if not value:
            missing.append(name)
            return ""
        return value

    inline_key = env.get("WXPAY_PRIVATE_KEY")
    private_key: PEMSource = inline_key if inline_key else Path(need("WXPAY_PRIVATE_KEY_PATH"))
    settings: dict[str, Any] = {
        "mchid": need("WXPAY_MCHID"),
        "merchant_serial": need("WXPAY_MERCHANT_SERIAL"),
        "private_key": private_key,
        "apiv3_key": need("WXPAY_APIV3_KEY"),
    }
    if env.get("WXPAY_PUBLIC_KEY_PATH"):
        settings["platform_public_key"] = Path(env["WXPAY_PUBLIC_KEY_PATH"])
        settings["platform_public_key_id"] = need("WXPAY_PUBLIC_KEY_ID")
    if missing:
        listed = "; ".join(f"{name} ({ENV_VARS[name]})" for name in sorted(missing, key=list(ENV_VARS).index))
        noun = "variable is" if len(missing) == 1 else f"{len(missing)} variables are"
        raise ConfigurationError(f"environment {noun} not set: {listed}")
    if env.get("WXPAY_BASE_URL"):
        settings["base_url"] = env["WXPAY_BASE_URL"]
    return settings
