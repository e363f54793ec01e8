"""WeChat Pay notifications: verified, decrypted, deduplicated, with aiohttp and ASGI adapters.

WeChat Pay re-delivers a notification until it gets a 2xx answer (COUPON.USE: every minute, up
to 9 times), and a handler may see the same one twice at once. ``NotificationHandler.handle``
runs the caller's callback at most once per notification id, and not at all for anything whose
signature, timestamp or ciphertext is wrong.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import attrs
from multidict import CIMultiDict

from ._converter import converter, parse_datetime
from ._redis import hash_tag, redis_client
from .crypto import SignatureHeaders, Verifier, aead_decrypt, missing_signature_headers
from .errors import DecryptionError, SignatureVerificationError, WxPayError

if TYPE_CHECKING:
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import Response as StarletteResponse

logger = logging.getLogger("wxpay_async.notifications")

MAX_BODY_BYTES = 64 * 1024
MAX_SKEW_SECONDS = 300


class MalformedNotificationError(WxPayError):
    """The body is not a WeChat Pay notification (bad JSON, missing fields, too large)."""


class NotificationInProgressError(WxPayError):
    """Another worker holds this notification's claim; WeChat Pay will deliver it again."""


# -- typed resources -----------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class NormalCouponInformation:
    coupon_amount: int
    transaction_minimum: int
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class ConsumeInformation:
    consume_time: dt.datetime
    consume_mchid: str
    transaction_id: str
    goods_detail: list[dict[str, Any]] = attrs.field(factory=list)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class CouponUseResource:
    """COUPON.USE: a user paid with a cash coupon."""

    stock_creator_mchid: str
    stock_id: str
    coupon_id: str
    coupon_name: str | None = None
    status: str | None = None
    description: str | None = None
    create_time: dt.datetime | None = None
    coupon_type: str | None = None
    no_cash: bool | None = None
    available_begin_time: dt.datetime | None = None
    available_end_time: dt.datetime | None = None
    singleitem: bool | None = None
    singleitem_discount_off: dict[str, Any] | None = None
    discount_to: dict[str, Any] | None = None
    normal_coupon_information: NormalCouponInformation | None = None
    consume_information: ConsumeInformation | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class ProductCouponSendResource:
    """PRODUCT_COUPON_SP.SEND: a product coupon reached a user; confirm it or it never takes effect."""

    coupon_code: str
    coupon_state: str | None = None
    openid: str | None = None
    brand_id: str | None = None
    product_coupon_id: str | None = None
    stock_id: str | None = None
    send_request_no: str | None = None
    send_channel: str | None = None
    valid_begin_time: dt.datetime | None = None
    valid_end_time: dt.datetime | None = None
    receive_time: dt.datetime | None = None
    attach: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


RESOURCE_MODELS: dict[str, type[Any]] = {
    "COUPON.USE": CouponUseResource,
    "PRODUCT_COUPON_SP.SEND": ProductCouponSendResource,
}


@attrs.frozen(kw_only=True)
class Notification:
    """A verified notification: the envelope fields and the decrypted resource."""

    id: str
    create_time: dt.datetime
    event_type: str
    resource_type: str
    summary: str
    resource: dict[str, Any] = attrs.field(repr=False)
    original_type: str | None = None

    @property
    def model(self) -> Any:
        """The resource as its typed model (``CouponUseResource``...), or the dict when unknown."""
        model = RESOURCE_MODELS.get(self.event_type)
        return _structure(self.resource, model) if model else self.resource

    @property
    def coupon_use(self) -> CouponUseResource:
        return _structure(self.resource, CouponUseResource)

    @property
    def product_coupon_send(self) -> ProductCouponSendResource:
        return _structure(self.resource, ProductCouponSendResource)


_M = TypeVar("_M")


def _structure(resource: dict[str, Any], model: type[_M]) -> _M:
    """The typed model, or MalformedNotificationError when the resource does not fit it."""
    try:
        return converter.structure(resource, model)
    except Exception as exc:  # cattrs raises ClassValidationError/KeyError/ValueError/TypeError
        raise MalformedNotificationError(f"resource does not fit {model.__name__}: {type(exc).__name__}") from None


def decrypt_resource(resource: Mapping[str, Any], apiv3_key: str) -> dict[str, Any]:
    """Decrypt a notification's ``resource`` object (AEAD_AES_256_GCM) into a dict."""
    algorithm = resource.get("algorithm")
    if algorithm != "AEAD_AES_256_GCM":
        raise DecryptionError(f"unsupported resource algorithm {algorithm!r}")
    try:
        plaintext = aead_decrypt(
            apiv3_key, str(resource["nonce"]), str(resource.get("associated_data") or ""), str(resource["ciphertext"])
        )
    except KeyError as exc:
        raise MalformedNotificationError(f"resource lacks {exc.args[0]}") from None
    try:
        data = json.loads(plaintext)
    except ValueError:
        raise DecryptionError("decrypted resource is not JSON") from None
    if not isinstance(data, dict):
        raise DecryptionError("decrypted resource is not a JSON object")
    return data


# -- deduplication --------------------------------------------------------------------------
ClaimState = Literal["claimed", "done", "busy"]


class DedupeStore(Protocol):
    """Once-per-id processing across workers: an atomic claim → run → done protocol.

    ``claim`` atomically answers ``"done"`` (processed already: acknowledge), ``"busy"``
    (another worker holds an unexpired claim) or ``"claimed"`` (this ``token`` now holds the
    id for ``ttl`` seconds: run the callback). ``complete`` records the id as done for
    ``ttl`` seconds and drops the claim; ``release`` drops the claim after a failed callback so
    the next delivery runs it. A crashed worker's claim simply expires after its TTL.
    """

    async def claim(self, notification_id: str, token: str, ttl: float) -> ClaimState: ...

    async def complete(self, notification_id: str, token: str, ttl: float) -> None: ...

    async def release(self, notification_id: str, token: str) -> None: ...


class InMemoryDedupeStore:
    """Bounded, TTL-expiring claims and done markers (one process)."""

    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        # id -> (token or "" when done, expiry)
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def _live(self, notification_id: str) -> tuple[str, float] | None:
        entry = self._entries.get(notification_id)
        if entry is not None and entry[1] < self._clock():
            del self._entries[notification_id]
            return None
        return entry

    def _put(self, notification_id: str, token: str, ttl: float) -> None:
        self._entries[notification_id] = (token, self._clock() + ttl)
        self._entries.move_to_end(notification_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def claim(self, notification_id: str, token: str, ttl: float) -> ClaimState:
        entry = self._live(notification_id)
        if entry is not None:
            return "done" if entry[0] == "" else "busy"
        self._put(notification_id, token, ttl)
        return "claimed"

    async def complete(self, notification_id: str, token: str, ttl: float) -> None:
        self._put(notification_id, "", ttl)

    async def release(self, notification_id: str, token: str) -> None:
        entry = self._live(notification_id)
        if entry is not None and entry[0] == token:
            del self._entries[notification_id]


_CLAIM = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 'done' end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'claimed' end
return 'busy'
"""
_COMPLETE = """
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisDedupeStore:
    """A :class:`DedupeStore` shared by every worker process through Redis (``redis`` extra).

    ``<prefix>{<id>}:claim`` is taken with ``SET NX PX`` (the lease, holding this delivery's
    token) and ``<prefix>{<id>}:done`` is the done marker (one hash tag: one Cluster slot); each step is one atomic Lua script, so
    two workers can never both run the callback for one id while a claim or marker lives.
    """

    def __init__(
        self, url: str = "redis://127.0.0.1:6379/0", *, client: Any = None, prefix: str = "wxpay:notify:"
    ) -> None:
        self._redis, self._owns_client = redis_client(url, client)
        self._prefix = prefix

    def _keys(self, notification_id: str) -> tuple[str, str]:
        base = self._prefix + hash_tag(notification_id)
        return base + ":claim", base + ":done"

    async def claim(self, notification_id: str, token: str, ttl: float) -> ClaimState:
        state = await self._redis.eval(_CLAIM, 2, *self._keys(notification_id), token, max(1, int(ttl * 1000)))
        text = state.decode() if isinstance(state, bytes) else str(state)
        if text not in ("claimed", "done", "busy"):
            raise WxPayError(f"unexpected dedupe claim answer {text!r}")
        return text  # type: ignore[return-value]

    async def complete(self, notification_id: str, token: str, ttl: float) -> None:
        await self._redis.eval(_COMPLETE, 2, *self._keys(notification_id), token, max(1, int(ttl * 1000)))

    async def release(self, notification_id: str, token: str) -> None:
        await self._redis.eval(_RELEASE, 1, self._keys(notification_id)[0], token)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._redis.aclose()


# -- the handler ----------------------------------------------------------------------------
Callback = Callable[[Notification], Awaitable[None]]


class NotificationHandler:
    """Verifies and decrypts notifications, and runs a callback once per notification id.

    ``verifier`` is a :class:`Verifier` or a zero-argument callable returning the current one
    (``client.notification_handler()`` passes the client's live platform keys, so rotated
    certificates are picked up). ``refresh`` (the client passes its certificate manager's
    ``refresh_for``) is awaited once for an unknown ``Wechatpay-Serial``: the same single-flight,
    globally rate-limited refresh the response path uses.

    ``dedupe`` claims each id before the callback runs (``claim_ttl``: the lease, longer than
    your callback takes) and marks it done for ``dedupe_ttl`` afterwards. A delivery finding the
    id claimed elsewhere waits up to ``busy_wait`` seconds for that worker, then answers 503.
    """

    def __init__(
        self,
        verifier: Verifier | Callable[[], Verifier],
        apiv3_key: str,
        *,
        clock: Callable[[], float] = time.time,
        dedupe: DedupeStore | None = None,
        dedupe_ttl: float = 24 * 3600.0,
        claim_ttl: float = 60.0,
        busy_wait: float = 4.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_skew: int = MAX_SKEW_SECONDS,
        refresh: Callable[[str], Awaitable[Verifier]] | None = None,
    ) -> None:
        self._verifier = verifier
        self._apiv3_key = apiv3_key
        self._clock = clock
        self.dedupe: DedupeStore = dedupe or InMemoryDedupeStore()
        self._ttl = dedupe_ttl
        self._claim_ttl = claim_ttl
        self._busy_wait = busy_wait
        self._refresh = refresh
        self.max_body_bytes = max_body_bytes
        self._max_skew = max_skew
        self._in_flight: dict[str, tuple[asyncio.Lock, int]] = {}  # lock and how many deliveries use it

    def __repr__(self) -> str:
        return f"NotificationHandler(max_body_bytes={self.max_body_bytes}, max_skew={self._max_skew})"

    def _current_verifier(self) -> Verifier:
        return self._verifier if isinstance(self._verifier, Verifier) else self._verifier()

    async def _refresh_unknown_serial(self, headers: Mapping[str, str], body: bytes) -> None:
        """One shared certificate refresh when a fresh, well-formed notification names an unknown key."""
        if self._refresh is None or len(body) > self.max_body_bytes:
            return
        h = CIMultiDict(headers)
        signed = SignatureHeaders.read(h)
        if signed is None:
            return
        signed.check_fresh(self._clock(), self._max_skew, context="notification")
        if not self._current_verifier().knows(signed.serial):
            logger.info("notification names unknown platform serial %s; refreshing platform keys", signed.serial)
            await self._refresh(signed.serial)

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise :class:`SignatureVerificationError` unless WeChat Pay signed exactly this body."""
        h = CIMultiDict(headers)
        signed = SignatureHeaders.read(h)
        if signed is None:
            raise SignatureVerificationError(f"notification lacks {', '.join(missing_signature_headers(h))}")
        signed.check_fresh(self._clock(), self._max_skew, context="notification")
        verifier = self._current_verifier()
        if not verifier.knows(signed.serial):
            raise SignatureVerificationError(f"no platform key with serial {signed.serial}")
        if not signed.matches(verifier, body):
            raise SignatureVerificationError(f"notification signature does not match (serial {signed.serial})")

    def parse(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify, then decrypt: a :class:`Notification`, or an exception saying what was wrong."""
        if len(body) > self.max_body_bytes:
            raise MalformedNotificationError(f"notification body exceeds {self.max_body_bytes} bytes")
        self.verify(headers, body)
        try:
            envelope = json.loads(body)
        except ValueError:
            raise MalformedNotificationError("notification body is not JSON") from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("resource"), dict):
            raise MalformedNotificationError("notification body lacks a resource object")
        try:
            notification = Notification(
                id=str(envelope["id"]),
                create_time=parse_datetime(envelope["create_time"]),
                event_type=str(envelope["event_type"]),
                resource_type=str(envelope.get("resource_type", "")),
                summary=str(envelope.get("summary", "")),
                resource=decrypt_resource(envelope["resource"], self._apiv3_key),
                original_type=envelope["resource"].get("original_type"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedNotificationError(f"notification envelope is malformed: {exc}") from None
        logger.info("notification %s %s verified", notification.id, notification.event_type)
        return notification

    async def handle(self, headers: Mapping[str, str], body: bytes, callback: Callback) -> Notification:
        """Parse, then run ``callback`` unless this id was processed already.

        Claim → run → done: the id is marked done only after the callback succeeded; a failed
        callback releases its claim so the next delivery runs it; concurrent deliveries of one
        id (in this process or, with a shared store, in others) never run it twice.
        """
        await self._refresh_unknown_serial(headers, body)
        notification = self.parse(headers, body)
        lock, users = self._in_flight.get(notification.id, (asyncio.Lock(), 0))
        self._in_flight[notification.id] = (lock, users + 1)
        try:
            async with lock:
                await self._run_once(notification, callback)
        finally:
            lock, users = self._in_flight[notification.id]
            if users <= 1:
                del self._in_flight[notification.id]
            else:
                self._in_flight[notification.id] = (lock, users - 1)
        return notification

    async def _run_once(self, notification: Notification, callback: Callback) -> None:
        token = secrets.token_hex(16)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._busy_wait
        delay = 0.02
        while True:
            state = await self.dedupe.claim(notification.id, token, self._claim_ttl)
            if state == "done":
                logger.info("notification %s already processed; acknowledging the re-delivery", notification.id)
                return
            if state == "claimed":
                break
            if loop.time() >= give_up:
                raise NotificationInProgressError(f"notification {notification.id} is being processed elsewhere")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        try:
            await callback(notification)
        except BaseException:
            try:
                await asyncio.shield(self.dedupe.release(notification.id, token))
            except Exception as exc:  # the claim then expires after claim_ttl
                logger.warning("could not release the claim on notification %s: %s", notification.id, exc)
            raise
        await self.dedupe.complete(notification.id, token, self._ttl)

    async def respond(self, headers: Mapping[str, str], body: bytes, callback: Callback) -> tuple[int, dict[str, str]]:
        """``(status, json)`` to answer WeChat Pay with; the shared core of the web adapters."""
        try:
            await self.handle(headers, body, callback)
        except NotificationInProgressError as exc:
            logger.info("%s; WeChat Pay will deliver it again", exc)
            return 503, {"code": "FAIL", "message": "being processed, please retry"}
        except SignatureVerificationError as exc:
            logger.warning("notification refused: %s", exc)
            return 401, {"code": "FAIL", "message": "signature verification failed"}
        except DecryptionError as exc:
            logger.warning("notification refused: %s", exc)
            return 400, {"code": "FAIL", "message": "resource decryption failed"}
        except MalformedNotificationError as exc:
            status = 413 if "exceeds" in str(exc) else 400
            return status, {"code": "FAIL", "message": str(exc)}
        except Exception:
            logger.exception("notification callback failed; WeChat Pay will deliver it again")
            return 500, {"code": "FAIL", "message": "processing failed, please retry"}
        return 200, {"code": "SUCCESS", "message": "OK"}


# -- framework adapters -----------------------------------------------------------------------
def aiohttp_handler(handler: NotificationHandler, callback: Callback) -> Callable[[Any], Awaitable[Any]]:
    """An ``aiohttp.web`` handler: ``app.router.add_post("/wxpay/notify", aiohttp_handler(h, cb))``."""
    from aiohttp import web

    async def endpoint(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > handler.max_body_bytes:
            return web.json_response({"code": "FAIL", "message": "body too large"}, status=413)
        body = bytearray()
        async for chunk in request.content.iter_chunked(16 * 1024):
            body += chunk
            if len(body) > handler.max_body_bytes:
                return web.json_response({"code": "FAIL", "message": "body too large"}, status=413)
        status, payload = await handler.respond(request.headers, bytes(body), callback)
        return web.json_response(payload, status=status)

    return endpoint


ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
    Awaitable[None],
]


def asgi_app(handler: NotificationHandler, callback: Callback) -> ASGIApp:
    """A pure ASGI app for the notification URL.

    Prefer :func:`starlette_endpoint` in FastAPI/Starlette: it answers at exactly the route's
    path. Mounted (``app.mount("/wxpay/notify", asgi_app(h, cb))``) the app answers at
    ``/wxpay/notify/`` only, and Starlette redirects ``POST /wxpay/notify`` there with a 307,
    which WeChat Pay is not documented to follow: register the URL *with* the trailing slash in
    that case. The returned object is not a plain function, so ``app.add_route(path,
    asgi_app(h, cb), methods=["POST"])`` and ``Route(path, asgi_app(h, cb))`` use it as an ASGI
    app too (no redirect).
    """
    return _NotificationASGIApp(handler, callback)


class _NotificationASGIApp:
    """The ASGI callable of :func:`asgi_app` (a class instance, so Starlette routes treat it as ASGI)."""

    def __init__(self, handler: NotificationHandler, callback: Callback) -> None:
        self._handler = handler
        self._callback = callback

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        handler = self._handler
        if scope["type"] != "http":
            return
        if scope.get("method") != "POST":
            await _asgi_json(send, 405, {"code": "FAIL", "message": "POST only"})
            return
        headers = CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", []))
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > handler.max_body_bytes:
                await _asgi_json(send, 413, {"code": "FAIL", "message": "body too large"})
                return
        status, payload = await handler.respond(headers, bytes(body), self._callback)
        await _asgi_json(send, status, payload)


def starlette_endpoint(
    handler: NotificationHandler, callback: Callback
) -> Callable[[StarletteRequest], Awaitable[StarletteResponse]]:
    """A Starlette/FastAPI request handler answering at exactly its route's path (no redirect).

    ``app.add_route("/wxpay/notify", endpoint, methods=["POST"])``, ``app.post("/wxpay/notify")(endpoint)``
    (FastAPI) or ``Route("/wxpay/notify", endpoint, methods=["POST"])``. Needs ``starlette``
    (FastAPI brings it). The body is read up to ``handler.max_body_bytes`` (413 beyond).
    """
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    async def endpoint(request: StarletteRequest) -> StarletteResponse:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > handler.max_body_bytes:
            return JSONResponse({"code": "FAIL", "message": "body too large"}, status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > handler.max_body_bytes:
                return JSONResponse({"code": "FAIL", "message": "body too large"}, status_code=413)
        status, payload = await handler.respond(request.headers, bytes(body), callback)
        return JSONResponse(payload, status_code=status)

    # Real classes, not strings: FastAPI reads the signature to inject the request.
    endpoint.__annotations__ = {"request": Request, "return": Response}
    return endpoint


async def _asgi_json(send: Callable[[dict[str, Any]], Awaitable[None]], status: int, payload: dict[str, str]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
