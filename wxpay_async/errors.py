"""The exceptions wxpay_async raises.

Every error a caller can act on is a subclass of :class:`WxPayError`. Errors that come from a
WeChat Pay answer carry the status, the WeChat Pay ``code``/``message``/``detail``, the
``Request-ID`` (quote it to WeChat Pay support) and the idempotency key the call used, so a
caller can retry the *same* operation later without sending anything twice.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from ._retry_after import parse_retry_after

__all__ = [
    "RATE_LIMIT_CODES",
    "TRANSIENT_CODES",
    "TRANSIENT_STATUSES",
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "Attempt",
    "AuthenticationError",
    "BadRequestError",
    "CertificateError",
    "CertificateManagerClosedError",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "DecryptionError",
    "DedupeStoreError",
    "FlowFormatError",
    "FlowIntegrityError",
    "IdentityMismatchError",
    "InternalServerError",
    "JournalError",
    "MalformedNotificationError",
    "NotFoundError",
    "NotSentError",
    "NotificationEventError",
    "NotificationInProgressError",
    "NotificationTooLargeError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "PoolTimeoutError",
    "RateLimitError",
    "RedisConfigurationError",
    "RedisUnavailable",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "SignatureVerificationError",
    "TransportClosedError",
    "UnknownSerialError",
    "ValidationError",
    "WxPayError",
    "is_rate_limited",
    "is_transient",
]


class Attempt(NamedTuple):
    """What became of one attempt of a call (``error.attempts``, in the order they were made)."""

    #: 1 for the first attempt, 2 for the first retry...
    number: int
    #: False only when this attempt is known to have sent nothing (no connection, no pool slot);
    #: True when it went on the wire or may have (answered, dropped, timed out...).
    reached_wire: bool
    #: What happened, in words: ``HTTP 503 SYSTEM_ERROR``, ``NotSentError: could not connect...``.
    outcome: str


class WxPayError(Exception):
    """Base class of every error raised by wxpay_async.

    ``idempotency_key`` is the request number of the call that failed, on every error raised
    after a request carrying one (``out_request_no``, ``send_request_no``...) went on the wire:
    re-send with it to learn the outcome without acting twice. None otherwise.

    ``attempts`` tells what became of each attempt of a call the retry layer ran (empty for
    errors raised before any attempt, such as a :class:`ValidationError`).
    """

    idempotency_key: str | None = None
    attempts: tuple[Attempt, ...] = ()


class ConfigurationError(WxPayError):
    """The client was configured wrongly (missing key, wrong key size, bad URL...)."""


class IdentityMismatchError(ConfigurationError):
    """A call needs the other identity (a brand API on a merchant client or the reverse); nothing was sent."""


class ClientClosedError(ConfigurationError):
    """The client (or its transport or signer) was closed before this attempt was sent.

    ``sent`` is False for the attempt that raised it; if an earlier attempt of the same call had
    reached the wire, the call raises :class:`OutcomeUnknownError` instead.
    """

    sent: bool | None = False


class TransportClosedError(ClientClosedError):
    """A request was given to a transport after its ``aclose()``; nothing was sent (not retried)."""


class ValidationError(WxPayError, ValueError):
    """A request was refused locally, before anything went on the wire.

    ``field`` names the offending parameter (dotted path for nested fields), ``rule`` says
    which rule it broke, in words a developer can act on.
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


class APIConnectionError(WxPayError):
    """The request could not be delivered or its answer could not be read.

    Whether WeChat Pay acted on it is unknown: retry with the same ``idempotency_key``.
    ``sent`` describes the whole call, every attempt included: False on :class:`NotSentError`
    (no attempt went on the wire), True when an attempt is known to have reached WeChat Pay
    (it answered), None when that is unknown.
    """

    #: False: no attempt of the call left this process, so sending it again cannot act twice.
    sent: bool | None = None

    def __init__(self, message: str, *, idempotency_key: str | None = None) -> None:
        self.idempotency_key = idempotency_key
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """No answer arrived within the timeout (or the call's overall deadline passed)."""


class NotSentError(APIConnectionError):
    """No attempt of the call was sent (no connection could be had): ``sent`` is False.

    Raised only when *every* attempt of the call failed before reaching the wire; when an
    earlier attempt did reach it, the call raises :class:`OutcomeUnknownError` instead. Safe to
    send again, even for a call without a request number: the retry layer retries it like a
    GET. Not an :class:`APITimeoutError`, whose outcome is unknown.
    """

    sent = False


class PoolTimeoutError(NotSentError):
    """The call waited for a free connection of the transport's pool until its timeout ran out.

    No attempt of the call was sent (otherwise: :class:`OutcomeUnknownError`). The pool (``Client(pool_size=...)``, or the transport's ``limit``) was
    full for the whole wait: more calls in flight than connections. Raise the pool size, or
    bound the caller's concurrency.
    """


class OutcomeUnknownError(APIConnectionError):
    """An attempt of the call reached the wire, and a later one could not be sent.

    WeChat Pay may have acted on the earlier attempt: re-send with the same ``idempotency_key``
    (the request number) to learn the outcome without acting twice. ``attempts`` tells what
    became of each attempt; ``sent`` is True when one of them was answered, None otherwise.
    """

    def __init__(
        self,
        message: str,
        *,
        idempotency_key: str | None = None,
        attempts: tuple[Attempt, ...] = (),
        sent: bool | None = None,
    ) -> None:
        super().__init__(message, idempotency_key=idempotency_key)
        self.attempts = attempts
        self.sent = sent


def acted_hint(method: str, idempotency_key: str | None) -> str:
    """What to tell a caller whose call reached WeChat Pay but whose answer cannot be used.

    The server may have acted on it; only re-sending the same request number learns the outcome.
    """
    if method in ("GET", "HEAD"):
        return "nothing was changed by this query; it may be sent again"
    if idempotency_key:
        return (
            "WeChat Pay may have acted on this call: send it again with the same "
            f"idempotency_key {idempotency_key} to learn the outcome without acting twice"
        )
    return "WeChat Pay may have acted on this call: check its outcome before sending it again"


class SignatureVerificationError(WxPayError):
    """A response or notification did not carry a valid WeChat Pay signature.

    Never treat such a body as genuine: it may be forged, replayed or a signature probe.
    For an API answer the message names the platform key ids the client holds
    (``known_serials``) and the one the answer named (``serial``), and says what to do about a
    call WeChat Pay may have acted on.
    """

    def __init__(
        self,
        message: str,
        *,
        serial: str | None = None,
        known_serials: frozenset[str] = frozenset(),
        idempotency_key: str | None = None,
    ) -> None:
        self.serial = serial
        self.known_serials = known_serials
        self.idempotency_key = idempotency_key
        super().__init__(message)


class UnknownSerialError(SignatureVerificationError):
    """The message names a platform key (``serial``) the client does not hold, or one not in force.

    The API answer path refreshes the platform keys once and tries again before raising it.
    """


class DecryptionError(WxPayError):
    """AES-GCM authentication failed: wrong APIv3 key, wrong nonce/associated data, or tampering."""


class FlowIntegrityError(WxPayError):
    """A downloaded flow file did not match the hash WeChat Pay announced for it."""

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class APIResponseValidationError(WxPayError):
    """A verified 2xx answer did not fit the expected model (a field WeChat Pay calls required is missing).

    The call itself succeeded at WeChat Pay; ``body`` holds the raw answer so nothing is lost.
    """

    def __init__(
        self, message: str, *, body: bytes, request_id: str | None, idempotency_key: str | None = None
    ) -> None:
        self.body = body
        self.request_id = request_id
        self.idempotency_key = idempotency_key
        super().__init__(f"{message} [Request-ID {request_id}]" if request_id else message)


class ResponseDecodeError(APIResponseValidationError, ValueError):
    """A 2xx answer (or :meth:`Response.json` on any answer) whose body is not JSON; ``body`` has it."""


class CertificateError(WxPayError):
    """A ``/v3/certificates`` answer (or a stored certificate) that cannot be trusted or parsed."""


class CertificateManagerClosedError(WxPayError):
    """The certificate manager was closed; it downloads nothing any more."""


class FlowFormatError(WxPayError):
    """A flow file that is not the UTF-8 CSV WeChat Pay sends (bad encoding, bad amount...)."""


class JournalError(WxPayError):
    """The journal cannot be trusted: corrupted, truncated, empty, or made for another batch/input."""


class MalformedNotificationError(WxPayError):
    """The body is not a WeChat Pay notification (bad JSON, missing fields, too large)."""


class NotificationTooLargeError(MalformedNotificationError):
    """The notification body is larger than the handler's ``max_body_bytes`` (HTTP 413)."""


class NotificationInProgressError(WxPayError):
    """Another worker holds this notification's claim; WeChat Pay will deliver it again."""


class NotificationEventError(WxPayError):
    """A resource accessor (``n.coupon_use``...) was read on a notification of another event type."""


class DedupeStoreError(WxPayError):
    """The dedupe store could not be reached to claim a notification: the callback did not run.

    Answered 500, so WeChat Pay delivers the notification again. ``__cause__`` is the store's error.
    """


class ResponseTooLargeError(WxPayError):
    """An answer was larger than the client's cap (``max_response_bytes``); reading stopped there.

    Real WeChat Pay answers are a few kilobytes: this is a misbehaving proxy or a hostile peer.
    ``limit`` is the cap in bytes (measured after decompression). Whether WeChat Pay acted on
    the call is unknown: re-send with ``idempotency_key`` when there is one.
    """

    def __init__(self, message: str, *, limit: int, idempotency_key: str | None = None) -> None:
        self.limit = limit
        self.idempotency_key = idempotency_key
        super().__init__(message)


#: Statuses worth sending again later: rate limited, or the server failed (not a 501 or 505).
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
#: The codes WeChat Pay uses for "slow down" (cash coupons, product coupons, older APIs).
RATE_LIMIT_CODES = frozenset({"FREQUENCY_LIMITED", "RATELIMIT_EXCEEDED", "FREQUENCY_LIMIT_EXCEED"})
#: Error codes worth sending again later, whatever the status.
TRANSIENT_CODES = frozenset({"SYSTEM_ERROR"}) | RATE_LIMIT_CODES


def is_rate_limited(status: int, code: str | None) -> bool:
    """Whether an answer asks to slow down (429, or one of :data:`RATE_LIMIT_CODES`)."""
    return status == 429 or (code is not None and code in RATE_LIMIT_CODES)


def is_transient(
    status: int,
    code: str | None,
    *,
    statuses: frozenset[int] = TRANSIENT_STATUSES,
    codes: frozenset[str] = TRANSIENT_CODES,
) -> bool:
    """The one "may succeed if sent again later" rule: the retry layer, batch sends and telemetry use it.

    ``statuses``/``codes``: a :class:`~wxpay_async.RetryPolicy`'s own, when it changed them.
    """
    return status in statuses or (status >= 400 and code is not None and code in codes)


class APIStatusError(WxPayError):
    """WeChat Pay answered with a non-2xx status.

    ``headers`` are the answer's (``Retry-After``, ``Request-ID``...); :attr:`retry_after` reads
    the wait WeChat Pay asked for, :attr:`transient` says whether sending again later may succeed.
    """

    def __init__(
        self,
        *,
        status: int,
        code: str | None,
        message: str | None,
        detail: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        idempotency_key: str | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.status = status
        self.code = code
        self.message = message
        self.detail = dict(detail) if detail else {}
        self.request_id = request_id
        self.idempotency_key = idempotency_key
        self.body = body
        text = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        if self.detail.get("field"):
            text += f" (field {self.detail['field']!s})"
        if request_id:
            text += f" [Request-ID {request_id}]"
        if idempotency_key:
            text += f" [request number {idempotency_key}]"
        super().__init__(text)

    @property
    def field(self) -> str | None:
        """The field WeChat Pay blamed (``detail.field``), when it said."""
        value = self.detail.get("field")
        return str(value) if value is not None else None

    @property
    def retry_after(self) -> float | None:
        """Seconds the answer's ``Retry-After`` asked to wait (delta-seconds or HTTP date), or None."""
        return parse_retry_after(self.headers.get("Retry-After"), time.time())

    @property
    def transient(self) -> bool:
        """Whether sending the same call again later may succeed (:func:`is_transient`)."""
        return is_transient(self.status, self.code)

    @property
    def rate_limited(self) -> bool:
        """Whether WeChat Pay asked to slow down (:func:`is_rate_limited`)."""
        return is_rate_limited(self.status, self.code)


class BadRequestError(APIStatusError):
    """400: PARAM_ERROR, INVALID_REQUEST, ALREADY_EXISTS... Do not retry unchanged."""


class AuthenticationError(APIStatusError):
    """401: SIGN_ERROR. The merchant key, serial or clock is wrong."""


class PermissionDeniedError(APIStatusError):
    """403: NO_AUTH, NOT_ENOUGH (budget exhausted), RULE_LIMIT..."""


class NotFoundError(APIStatusError):
    """404: RESOURCE_NOT_EXISTS, NOT_FOUND."""


class ConflictError(APIStatusError):
    """409: the same request number was used with different content."""


class RateLimitError(APIStatusError):
    """429: FREQUENCY_LIMIT_EXCEED (cash coupons), RATELIMIT_EXCEEDED (product coupons)... Retry later with the same parameters."""


class InternalServerError(APIStatusError):
    """5xx: SYSTEM_ERROR. Retry later with the same parameters."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status (5xx → InternalServerError)."""
    if status >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status, APIStatusError)


class RedisUnavailable(WxPayError):
    """Redis stayed unreachable longer than the batch's outage limit (``--redis-wait``).

    Nothing was lost: every row keeps its request number, so running the same command again
    resumes the batch without a second coupon.
    """


class RedisConfigurationError(ConfigurationError, ValueError):
    """A Redis URL that cannot be used, or credentials Redis refuses (wrong password, no ``AUTH``).

    Raised at once, not waited out like an outage: running again with the same settings cannot
    succeed. The message shows the URL with its password masked. Also a ``ValueError``, as the URL
    errors were before.
    """
