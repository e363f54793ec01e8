"""``WeChatPayMock``: WeChat Pay answers for aiohttp, through aioresponses, that the SDK verifies.

Every answer is signed with a test platform key (a certificate, served encrypted from
``/v3/certificates``, or a ``PUB_KEY_ID_`` public key), and every request's ``Authorization``
is checked against the exact bytes sent, with the merchant key. Only aiohttp is patched: for
httpx or another transport, run the emulator (``wxpay_async.emulator.run_emulator``) instead.
"""

from __future__ import annotations

import contextvars
import importlib
import inspect
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self, cast
from urllib.parse import parse_qsl, urlsplit

import attrs
from aiohttp import ClientConnectionError, ClientResponse
from aioresponses import CallbackResult, aioresponses
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from .._client import Client
from .._config import DEFAULT_BASE_URL
from .._request import encode_json, quote_path_param
from ..crypto import (
    BRAND_SCHEME,
    PEMSource,
    Verifier,
    certificate_serial,
    load_certificate,
    load_public_key,
    parse_any_authorization,
    request_message,
    rsa_verify,
)
from ..emulator import EmulatorKeys
from ..emulator._auth import certificate_entry
from ..emulator._samples import sample_from_schema
from ..errors import ConfigurationError
from ..middleware import RetryPolicy
from ..validation import operations
from ._compat import mock_response_class
from ._notifications import SignedNotification, build_notification, signature_headers

Mode = Literal["public_key", "certificate"]

#: Retries that do not slow a test suite down: a ``Retry-After`` is honoured but capped at 50 ms.
FAST_RETRY = RetryPolicy(max_attempts=4, deadline=10.0, backoff_base=0.01, backoff_max=0.05, retry_after_max=0.05)

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# The URL exactly as the caller handed it to aiohttp (aioresponses re-sorts the query).
_sent_url: contextvars.ContextVar[URL | None] = contextvars.ContextVar("wxpay_mock_sent_url", default=None)


@attrs.frozen(kw_only=True)
class Call:
    """One request the mock answered, as it was sent."""

    method: str
    #: Path and query exactly as sent (and signed), percent-encoded.
    target: str
    headers: Mapping[str, str]
    body: bytes
    #: The operation name (``"favor.send_coupon"``) or the path template it matched.
    route: str
    #: Why the ``Authorization`` header did not match the bytes sent; None when it did.
    authorization_error: str | None = None

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    @property
    def json(self) -> dict[str, Any] | None:
        """The decoded JSON object body; None when the body is empty (GET), not JSON or not an object
        (a multipart upload): check ``call.json is not None`` before reading fields."""
        try:
            decoded: object = json.loads(self.body) if self.body else None
        except ValueError:
            return None
        return cast("dict[str, Any]", decoded) if isinstance(decoded, dict) else None

    @property
    def signed(self) -> bool:
        return self.authorization_error is None


@attrs.frozen(kw_only=True)
class _Route:
    name: str
    status: int
    body: bytes
    headers: Mapping[str, str]
    retry_after: str | None
    sign: bool
    tamper: bool
    skew: int
    signtest: bool
    automatic: bool = False


#: aioresponses' private hook the mock overrides (listed in wxpay_async/_private_apis.py).
REQUEST_HOOK_PARAMETERS = ("self", "orig_self", "method", "url")


def check_request_hook(responses_class: type = aioresponses) -> None:
    """Refuse to start on an aioresponses whose ``_request_mock`` is not the one the mock overrides."""
    hook = getattr(responses_class, "_request_mock", None)
    params = tuple(inspect.signature(hook).parameters)[:4] if callable(hook) else ()
    if params != REQUEST_HOOK_PARAMETERS:
        version = getattr(importlib.import_module("aioresponses"), "__version__", "unknown")
        raise ConfigurationError(
            f"WeChatPayMock needs aioresponses' _request_mock{REQUEST_HOOK_PARAMETERS[1:]} (0.7.x); "
            f"the installed aioresponses {version} has {params[1:] or 'none'}"
        )


class _Responses(aioresponses):
    """aioresponses that remembers the URL as sent and builds responses this aiohttp accepts."""

    def __init__(self, owner: WeChatPayMock, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._owner = owner

    def add(self, *args: Any, **kwargs: Any) -> None:
        # Plain aioresponses registrations (mock.responses.get(...)) get the shim too.
        if kwargs.get("response_class") is None:
            kwargs["response_class"] = mock_response_class()
        super().add(*args, **kwargs)

    async def _request_mock(
        self, orig_self: Any, method: str, url: URL | str, *args: Any, **kwargs: Any
    ) -> ClientResponse:
        token = _sent_url.set(url if isinstance(url, URL) else URL(url))
        try:
            return await super()._request_mock(orig_self, method, url, *args, **kwargs)
        except ClientConnectionError as exc:
            if str(exc).startswith("Connection refused"):
                sent = _sent_url.get()
                self._owner.unmatched.append(f"{method} {sent.raw_path_qs if sent else url}")
            raise
        finally:
            _sent_url.reset(token)


def _route_pattern(path: str, path_params: Mapping[str, str] | None) -> re.Pattern[str]:
    """Any origin, this path (``{name}`` matches one segment, or the given value), any query."""
    if not path.startswith("/"):
        raise ConfigurationError(f"a path template starts with '/', got {path!r}")
    params = path_params or {}
    pieces: list[str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(path):
        pieces.append(re.escape(path[last : match.start()]))
        value = params.get(match.group(1))
        pieces.append(re.escape(quote_path_param(str(value))) if value is not None else "[^/?#]+")
        last = match.end()
    pieces.append(re.escape(path[last:]))
    return re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://[^/]+" + "".join(pieces) + r"(?:\?.*)?$")


def _merchant_key(value: PEMSource | x509.Certificate | rsa.RSAPublicKey) -> tuple[rsa.RSAPublicKey, str | None]:
    if isinstance(value, rsa.RSAPublicKey):
        return value, None
    if isinstance(value, x509.Certificate):
        cert = value
    else:
        raw = value.encode("ascii") if isinstance(value, str) and "-----BEGIN" in value else value
        if isinstance(raw, bytes) and b"BEGIN PUBLIC KEY" in raw:
            return load_public_key(raw), None
        cert = load_certificate(raw)
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigurationError("the merchant API certificate must hold an RSA key")
    return key, certificate_serial(cert)


def _signed_payload(headers: Mapping[str, str], body: bytes) -> bytes:
    """What the signature covers: the body, or for a multipart upload its ``meta`` JSON part."""
    content_type = headers.get("Content-Type", "")
    boundary = re.search(r'boundary="?([^";]+)"?', content_type) if content_type.startswith("multipart/") else None
    if boundary is None:
        return body
    for part in body.split(b"--" + boundary.group(1).encode("latin-1")):
        head, sep, rest = part.partition(b"\r\n\r\n")
        if sep and b'name="meta"' in head:
            return rest.removesuffix(b"\r\n")
    return body


class WeChatPayMock:
    """WeChat Pay for a test, on aiohttp: register answers, point a Client at it, assert on calls.

    ::

        with WeChatPayMock() as wxpay:                       # public-key mode; mode="certificate"
            wxpay.add("favor.send_coupon", json={"coupon_id": "9867041"})
            async with wxpay.client() as wx:
                sent = await wx.favor.send_coupon("openid", appid=..., stock_id=..., stock_creator_mchid=...)
            assert wxpay.calls[0].json["stock_id"] == ...

    Answers are taken in the order registered (``repeat=True`` keeps one). Each is signed with
    the test platform key; ``status``/``code``/``message``, ``retry_after``, ``tamper``,
    ``skew`` (seconds) and ``signtest`` inject what real WeChat Pay may send. Each request's
    ``Authorization`` is checked against the exact method, target and body bytes with the
    merchant key (``merchant_certificate``, or the generated one ``client()`` uses); a mismatch
    is recorded on the :class:`Call` and answered ``401 SIGN_ERROR`` like WeChat Pay does.
    Only aiohttp is patched (and below aiohttp's own client middlewares, which do not run).
    """

    def __init__(
        self,
        *,
        mode: Mode = "public_key",
        keys: EmulatorKeys | None = None,
        base_url: str = DEFAULT_BASE_URL,
        merchant_certificate: PEMSource | x509.Certificate | rsa.RSAPublicKey | None = None,
        mchid: str | None = None,
        apiv3_key: str | None = None,
        check_authorization: bool = True,
        max_skew: int = 300,
        clock: Callable[[], float] = time.time,
        passthrough: Sequence[str] = (),
        identity: Literal["merchant", "brand"] = "merchant",
    ) -> None:
        if mode not in ("public_key", "certificate"):
            raise ConfigurationError(f"mode is 'public_key' or 'certificate', got {mode!r}")
        if identity not in ("merchant", "brand"):
            raise ConfigurationError(f"identity is 'merchant' or 'brand', got {identity!r}")
        if identity == "brand" and mode != "public_key":
            raise ConfigurationError("a brand (品牌直连) verifies with the WeChat Pay public key: mode='public_key'")
        self.mode: Mode = mode
        #: ``"brand"``: requests must be brand-signed (WECHATPAY-BRAND-SHA256-RSA2048) on /brand/ paths.
        self.identity = identity
        self.keys = keys or EmulatorKeys.generate(mchid or "1900000001")
        self.mchid = mchid or self.keys.mchid
        self.apiv3_key = apiv3_key or self.keys.apiv3_key
        if identity == "brand":
            if self.keys.brand is None or self.keys.brand_api_key is None:
                raise ConfigurationError("these keys have no brand: EmulatorKeys.generate() makes one")
            self.apiv3_key = apiv3_key or self.keys.brand_api_key  # notifications: the brand API key
        self.base_url = base_url.rstrip("/")
        self.check_authorization = check_authorization
        self.max_skew = max_skew
        self._clock = clock
        self._own_merchant_key = merchant_certificate is not None
        if merchant_certificate is None and identity == "brand":
            assert self.keys.brand is not None
            self._merchant_public: rsa.RSAPublicKey = self.keys.brand.public_key
            self._merchant_serial: str | None = self.keys.brand.serial
        elif merchant_certificate is None:
            self._merchant_public = self.keys.merchant.public_key
            self._merchant_serial = self.keys.merchant.serial
        else:
            self._merchant_public, self._merchant_serial = _merchant_key(merchant_certificate)
        #: Every request answered, in order (the automatic certificate downloads excepted).
        self.calls: list[Call] = []
        #: The automatic ``GET /v3/certificates`` downloads (certificate mode).
        self.certificate_downloads: list[Call] = []
        #: ``METHOD target`` of requests no registered answer matched (aiohttp saw a refused connection).
        self.unmatched: list[str] = []
        #: The underlying aioresponses, for answers outside WeChat Pay (``responses.get(url, ...)``).
        self.responses = _Responses(self, passthrough=list(passthrough))
        self._started = False

    # -- lifetime ---------------------------------------------------------------------------
    def start(self) -> None:
        check_request_hook()
        self.responses.start()
        self._started = True
        if self.mode == "certificate":
            self._register(
                "GET",
                "/v3/certificates",
                None,
                _Route(
                    name="certificates.download",
                    status=200,
                    body=b"",
                    headers={},
                    retry_after=None,
                    sign=True,
                    tamper=False,
                    skew=0,
                    signtest=False,
                    automatic=True,
                ),
                repeat=True,
            )

    def stop(self) -> None:
        if self._started:
            self._started = False
            self.responses.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- keys and clients ---------------------------------------------------------------------
    @property
    def platform_serial(self) -> str:
        """The key id answers are signed with: the certificate serial, or ``PUB_KEY_ID_...``."""
        if self.mode == "certificate":
            return self.keys.platform[0].serial
        return self.keys.public_key_id

    @property
    def _platform_private(self) -> rsa.RSAPrivateKey:
        if self.mode == "certificate":
            return self.keys.platform[0].pair.private_key
        return self.keys.public_key.private_key

    def verifier(self) -> Verifier:
        """The platform keys a client of this mock trusts (for a standalone NotificationHandler)."""
        if self.mode == "certificate":
            return Verifier([self.keys.platform[0].pair.certificate])
        return Verifier(public_key=self.keys.public_key.public_key, public_key_id=self.keys.public_key_id)

    def client_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for :class:`wxpay_async.Client` against this mock (``overrides`` win).

        Retries are fast (:data:`FAST_RETRY`); with your own ``merchant_certificate`` pass your
        ``private_key=`` and ``merchant_serial=`` too.
        """
        if self.identity == "brand":
            brand = {**self.keys.brand_client_kwargs(self.base_url), "retry": FAST_RETRY}
            brand["brand_api_key"] = self.apiv3_key
            return {**brand, **overrides}
        kwargs: dict[str, Any] = {
            "mchid": self.mchid,
            "apiv3_key": self.apiv3_key,
            "base_url": self.base_url,
            "retry": FAST_RETRY,
        }
        if not self._own_merchant_key:
            kwargs["merchant_serial"] = self.keys.merchant.serial
            kwargs["private_key"] = self.keys.merchant.private_key
        elif self._merchant_serial:
            kwargs["merchant_serial"] = self._merchant_serial
        if self.mode == "public_key":
            kwargs["platform_public_key"] = self.keys.public_key.public_key
            kwargs["platform_public_key_id"] = self.keys.public_key_id
        kwargs.update(overrides)
        if "private_key" not in kwargs:
            raise ConfigurationError("with your own merchant_certificate, pass private_key= (and merchant_serial=)")
        return kwargs

    def client(self, **overrides: Any) -> Client:
        """A :class:`wxpay_async.Client` bound to this mock: ``async with wxpay.client() as wx``."""
        return Client(**self.client_kwargs(**overrides))

    def notification(self, resource: Mapping[str, Any], **options: Any) -> SignedNotification:
        """A notification signed with this mock's platform key and encrypted with its APIv3 key.

        ``options`` go to :func:`build_notification` (``event_type``, ``timestamp``, ``tamper``...).
        """
        return build_notification(
            resource,
            apiv3_key=self.apiv3_key,
            private_key=self._platform_private,
            serial=self.platform_serial,
            **options,
        )

    # -- answers ------------------------------------------------------------------------------
    def add(
        self,
        route: str,
        json: Any = None,
        *,
        method: str | None = None,
        status: int = 200,
        code: str | None = None,
        message: str | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        path_params: Mapping[str, str] | None = None,
        retry_after: float | str | None = None,
        tamper: bool = False,
        skew: int = 0,
        signtest: bool = False,
        sign: bool = True,
        exception: BaseException | None = None,
        repeat: bool | int = False,
    ) -> None:
        """Answer the next matching request.

        ``route`` is an operation name from ``wxpay_async.validation.operations()``
        (``"favor.send_coupon"``: its method and path) or a path template
        (``"/v3/marketing/favor/stocks/{stock_id}"``, ``method`` default GET). ``path_params``
        pins placeholders to values. The answer body is ``json`` (or ``body`` bytes); with
        ``code`` it is WeChat Pay's error shape ``{"code", "message"}``; for an operation with
        neither, a sample of its documented response. ``sign=False`` sends no signature headers
        (a gateway's answer), ``exception`` raises it from aiohttp instead of answering.
        """
        op = operations().get(route) if not route.startswith("/") else None
        if op is None and not route.startswith("/"):
            raise ConfigurationError(f"unknown operation {route!r}: give a name from operations() or a /path")
        if op is not None:
            if method is not None and method.upper() != op["method"]:
                raise ConfigurationError(f"{route} is {op['method']}, not {method.upper()}")
            method, path = op["method"], op["path"]
        else:
            path = route
        method = (method or "GET").upper()
        if body is None:
            if code is not None and json is None:
                json = {"code": code, "message": message or code}
            elif json is None and op is not None and 200 <= status < 300 and op.get("response"):
                json = sample_from_schema(op["response"])
            body = encode_json(json) if json is not None else b""
        answer = _Route(
            name=route,
            status=status,
            body=body,
            headers=dict(headers or {}),
            retry_after=str(retry_after) if retry_after is not None else None,
            sign=sign,
            tamper=tamper,
            skew=skew,
            signtest=signtest,
        )
        self._register(method, path, path_params, answer, repeat=repeat, exception=exception)

    def _register(
        self,
        method: str,
        path: str,
        path_params: Mapping[str, str] | None,
        answer: _Route,
        *,
        repeat: bool | int,
        exception: BaseException | None = None,
    ) -> None:
        if not self._started:
            raise ConfigurationError("start the mock first: `with WeChatPayMock() as wxpay:`")

        def callback(url: URL, **kwargs: Any) -> CallbackResult:
            return self._answer(method, url, answer, kwargs)

        self.responses.add(
            _route_pattern(path, path_params),
            method=method,
            callback=callback,
            exception=exception,
            repeat=repeat,
        )

    # -- the exchange -------------------------------------------------------------------------
    def _answer(self, method: str, url: URL, answer: _Route, kwargs: Mapping[str, Any]) -> CallbackResult:
        sent = _sent_url.get() or url
        target = sent.raw_path_qs
        headers = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()}
        data = kwargs.get("data")
        body = (
            data.encode("utf-8")
            if isinstance(data, str)
            else bytes(data)
            if isinstance(data, bytes | bytearray)
            else b""
        )
        problem = self.authorization_problem(method, target, headers, body) if self.check_authorization else None
        call = Call(
            method=method, target=target, headers=headers, body=body, route=answer.name, authorization_error=problem
        )
        (self.certificate_downloads if answer.automatic else self.calls).append(call)
        if problem is not None:
            answer = attrs.evolve(
                answer,
                status=401,
                body=encode_json({"code": "SIGN_ERROR", "message": f"签名错误: {problem}"}),
                retry_after=None,
            )
        elif answer.automatic:
            answer = attrs.evolve(answer, body=encode_json(self._certificates_body()))
        out = {"Request-ID": uuid.uuid4().hex.upper(), **answer.headers}
        if answer.retry_after is not None:
            out["Retry-After"] = answer.retry_after
        if answer.sign:
            out.update(
                signature_headers(
                    self._platform_private,
                    self.platform_serial,
                    answer.body,
                    timestamp=int(self._clock()) + answer.skew,
                    tamper=answer.tamper,
                    signtest=answer.signtest,
                )
            )
        return CallbackResult(
            method=method,
            status=answer.status,
            body=answer.body,
            content_type=out.pop("Content-Type", "application/json"),
            headers=out,
            response_class=mock_response_class(),
        )

    def authorization_problem(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> str | None:
        """Why ``Authorization`` does not sign exactly this request for this merchant; None when it does."""
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if not value:
            return "no Authorization header"
        try:
            scheme, fields = parse_any_authorization(value)
        except ValueError as exc:
            return str(exc)
        brand_path = target.startswith("/brand/")
        if (scheme is BRAND_SCHEME) != brand_path:
            return f"{scheme.name} is not accepted on {'brand' if brand_path else 'merchant'} APIs"
        if scheme is BRAND_SCHEME:
            if self.identity != "brand" or fields["brand_id"] != self.keys.brand_id:
                return f"brand_id {fields['brand_id']!r} is not this mock's brand"
            if not any(k.lower() == "wechatpay-serial" for k in headers):
                return "Wechatpay-Serial (the WeChat Pay public key id) is required on brand APIs"
        elif self.identity == "brand":
            return "this mock is a brand: merchant-signed requests are refused"
        elif fields["mchid"] != self.mchid:
            return f"mchid {fields['mchid']!r} is not the merchant's {self.mchid!r}"
        if self._merchant_serial is not None and fields["serial_no"].upper() != self._merchant_serial:
            return f"serial_no {fields['serial_no']!r} is not the merchant certificate's {self._merchant_serial}"
        try:
            skew = abs(self._clock() - int(fields["timestamp"]))
        except ValueError:
            return f"bad timestamp {fields['timestamp']!r}"
        if skew > self.max_skew:
            return f"timestamp is {skew:.0f}s away from the server's clock"
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        payload = _signed_payload({"Content-Type": content_type}, body)
        message = request_message(method.upper(), target, fields["timestamp"], fields["nonce_str"], payload)
        if not rsa_verify(self._merchant_public, message, fields["signature"]):
            return "signature does not match the method, target and body bytes sent"
        return None

    def _certificates_body(self) -> dict[str, Any]:
        return {"data": [certificate_entry(self.apiv3_key, self.keys.platform[0])]}

    def calls_for(self, route: str) -> list[Call]:
        """The calls answered by registrations for ``route`` (operation name or path template)."""
        return [c for c in self.calls if c.route == route]

    def assert_all_signed(self) -> None:
        """Fail when any request's Authorization did not sign exactly what was sent."""
        bad = [f"{c.method} {c.target}: {c.authorization_error}" for c in self.calls if not c.signed]
        if bad:
            raise AssertionError("requests with a bad Authorization: " + "; ".join(bad))
