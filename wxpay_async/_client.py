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
from ._converter import converter as default_converter
from ._identity import BRAND_PATH_PREFIX, BrandCredentials, IdentityMismatchError, check_path, load_identity
from ._request import (
    DEFAULT_MAX_RESPONSE_BYTES,
    Request,
    RequestOptions,
    Response,
    check_path_param,
    encode_json,
    encode_query,
    make_request,
    quote_path_param,
)
from ._request import status_error as status_error  # its home is _request; importable here as before
from ._urls import check_headers, check_url
from ._version import __version__
from .certificates import CertificateManager, CertificateStore, RefreshSchedule
from .crypto import PEMSource, Verifier
from .errors import (
    ConfigurationError,
    ResponseTooLargeError,
    UnknownSerialError,
    ValidationError,
    WxPayError,
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
from .resources._groups import GROUPS, ResourceGroups
from .transports import DEFAULT_TIMEOUT, AiohttpTransport, Transport
from .transports._base import ACCEPT_ENCODING, DEFAULT_POOL_SIZE

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .notifications import NotificationHandler

USER_AGENT = f"wxpay-async/{__version__} (Python; +https://github.com/wxpay-async)"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_\-]+", re.ASCII)
_PATH_TEMPLATE = re.compile(r"/[\x21-\x7e]*", re.ASCII)


class Client(ResourceGroups):
    """An async WeChat Pay APIv3 client for one merchant, or one brand (品牌直连).

    A merchant gives ``mchid``, ``merchant_serial``, ``private_key`` and ``apiv3_key``; a brand
    gives ``brand_id``, ``brand_serial`` (its brand API certificate), ``private_key``,
    ``brand_api_key`` and the WeChat Pay public key with its id. One client is one identity:
    a brand client signs ``WECHATPAY-BRAND-SHA256-RSA2048`` and calls only ``/brand/`` APIs
    (``wx.brand_product_coupon``), a merchant client only the others (IdentityMismatchError).

    Use it as ``async with Client(...) as wx:``; it owns an HTTP session, a background task
    keeping platform certificates fresh (certificate mode) and, optionally, a signing thread pool.
    ``request()`` is the documented escape hatch for any endpoint; the typed resources
    (``wx.favor``, ``wx.product_coupon``, ``wx.certificates``) are thin calls into it.

    ``pool_size`` (default 256) is how many calls may be on the wire at once through the default
    transport; more wait their turn (first come, first served) within their timeout, and one
    that waited in vain sent nothing, and the retry layer sends it again even without a request
    number. The call raises :class:`~wxpay_async.errors.PoolTimeoutError` only when none of its
    attempts reached the wire, :class:`~wxpay_async.errors.OutcomeUnknownError` otherwise.

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
        mchid: str | None = None,
        merchant_serial: str | None = None,
        private_key: PEMSource | rsa.RSAPrivateKey,
        apiv3_key: str | None = None,
        brand_id: str | None = None,
        brand_serial: str | None = None,
        brand_api_key: str | None = None,
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
        self.credentials: Credentials | BrandCredentials = load_identity(
            mchid=mchid,
            merchant_serial=merchant_serial,
            apiv3_key=apiv3_key,
            brand_id=brand_id,
            brand_serial=brand_serial,
            brand_api_key=brand_api_key,
            private_key=private_key,
            platform_public_key=platform_public_key,
            platform_public_key_id=platform_public_key_id,
        )
        #: A brand identity (品牌直连): brand scheme, /brand/ paths only, WeChat Pay public key only.
        self.is_brand = self.credentials.is_brand
        if self.is_brand and download_certificates:
            raise ConfigurationError("a brand verifies with the WeChat Pay public key; it downloads no certificates")
        check_url(base_url, "base_url", _configuration_error, path=False)
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
        self.transport: Transport = _transport(transport, proxy, trust_env, pool_size, timeout, max_response_bytes)
        # A transport passed in may serve many clients (many merchants): closed only when it is
        # ours, or handed over with close_transport=True. The same holds for a signing Executor.
        self._owns_transport = transport is None or close_transport
        executor, self._own_executor = _signing_executor(sign_in_thread)
        self._init_keys(key_source, download_certificates, certificate_store, certificate_schedule)
        self._init_pipeline(retry, middleware, executor, batch_signing, request_number)
        self._extra_headers: Mapping[str, str] = {}
        self._base_headers: dict[tuple[str | None, str | None], CIMultiDictProxy[str]] = {}
        #: The client this one was derived from by with_options() (it owns the shared resources).
        self._parent: Client | None = None
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._closed = False
        self._init_resources()

    def _init_keys(
        self,
        key_source: KeySource | None,
        download_certificates: bool | None,
        store: CertificateStore | None,
        schedule: RefreshSchedule,
    ) -> None:
        """Where platform keys come from: the caller's source, downloaded certificates, or fixed keys."""
        creds = self.credentials
        if download_certificates is None:
            download_certificates = creds.platform_public_key is None
        self.certificate_manager: CertificateManager | None = None
        if key_source is not None:
            self.key_source: KeySource = key_source
        elif download_certificates and isinstance(creds, Credentials):
            self.certificate_manager = CertificateManager(
                self._fetch_certificates,
                creds.apiv3_key,
                public_key=creds.platform_public_key,
                public_key_id=creds.platform_public_key_id,
                store=store,
                schedule=schedule,
                clock=self._clock,
            )
            self.key_source = self.certificate_manager
        else:
            self.key_source = StaticKeySource(
                Verifier(public_key=creds.platform_public_key, public_key_id=creds.platform_public_key_id),
                creds.platform_public_key_id,
            )

    def _init_pipeline(
        self,
        retry: RetryPolicy,
        middleware: Sequence[Middleware],
        executor: Executor | None,
        batch_signing: bool,
        request_number: Callable[[], str] | None,
    ) -> None:
        """The per-call steps: request numbers, retry → user middleware → the exchange step."""
        creds, clock = self.credentials, self._clock
        self.retry_policy = retry
        prefix = creds.identity_id  # new_request_number keeps as much of it as the strictest family allows
        self._signer = SigningMiddleware(
            creds.identity_id,
            creds.serial,
            creds.private_key,
            executor=executor,
            batch=batch_signing,
            clock=clock,
            scheme=creds.scheme,
        )
        self._verifier = VerifyingMiddleware(self.key_source, clock=clock)
        # Request numbers are filled while the request is built; logging → signing → verifying →
        # transport run together at the bottom of the chain as one step (Client._exchange), with
        # the methods of those middleware classes, a coroutine or more fewer per call.
        self._idempotency = IdempotencyMiddleware(request_number or (lambda: new_request_number(prefix)))
        chain: list[Middleware] = [RetryMiddleware(retry, clock=clock), *middleware]
        self._handler = build_chain(chain, self._exchange)
        self._chain = chain  # kept to build the chains of per-call retry policies
        self._handlers_by_retry: dict[RetryPolicy, Handler] = {retry: self._handler}

    def _init_resources(self) -> None:
        """(Re)bind the generated resource groups (resources/_groups.py): built on first use."""
        for name in GROUPS:
            self.__dict__.pop(name, None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Client:
        """Build a client from ``WXPAY_*`` environment variables (see ``wxpay_async.ENV_VARS``)."""
        return cls(**{**env_settings(environ), **overrides})

    @property
    def mchid(self) -> str:
        """The merchant id (IdentityMismatchError on a brand client: see :attr:`identity_id`)."""
        if isinstance(self.credentials, BrandCredentials):
            raise IdentityMismatchError("this client is a brand identity: it has brand_id, no mchid")
        return self.credentials.mchid

    @property
    def identity_id(self) -> str:
        """The mchid of a merchant client, the brand_id of a brand client."""
        return self.credentials.identity_id

    @property
    def identity_key(self) -> str:
        """Unique across identities (rate limiters, ledgers): the mchid, or ``brand:<brand_id>``."""
        return self.credentials.identity_key

    def __repr__(self) -> str:
        if self.is_brand:
            return f"Client(brand_id={self.identity_id!r}, base_url={self.base_url!r}, mode='public-key')"
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
            check_headers(extra_headers, "extra_headers", ValidationError)
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
    def build_request(
        self,
        method: str,
        path: str,
        *,
        verify: bool = True,
        base_url: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Request:
        """A prepared, unsigned :class:`Request` (what :meth:`request` sends; :meth:`send` runs one).

        ``options``: see :class:`~wxpay_async._request.RequestOptions`. ``verify=False`` for
        answers WeChat Pay does not sign (file downloads); ``base_url`` for another host.
        """
        return self._build(method, path, verify=verify, base_url=base_url, **options)

    def _build(
        self,
        method: str,
        path: str,
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
        """:meth:`build_request`'s work, its options also positional: :meth:`request` passes its own so.

        These parameters are :class:`RequestOptions` and :meth:`request`'s; a test holds the three
        equal. ``**options`` in :meth:`request` itself would cost 0.5-1.3 µs per call (measured).
        """
        if method not in _METHODS:
            method = _checked_method(method)
        if path.startswith(BRAND_PATH_PREFIX) != self.is_brand:
            check_path(self.is_brand, path)
        target = render_path(path, path_params) + encode_query(query)
        if content is not None or signed_payload is not None or timeout is not None:
            _check_options(json, content, signed_payload, timeout)
        key = None
        if idempotency_field:
            # The request number goes into the body before it is encoded (once): every attempt
            # and any manual re-send of this Request carry the same number and the same bytes.
            json, key = self._idempotency.number_for(json, idempotency_field)
        body = encode_json(json) if json is not None else (content or b"")
        ctype = (content_type or "application/json") if body or method not in ("GET", "HEAD", "DELETE") else None
        # Names the platform key WeChat Pay should sign the answer with (one we hold).
        # Brand APIs require it on every request (签名与验签规则.md: 请求头必填项 Wechatpay-Serial).
        serial = self.key_source.preferred_serial() if verify or self.is_brand else None
        base = self._base_headers.get((ctype, serial))
        if base is None:
            if content_type is not None:
                check_headers({"Content-Type": content_type}, "content_type", ValidationError)
            base = self._new_base_headers(ctype, serial)
        if self._extra_headers or headers:
            if headers:
                check_headers(headers, "headers", ValidationError)
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
        The options are :class:`~wxpay_async._request.RequestOptions` (what :meth:`build_request` takes).
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
        )
        # _send's five lines, inlined: one coroutine less per call (~75 ns, 0.6 % of request()).
        if not self._started:
            await self.start()
        response = await (self._handler if retry is None else self._handler_for(retry))(request)
        if raise_for_status and not response.is_success:
            raise status_error(response)
        return response

    async def send(
        self, request: Request, *, raise_for_status: bool = True, retry: RetryPolicy | None = None
    ) -> Response:
        """Run a prepared :class:`Request` through the middleware chain (``retry``: this call's policy)."""
        return await self._send(self._idempotency.fill(request), raise_for_status, retry)

    async def _send(self, request: Request, raise_for_status: bool, retry: RetryPolicy | None) -> Response:
        """What send() (and, inlined, request()) does with a request that has its request number.

        The retry layer (outermost in every chain) gives each error the request number.
        """
        if not self._started:
            await self.start()
        response = await (self._handler if retry is None else self._handler_for(retry))(request)
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
        return NotificationHandler(self.key_source.current_verifier, self.credentials.notification_key, **options)

    async def sign(self, request: Request) -> Request:
        """Sign a prepared request outside the chain (file downloads stream past it)."""
        return await self._signer.sign(request)

    async def _exchange(self, request: Request) -> Response:
        """LoggingMiddleware, SigningMiddleware, VerifyingMiddleware, then the transport, as one step.

        It calls the very methods those classes run (``sign_now``/``sign``, ``prepare``,
        ``check_now``/``check``, ``log_failure``/``log_response``); signing on the loop and a
        known platform key need no coroutine of their own.
        """
        start = time.perf_counter()
        signer = self._signer
        verifier = self._verifier
        try:
            signed = verifier.prepare(signer.sign_now(request) if signer.inline else await signer.sign(request))
            response = await self.transport.send(signed)
            limit = signed.max_response_bytes
            if limit is not None and len(response.content) > limit:
                raise _too_large(signed, response, limit)
            if signed.verify:
                try:
                    response = verifier.check_now(response)
                except UnknownSerialError:
                    response = await verifier.check(response)  # refreshes the platform keys once
        except WxPayError as exc:
            log_failure(request, start, exc)
            raise
        log_response(request, response, start)
        return response

    async def _fetch_certificates(self) -> Response:
        # Verified by the CertificateManager with the certificates the answer itself carries.
        request = self.build_request("GET", "/v3/certificates", verify=False)
        response = await self._handler(request)
        if not response.is_success:
            raise status_error(response)
        return response


def _too_large(request: Request, response: Response, limit: int) -> ResponseTooLargeError:
    """An answer past ``max_response_bytes``: the built-in transports stop reading at the cap;
    ``_exchange`` holds any other transport to it too."""
    return ResponseTooLargeError(
        f"{request.method} {request.target}: answer of {len(response.content)} bytes exceeds "
        f"the {limit}-byte cap (max_response_bytes)",
        limit=limit,
        idempotency_key=request.idempotency_key,
    )


def _transport(
    transport: Transport | None,
    proxy: str | None,
    trust_env: bool,
    pool_size: int | None,
    timeout: float,
    max_response_bytes: int,
) -> Transport:
    """The caller's transport, or the default one configured by the client's arguments."""
    if transport is not None and (proxy or trust_env):
        raise ConfigurationError("proxy= and trust_env= configure the default transport; set them on yours")
    if pool_size is not None and (transport is not None or pool_size < 1):
        raise ConfigurationError(
            f"pool_size must be a positive number, got {pool_size!r}"
            if transport is None
            else "pool_size is for the default transport; pass limit= to your transport instead"
        )
    return transport or AiohttpTransport(
        timeout=timeout,
        max_response_bytes=max_response_bytes,
        limit=pool_size or DEFAULT_POOL_SIZE,
        proxy=proxy,
        trust_env=trust_env,
    )


def _signing_executor(sign_in_thread: bool | Executor) -> tuple[Executor | None, ThreadPoolExecutor | None]:
    """The executor RSA signing runs on (None: on the loop), and the one the client must shut down."""
    if isinstance(sign_in_thread, Executor):
        return sign_in_thread, None
    if sign_in_thread:
        own = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="wxpay-sign")
        return own, own
    return None, None


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", re.ASCII)


def _checked_method(method: str) -> str:
    """An HTTP method other than the usual ones: upper-cased, and refused unless a plain token."""
    upper = method.upper() if isinstance(method, str) else method
    if not isinstance(upper, str) or not _TOKEN.fullmatch(upper):
        raise ValidationError("method", f"must be an HTTP method such as GET or POST, got {method!r}")
    return upper


def _check_options(json: Any, content: Any, signed_payload: Any, timeout: Any) -> None:
    """The less common request() arguments: body bytes and a timeout in seconds."""
    if json is not None and content is not None:
        raise ValidationError("content", "give either json or content, not both")
    if content is not None and not isinstance(content, bytes):
        raise ValidationError("content", f"must be bytes, got {type(content).__name__}")
    if signed_payload is not None and not isinstance(signed_payload, bytes):
        raise ValidationError("signed_payload", f"must be bytes, got {type(signed_payload).__name__}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)):
        raise ValidationError("timeout", f"must be a number of seconds, got {type(timeout).__name__}")


def _configuration_error(field: str, rule: str) -> ConfigurationError:
    return ConfigurationError(f"{field} {rule}")


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
            try:
                text = quote_path_param(text)
            except UnicodeEncodeError:
                raise ValidationError(name, "path parameter must be valid Unicode text") from None
        out = out + text + literal
    return out


@functools.lru_cache(maxsize=1024)
def _template(template: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``/a/{x}/b`` as its opening literal ``"/a/"`` and (placeholder, literal after it) pairs ``(("x", "/b"),)``.

    The template itself is checked here, once per template: an absolute path of printable ASCII.
    """
    if not isinstance(template, str) or not _PATH_TEMPLATE.fullmatch(template):
        raise ValidationError(
            "path", f"must be an absolute path of printable ASCII without spaces (/v3/...), got {template!r}"
        )
    pieces = _PLACEHOLDER.split(template)
    return pieces[0], tuple(zip(pieces[1::2], pieces[2::2], strict=True))
