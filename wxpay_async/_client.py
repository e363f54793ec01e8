"""The Client: credentials, lifetime, the middleware chain, and the one request path."""

from __future__ import annotations

import asyncio
import copy
import functools
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import cattrs
from cryptography.hazmat.primitives.asymmetric import rsa
from multidict import CIMultiDict, CIMultiDictProxy

from ._config import DEFAULT_BASE_URL, Credentials, env_settings
from ._context import current_operation
from ._converter import converter as default_converter
from ._request import (
    DEFAULT_MAX_RESPONSE_BYTES,
    Request,
    Response,
    check_path_param,
    encode_json,
    encode_query,
    make_request,
    quote_path_param,
)
from ._version import __version__
from .certificates import CertificateManager, CertificateStore, RefreshSchedule
from .crypto import PEMSource, Verifier
from .errors import (
    APIStatusError,
    ConfigurationError,
    ResponseTooLargeError,
    ValidationError,
    WxPayError,
    status_error_class,
)
from .middleware import (
    Handler,
    IdempotencyMiddleware,
    KeySource,
    Middleware,
    RetryMiddleware,
    RetryPolicy,
    SigningMiddleware,
    StaticKeySource,
    VerifyingMiddleware,
    build_chain,
    new_request_number,
)
from .middleware.logging import log_failure, log_response
from .transports import DEFAULT_TIMEOUT, AiohttpTransport, Transport
from .transports._base import ACCEPT_ENCODING, DEFAULT_POOL_SIZE
from .validation import request_number_max_length

if TYPE_CHECKING:
    from .notifications import NotificationHandler
    from .resources import CertificatesResource, FavorResource, ProductCouponResource
    from .resources.merchant_coupon import MerchantCouponResource

USER_AGENT = f"wxpay-async/{__version__} (Python; +https://github.com/wxpay-async)"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_\-]+", re.ASCII)


class Client:
    """An async WeChat Pay APIv3 client for one merchant.

    Use it as ``async with Client(...) as wx:``; it owns an HTTP session, a background task
    keeping platform certificates fresh (certificate mode) and, optionally, a signing thread pool.
    ``request()`` is the documented escape hatch for any endpoint; the typed resources
    (``wx.favor``, ``wx.product_coupon``, ``wx.certificates``) are thin calls into it.

    ``pool_size`` (default 256) is how many calls may be on the wire at once through the default
    transport; more wait their turn (first come, first served) within their timeout, and one
    that waited in vain raises :class:`~wxpay_async.errors.PoolTimeoutError`: nothing was sent,
    and the retry layer sends it again even without a request number.

    ``sign_in_thread=True`` (or your own ``Executor``) runs RSA signing on threads.
    ``batch_signing`` (default True) hands calls to those threads in batches, one thread job
    and one loop wake-up per batch instead of per call: measured fewer CPU µs per call and more
    calls/s at c=64, no measurable difference at c=1 or 16. ``batch_signing=False`` hands each
    call over alone. Without signing threads it changes nothing.

    Modes: with ``platform_public_key`` only, nothing is downloaded (public-key mode); without
    it, platform certificates are downloaded and refreshed; with both and
    ``download_certificates=True``, the combined mode of merchants migrating between the two.
    """

    def __init__(
        self,
        *,
        mchid: str,
        merchant_serial: str,
        private_key: PEMSource | rsa.RSAPrivateKey,
        apiv3_key: str,
        platform_public_key: PEMSource | rsa.RSAPublicKey | None = None,
        platform_public_key_id: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        transport: Transport | None = None,
        close_transport: bool = False,
        proxy: str | None = None,
        trust_env: bool = False,
        pool_size: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        middleware: Sequence[Middleware] = (),
        sign_in_thread: bool | Executor = False,
        batch_signing: bool = True,
        download_certificates: bool | None = None,
        certificate_store: CertificateStore | None = None,
        certificate_schedule: RefreshSchedule = RefreshSchedule(),
        key_source: KeySource | None = None,
        validate: bool = True,
        clock: Callable[[], float] = time.time,
        request_number: Callable[[], str] | None = None,
        user_agent: str = USER_AGENT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.credentials = Credentials.load(
            mchid=mchid,
            merchant_serial=merchant_serial,
            private_key=private_key,
            apiv3_key=apiv3_key,
            platform_public_key=platform_public_key,
            platform_public_key_id=platform_public_key_id,
        )
        if not re.match(r"^https?://[^/?#]+$", base_url.rstrip("/")):
            raise ConfigurationError(f"base_url must be scheme://host[:port] without a path, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        if max_response_bytes < 1:
            raise ConfigurationError(f"max_response_bytes must be positive, got {max_response_bytes!r}")
        #: Cap on every answer body, after decompression (ResponseTooLargeError beyond it).
        self.max_response_bytes = max_response_bytes
        self.timeout = timeout
        self.validate = validate
        self.converter: cattrs.Converter = default_converter
        self._clock = clock
        self._user_agent = user_agent
        if transport is not None and (proxy or trust_env):
            raise ConfigurationError("proxy= and trust_env= configure the default transport; set them on yours")
        if pool_size is not None and (transport is not None or pool_size < 1):
            raise ConfigurationError(
                f"pool_size must be a positive number, got {pool_size!r}"
                if transport is None
                else "pool_size is for the default transport; pass limit= to your transport instead"
            )
        self.transport: Transport = transport or AiohttpTransport(
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            limit=pool_size or DEFAULT_POOL_SIZE,
            proxy=proxy,
            trust_env=trust_env,
        )
        # A transport passed in may serve many clients (many merchants): closed only when it is
        # ours, or handed over with close_transport=True. The same holds for a signing Executor.
        self._owns_transport = transport is None or close_transport

        self._own_executor: ThreadPoolExecutor | None = None
        executor: Executor | None = None
        if isinstance(sign_in_thread, Executor):
            executor = sign_in_thread
        elif sign_in_thread:
            self._own_executor = executor = ThreadPoolExecutor(
                max_workers=os.cpu_count() or 2, thread_name_prefix="wxpay-sign"
            )

        creds = self.credentials
        if download_certificates is None:
            download_certificates = creds.platform_public_key is None
        if key_source is not None:
            self.key_source: KeySource = key_source
            self.certificate_manager: CertificateManager | None = None
        elif download_certificates:
            self.certificate_manager = CertificateManager(
                self._fetch_certificates,
                creds.apiv3_key,
                public_key=creds.platform_public_key,
                public_key_id=creds.platform_public_key_id,
                store=certificate_store,
                schedule=certificate_schedule,
                clock=clock,
            )
            self.key_source = self.certificate_manager
        else:
            self.certificate_manager = None
            self.key_source = StaticKeySource(
                Verifier(public_key=creds.platform_public_key, public_key_id=creds.platform_public_key_id),
                creds.platform_public_key_id,
            )

        self.retry_policy = retry
        prefix = creds.mchid
        self._signer = SigningMiddleware(
            creds.mchid, creds.merchant_serial, creds.private_key, executor=executor, batch=batch_signing, clock=clock
        )
        self._verifier = VerifyingMiddleware(self.key_source, clock=clock)
        # Idempotency (outermost) runs in request()/send() themselves, and logging → signing →
        # verifying → transport, always together at the bottom of the chain, as one function:
        # the same steps as those four middlewares, four coroutines fewer per call.
        self._idempotency = IdempotencyMiddleware(request_number or (lambda: new_request_number(prefix)))
        chain: list[Middleware] = [RetryMiddleware(retry, clock=clock), *middleware]
        self._handler = build_chain(chain, self._exchange)
        self._chain = chain  # kept to build the chains of per-call retry policies
        self._handlers_by_retry: dict[RetryPolicy, Handler] = {retry: self._handler}
        self._extra_headers: Mapping[str, str] = {}
        self._base_headers: dict[tuple[str | None, str | None], CIMultiDictProxy[str]] = {}
        #: The client this one was derived from by with_options() (it owns the shared resources).
        self._parent: Client | None = None
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._closed = False
        self._init_resources()

    def _init_resources(self) -> None:
        """(Re)bind the generated resource groups: thin typed calls into :meth:`request`.

        Each group is built, and its models imported, on first use (``client.favor``...): a
        client that only sends cash coupons never imports the product-coupon models.
        """
        for name in ("favor", "product_coupon", "merchant_coupon", "certificates"):
            self.__dict__.pop(name, None)

    @functools.cached_property
    def favor(self) -> FavorResource:
        """Cash coupons (代金券, /v3/marketing/favor)."""
        from .resources.favor import FavorResource

        return FavorResource(self)

    @functools.cached_property
    def product_coupon(self) -> ProductCouponResource:
        """Product coupons (商品券, /v3/marketing/partner/product-coupon)."""
        from .resources.product_coupon import ProductCouponResource

        return ProductCouponResource(self)

    @functools.cached_property
    def merchant_coupon(self) -> MerchantCouponResource:
        """Merchant coupons (商家券, /v3/marketing/busifavor)."""
        from .resources.merchant_coupon import MerchantCouponResource

        return MerchantCouponResource(self)

    @functools.cached_property
    def certificates(self) -> CertificatesResource:
        """Platform certificates (/v3/certificates)."""
        from .resources.certificates import CertificatesResource

        return CertificatesResource(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Client:
        """Build a client from ``WXPAY_*`` environment variables (see ``wxpay_async.ENV_VARS``)."""
        return cls(**{**env_settings(environ), **overrides})

    @property
    def mchid(self) -> str:
        return self.credentials.mchid

    def __repr__(self) -> str:
        mode = "certificates" if self.certificate_manager else "public-key"
        return f"Client(mchid={self.mchid!r}, base_url={self.base_url!r}, mode={mode!r})"

    # -- lifetime ----------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.aclose()  # no session or task may outlive a failed start
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def with_options(
        self,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Client:
        """A lightweight copy with other defaults for every call made through it.

        ``wx.with_options(timeout=5, retry=NO_RETRY).favor.get_stock(...)``: the copy shares this
        client's transport (connection pool), platform keys, certificate refresh and signing thread
        pool; closing the copy closes none of them (close the original when done).
        ``extra_headers`` are added to every request (after the SDK's own headers).
        """
        clone = copy.copy(self)
        clone._parent = self._parent or self
        if timeout is not None:
            clone.timeout = timeout
        if retry is not None:
            clone.retry_policy = retry
            clone._handler = self._handler_for(retry)
        if extra_headers:
            clone._extra_headers = {**self._extra_headers, **extra_headers}
        clone._init_resources()
        return clone

    def _handler_for(self, retry: RetryPolicy) -> Handler:
        """The middleware chain with ``retry`` as its retry policy (built once per policy)."""
        handler = self._handlers_by_retry.get(retry)
        if handler is None:
            chain = [
                RetryMiddleware(retry, clock=self._clock) if isinstance(m, RetryMiddleware) else m for m in self._chain
            ]
            handler = self._handlers_by_retry[retry] = build_chain(chain, self._exchange)
        return handler

    async def start(self) -> None:
        """Download platform certificates (certificate mode) and start their background refresh."""
        if self._started:
            return
        if self._parent is not None and not self._closed:  # with_options(): the original owns the keys
            await self._parent.start()
            self._started = True
            return
        if self._closed:
            raise ConfigurationError("this Client is closed; create a new one")
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            if self.certificate_manager is not None:
                await self.certificate_manager.start()
            self._started = True

    async def aclose(self) -> None:
        """Stop the refresh task, close the session the client created, shut its thread pool.

        On a copy made by :meth:`with_options` this closes nothing shared: only the copy.
        """
        self._closed = True
        if self._parent is not None:
            self._started = False
            return
        self._signer.close()  # calls still waiting for a signature fail now, none is left pending
        if self.certificate_manager is not None:
            await self.certificate_manager.aclose()
        if self._owns_transport:
            await self.transport.aclose()
        if self._own_executor is not None:
            self._own_executor.shutdown(wait=False, cancel_futures=True)
        self._started = False

    # -- the request path --------------------------------------------------------------------
    def _fitted_request_number(self, field: str) -> str:
        """A new request number that fits the current operation's limit for ``field``.

        The generated ``<mchid><time><random>`` is 40 characters for a 10-digit mchid; where the
        official limit is lower (merchant coupons' ``use_request_no``: string[1,32], chapter9_2_3)
        the leading characters go and the time and random tail stays.
        """
        value = self._idempotency.generate()
        operation = current_operation.get()
        limit = request_number_max_length(operation, field) if operation else None
        return value[-limit:] if limit and len(value) > limit else value

    def build_request(
        self,
        method: str,
        path: str,
        *,
        path_params: Mapping[str, str | int] | None = None,
        query: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_field: str | None = None,
        timeout: float | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        signed_payload: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        verify: bool = True,
        base_url: str | None = None,
    ) -> Request:
        """A prepared, unsigned :class:`Request` (what :meth:`request` sends; :meth:`send` runs one)."""
        return self._build(
            method,
            path,
            path_params,
            query,
            json,
            idempotency_field,
            timeout,
            content,
            content_type,
            signed_payload,
            headers,
            verify,
            base_url,
        )

    def _build(
        self,
        method: str,
        path: str,
        path_params: Mapping[str, str | int] | None,
        query: Mapping[str, Any] | None,
        json: Any,
        idempotency_field: str | None,
        timeout: float | None,
        content: bytes | None,
        content_type: str | None,
        signed_payload: bytes | None,
        headers: Mapping[str, str] | None,
        verify: bool,
        base_url: str | None,
    ) -> Request:
        """:meth:`build_request` with positional arguments (request() passes them faster)."""
        method = method.upper()
        target = render_path(path, path_params) + encode_query(query)
        if json is not None and content is not None:
            raise ValidationError("content", "give either json or content, not both")
        key = None
        if idempotency_field and isinstance(json, Mapping):
            # The request number goes into the body before it is encoded (once): every attempt
            # and any manual re-send of this Request carry the same number and the same bytes.
            value = json.get(idempotency_field)
            if value is None or value == "":
                value = self._fitted_request_number(idempotency_field)
                json = {**json, idempotency_field: value}
            key = str(value)
        body = encode_json(json) if json is not None else (content or b"")
        ctype = (content_type or "application/json") if body or method not in ("GET", "HEAD", "DELETE") else None
        # Names the platform key WeChat Pay should sign the answer with (one we hold).
        serial = self.key_source.preferred_serial() if verify else None
        base = self._base_headers.get((ctype, serial))
        if base is None:
            base = self._new_base_headers(ctype, serial)
        if self._extra_headers or headers:
            all_headers = base.copy()
            if self._extra_headers:
                all_headers.update(self._extra_headers)
            if headers:
                all_headers.update(headers)
            base = CIMultiDictProxy(all_headers)
        # Request(...) without attrs' __init__ (every field given, headers already read-only).
        return make_request(
            method=method,
            base_url=base_url or self.base_url,
            target=target,
            headers=base,  # read-only: the cached proxy itself when nothing is added
            content=body,
            json=json,
            signed_payload=signed_payload,
            idempotency_field=idempotency_field,
            idempotency_key=key,
            timeout=self.timeout if timeout is None else timeout,
            sign=True,
            verify=verify,
            extensions={},
            max_response_bytes=self.max_response_bytes,
        )

    def _new_base_headers(self, content_type: str | None, serial: str | None) -> CIMultiDictProxy[str]:
        """The SDK's own headers of a request, read-only (kept for the usual few combinations).

        Requests share the cached proxy (nothing can change it); the signer copies it once.
        """
        base = CIMultiDict(
            (
                ("Accept", "application/json"),
                ("User-Agent", self._user_agent),
                # Only the codings the transports decode themselves, bounded (they add it too).
                ("Accept-Encoding", ACCEPT_ENCODING),
            )
        )
        if content_type is not None:
            base["Content-Type"] = content_type
        if serial:
            base["Wechatpay-Serial"] = serial
        proxy = CIMultiDictProxy(base)
        if content_type in (None, "application/json"):  # not multipart boundaries, unique per call
            if len(self._base_headers) >= 16:  # platform keys rotated many times: start over
                self._base_headers.clear()
            self._base_headers[(content_type, serial)] = proxy
        return proxy

    async def request(
        self,
        method: str,
        path: str,
        *,
        path_params: Mapping[str, str | int] | None = None,
        query: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_field: str | None = None,
        timeout: float | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        signed_payload: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        raise_for_status: bool = True,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """Send a signed request, verify the answer, and raise on a non-2xx status.

        ``path`` is a template such as ``/v3/marketing/favor/stocks/{stock_id}``; values in
        ``path_params`` are percent-encoded. With ``idempotency_field`` the body field of that
        name is the call's request number: filled when absent, identical on every retry, and
        reported as ``response.request.idempotency_key`` and on errors. ``retry`` replaces the
        client's retry policy for this call (``NO_RETRY``...); ``headers`` are added to the request.
        """
        request = self._build(
            method,
            path,
            path_params,
            query,
            json,
            idempotency_field,
            timeout,
            content,
            content_type,
            signed_payload,
            headers,
            True,
            None,
        )
        # What send() does, without one more coroutine per call (the request number is filled).
        if not self._started:
            await self.start()
        handler = self._handler if retry is None else self._handler_for(retry)
        key = request.idempotency_key
        try:
            response = await handler(request)
        except WxPayError as exc:
            # IdempotencyMiddleware's step: the caller needs the number to learn the outcome.
            if key is not None and exc.idempotency_key is None:
                exc.idempotency_key = key
            raise
        if raise_for_status and not response.is_success:
            raise status_error(response)
        return response

    async def send(
        self, request: Request, *, raise_for_status: bool = True, retry: RetryPolicy | None = None
    ) -> Response:
        """Run a prepared :class:`Request` through the middleware chain (``retry``: this call's policy)."""
        if not self._started:
            await self.start()
        handler = self._handler if retry is None else self._handler_for(retry)
        request = self._idempotency.fill(request)
        key = request.idempotency_key
        try:
            response = await handler(request)
        except WxPayError as exc:
            if key is not None and exc.idempotency_key is None:
                exc.idempotency_key = key
            raise
        if raise_for_status and not response.is_success:
            raise status_error(response)
        return response

    def notification_handler(self, **options: Any) -> NotificationHandler:
        """A :class:`NotificationHandler` bound to this client's live platform keys and APIv3 key.

        ``options`` go to the handler (``dedupe=`` a shared store, ``max_body_bytes=``...).
        """
        from .notifications import NotificationHandler

        options.setdefault("clock", self._clock)
        options.setdefault("refresh", self.key_source.refresh_for)  # unknown serial: one shared refresh
        return NotificationHandler(self.key_source.current_verifier, self.credentials.apiv3_key, **options)

    async def sign(self, request: Request) -> Request:
        """Sign a prepared request outside the chain (file downloads stream past it)."""
        return await self._signer.sign(request)

    async def _exchange(self, request: Request) -> Response:
        """LoggingMiddleware, SigningMiddleware, VerifyingMiddleware, then the transport, as one step."""
        start = time.perf_counter()
        try:
            signed = self._verifier.prepare(await self._signer.sign(request))
            response = await self.transport.send(signed)
            self._check_size(signed, response)
            if signed.verify:
                response = await self._verifier.check(response)
        except WxPayError as exc:
            log_failure(request, start, exc)
            raise
        log_response(request, response, start)
        return response

    @staticmethod
    def _check_size(request: Request, response: Response) -> None:
        # The built-in transports stop reading at the cap; this also holds for any other transport.
        limit = request.max_response_bytes
        if limit is not None and len(response.content) > limit:
            raise ResponseTooLargeError(
                f"{request.method} {request.target}: answer of {len(response.content)} bytes exceeds "
                f"the {limit}-byte cap (max_response_bytes)",
                limit=limit,
                idempotency_key=request.idempotency_key,
            )

    async def _fetch_certificates(self) -> Response:
        # Verified by the CertificateManager with the certificates the answer itself carries.
        request = self.build_request("GET", "/v3/certificates", verify=False)
        response = await self._handler(request)
        if not response.is_success:
            raise status_error(response)
        return response


def render_path(template: str, params: Mapping[str, str | int] | None) -> str:
    """Fill ``{name}`` placeholders with percent-encoded values.

    Missing, empty, ``.``/``..`` (also percent-encoded) and control characters are refused with
    :class:`ValidationError` before anything is sent: a value can never change the route.
    """
    head, pieces = _template(template)
    if not pieces:
        return template
    values = params or {}
    out = head
    for name, literal in pieces:
        value = values.get(name)
        if value is None:
            raise ValidationError(name, "required path parameter is missing or empty")
        text = value if type(value) is str else str(value)
        if not _PLAIN_SEGMENT.fullmatch(text):  # letters, digits, - and _: nothing to check or encode
            if text == "":
                raise ValidationError(name, "required path parameter is missing or empty")
            check_path_param(name, text)
            text = quote_path_param(text)
        out = out + text + literal
    return out


@functools.lru_cache(maxsize=1024)
def _template(template: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``/a/{x}/b`` as its opening literal ``"/a/"`` and (placeholder, literal after it) pairs ``(("x", "/b"),)``."""
    pieces = _PLACEHOLDER.split(template)
    return pieces[0], tuple(zip(pieces[1::2], pieces[2::2], strict=True))


def status_error(response: Response) -> APIStatusError:
    """The APIStatusError subclass for a non-2xx answer, with everything WeChat Pay said."""
    code = message = None
    detail: Mapping[str, Any] | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("code")
        message = body.get("message")
        raw_detail = body.get("detail")
        detail = raw_detail if isinstance(raw_detail, dict) else None
    elif response.content:
        message = response.content[:200].decode("utf-8", "replace")
    return status_error_class(response.status)(
        status=response.status,
        code=str(code) if code is not None else None,
        message=str(message) if message is not None else None,
        detail=detail,
        request_id=response.request_id,
        idempotency_key=response.request.idempotency_key,
        body=response.content,
    )
