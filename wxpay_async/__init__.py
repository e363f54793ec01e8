"""wxpay_async: the asyncio SDK for WeChat Pay APIv3 marketing coupons."""

from . import _logsetup
from ._client import Client, render_path, status_error
from ._client_kwargs import BrandClientKwargs, ClientKwargs
from ._config import DEFAULT_BASE_URL, ENV_VARS, Credentials
from ._converter import CHINA_TZ, converter
from ._identity import BRAND_ENV_VARS, BrandCredentials, IdentityMismatchError
from ._raw import RawResponse
from ._redis_certificates import RedisCertificateStore
from ._request import Request, Response
from ._version import __version__
from .certificates import CertificateManager, CertificateStore, InMemoryCertificateStore, RefreshSchedule
from .middleware import Middleware, RetryPolicy

_logsetup.configure_from_env()  # WXPAY_LOG=debug|info; nothing at all without it

__all__ = [
    "BRAND_ENV_VARS",
    "CHINA_TZ",
    "DEFAULT_BASE_URL",
    "ENV_VARS",
    "BrandClientKwargs",
    "BrandCredentials",
    "CertificateManager",
    "CertificateStore",
    "Client",
    "ClientKwargs",
    "Credentials",
    "IdentityMismatchError",
    "InMemoryCertificateStore",
    "Middleware",
    "RawResponse",
    "RedisCertificateStore",
    "RefreshSchedule",
    "Request",
    "Response",
    "RetryPolicy",
    "__version__",
    "converter",
    "render_path",
    "status_error",
]
