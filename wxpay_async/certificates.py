"""Keeps WeChat Pay platform certificates fresh in the background.

WeChat Pay lists a new platform certificate about 24 h before it starts signing with it and
keeps signing with the old one until then, so the manager keeps every certificate it has seen
until that certificate expires. A refresh that fails never empties the cache: calls keep
verifying with what is known, and only when no valid key remains is that an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ._request import Response
from .crypto import (
    MAX_SKEW_SECONDS,
    Verifier,
    aead_decrypt,
    certificate_serial,
    load_certificate,
    validate_signed_message,
)
from .errors import (  # the two certificate errors are also importable from here, as before
    CertificateError as CertificateError,
)
from .errors import (
    CertificateManagerClosedError as CertificateManagerClosedError,
)
from .errors import (
    DecryptionError,
    SignatureVerificationError,
    WxPayError,
)

if TYPE_CHECKING:
    from cryptography import x509

logger = logging.getLogger("wxpay_async.certificates")

HOUR = 3600.0


@attrs.frozen(kw_only=True)
class PlatformCertificate:
    """One decrypted platform certificate, as stored and shared between processes."""

    serial_no: str
    effective_time: dt.datetime
    expire_time: dt.datetime
    pem: str = attrs.field(repr=False)

    def certificate(self) -> x509.Certificate:
        return load_certificate(self.pem)

    def valid_at(self, now: float) -> bool:
        return self.expire_time.timestamp() > now

    def to_json(self) -> dict[str, str]:
        return {
            "serial_no": self.serial_no,
            "effective_time": self.effective_time.isoformat(),
            "expire_time": self.expire_time.isoformat(),
            "pem": self.pem,
        }

    @classmethod
    def from_json(cls, data: dict[str, str]) -> PlatformCertificate:
        return cls(
            serial_no=data["serial_no"],
            effective_time=dt.datetime.fromisoformat(data["effective_time"]),
            expire_time=dt.datetime.fromisoformat(data["expire_time"]),
            pem=data["pem"],
        )


class CertificateStore(Protocol):
    """Where downloaded certificates are cached; share one (file, Redis...) across workers."""

    async def load(self) -> Sequence[PlatformCertificate]: ...

    async def save(self, certificates: Sequence[PlatformCertificate]) -> None: ...


#: Downloads, verifies and installs certificates; returns the set to share (a manager's own step).
DownloadFn = Callable[[], Awaitable[Sequence[PlatformCertificate]]]


class SingleFlightCertificateStore(CertificateStore, Protocol):
    """A shared store that also runs one download for many workers (``RedisCertificateStore``).

    ``single_flight(download, max_age)`` returns certificates that some worker downloaded less
    than ``max_age`` seconds ago, or that finished downloading after this call began (waiting for
    the worker downloading now), else runs ``download`` itself and shares its result. The manager
    uses it instead of ``load``/``save`` around a download when the store has it.
    """

    async def single_flight(self, download: DownloadFn, max_age: float) -> Sequence[PlatformCertificate]: ...


class InMemoryCertificateStore:
    def __init__(self) -> None:
        self._certificates: tuple[PlatformCertificate, ...] = ()

    async def load(self) -> Sequence[PlatformCertificate]:
        return self._certificates

    async def save(self, certificates: Sequence[PlatformCertificate]) -> None:
        self._certificates = tuple(certificates)


def certificates_to_json(certificates: Iterable[PlatformCertificate]) -> str:
    return json.dumps([c.to_json() for c in certificates], indent=1)


def certificates_from_json(text: str) -> list[PlatformCertificate]:
    return [PlatformCertificate.from_json(item) for item in json.loads(text)]


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise CertificateError(f"/v3/certificates: {what} must be a non-empty string, got {type(value).__name__}")
    return value


def _time(value: Any, what: str) -> dt.datetime:
    text = _text(value, what)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CertificateError(f"/v3/certificates: {what} is not an RFC 3339 time: {text[:40]!r}") from None
    if parsed.tzinfo is None:
        raise CertificateError(f"/v3/certificates: {what} has no UTC offset: {text[:40]!r}")
    return parsed


def _certificate_window(
    cert: x509.Certificate, effective: dt.datetime, expire: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """Trusted from the later and until the earlier of the listed and the X.509 validity times."""
    return max(effective, cert.not_valid_before_utc), min(expire, cert.not_valid_after_utc)


def _parse_item(item: Any, apiv3_key: str) -> PlatformCertificate:
    if not isinstance(item, dict):
        raise CertificateError(f"/v3/certificates: data item is {type(item).__name__}, not an object")
    serial_no = _text(item.get("serial_no"), "serial_no").upper()
    effective = _time(item.get("effective_time"), "effective_time")
    expire = _time(item.get("expire_time"), "expire_time")
    enc = item.get("encrypt_certificate")
    if not isinstance(enc, dict):
        raise CertificateError(f"/v3/certificates: serial {serial_no[:64]} lacks an encrypt_certificate object")
    algorithm = enc.get("algorithm", "AEAD_AES_256_GCM")
    if algorithm != "AEAD_AES_256_GCM":
        raise CertificateError(f"/v3/certificates: unsupported algorithm {str(algorithm)[:40]!r}")
    associated = enc.get("associated_data") or ""
    if not isinstance(associated, str):
        raise CertificateError("/v3/certificates: associated_data must be a string")
    try:
        pem = aead_decrypt(
            apiv3_key, _text(enc.get("nonce"), "nonce"), associated, _text(enc.get("ciphertext"), "ciphertext")
        )
    except DecryptionError as exc:
        raise CertificateError(f"/v3/certificates: serial {serial_no[:64]}: {exc}") from None
    try:
        cert = load_certificate(pem)
    except WxPayError as exc:
        raise CertificateError(f"/v3/certificates: serial {serial_no[:64]} decrypts to no certificate: {exc}") from None
    actual = certificate_serial(cert)
    if actual != serial_no:
        raise CertificateError(f"/v3/certificates: listed serial {serial_no[:64]} but the certificate's is {actual}")
    effective, expire = _certificate_window(cert, effective, expire)
    return PlatformCertificate(
        serial_no=serial_no,
        effective_time=effective,
        expire_time=expire,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


def decrypt_certificates(
    response: Response, apiv3_key: str, *, clock: Callable[[], float] = time.time
) -> list[PlatformCertificate]:
    """Decrypt a ``/v3/certificates`` answer and check it is signed by one of its own certificates.

    The Java SDK skips that check; without it a forged answer could plant any certificate.
    Anything malformed raises :class:`CertificateError` (or :class:`SignatureVerificationError`
    for the signature), never a bare ``KeyError``/``TypeError``/``JSONDecodeError``.
    """
    where = f"(Request-ID {response.request_id})"
    try:
        body = response.json()
    except ValueError:
        raise CertificateError(f"/v3/certificates answered a body that is not JSON {where}") from None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise CertificateError(f"/v3/certificates answered an unexpected body {where}")
    certificates = [_parse_item(item, apiv3_key) for item in body["data"]]
    verifier = Verifier((c.certificate() for c in certificates), clock=clock)
    try:
        validate_signed_message(
            response.headers, response.content, verifier, now=clock(), max_skew=MAX_SKEW_SECONDS, what="the answer"
        )
    except SignatureVerificationError as exc:
        serial = response.headers.get("Wechatpay-Serial", "")
        raise SignatureVerificationError(
            "/v3/certificates answer is not signed by any certificate it carries (and in force) "
            f"(serial {serial[:64]!r}): {exc}",
            serial=serial[:64] or None,
        ) from None
    return certificates


@attrs.frozen(kw_only=True)
class RefreshSchedule:
    """Background refresh timing; defaults follow WeChat Pay's advice (at most every 12 h)."""

    interval: float = 12 * HOUR
    jitter: float = 0.1  # ± fraction of interval, so workers do not refresh in lockstep
    expiry_margin: float = 24 * HOUR  # refresh sooner when the newest certificate expires within this
    retry_min: float = 30.0
    retry_max: float = HOUR
    #: One global cooldown: unknown serials (any number of them) trigger at most one download per gap.
    on_demand_min_gap: float = 60.0
    #: With a single-flight shared store: a scheduled refresh reuses certificates another worker
    #: downloaded less than this ago (covers the jitter window, so N workers make one download).
    shared_max_age: float = 3 * HOUR


class CertificateManager:
    """Download, verify, cache and rotate platform certificates; a ``KeySource`` for verification.

    ``fetch`` performs the signed ``GET /v3/certificates`` (the client passes its own pipeline
    with response verification off: this class verifies that answer itself). A platform public
    key, when given, is kept next to the certificates (combined mode while migrating).
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Response]],
        apiv3_key: str,
        *,
        public_key: rsa.RSAPublicKey | None = None,
        public_key_id: str | None = None,
        store: CertificateStore | None = None,
        schedule: RefreshSchedule = RefreshSchedule(),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._fetch = fetch
        self._apiv3_key = apiv3_key
        self._public_key = public_key
        self._public_key_id = public_key_id
        self._store = store or InMemoryCertificateStore()
        self._schedule = schedule
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._certificates: dict[str, PlatformCertificate] = {}
        self._verifier = Verifier(public_key=public_key, public_key_id=public_key_id, clock=clock)
        self._refreshing: asyncio.Task[Verifier] | None = None
        self._last_on_demand: float | None = None  # one cooldown for every unknown serial
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.consecutive_failures = 0

    def __repr__(self) -> str:
        return f"CertificateManager(serials={sorted(self._certificates)}, public_key_id={self._public_key_id!r})"

    # -- KeySource ---------------------------------------------------------------------------
    def current_verifier(self) -> Verifier:
        return self._verifier

    def preferred_serial(self) -> str | None:
        """The public key id in combined mode, else the newest certificate already in force."""
        if self._public_key_id:
            return self._public_key_id
        now = self._clock()
        usable = [c for c in self._certificates.values() if c.valid_at(now) and c.effective_time.timestamp() <= now]
        if not usable:
            usable = [c for c in self._certificates.values() if c.valid_at(now)]
        if not usable:
            return None
        return max(usable, key=lambda c: (c.effective_time, c.expire_time)).serial_no

    async def refresh_for(self, serial: str) -> Verifier:
        """One shared, rate-limited refresh for an unknown serial; never raises on download failure.

        A refresh already running is joined. Otherwise one global cooldown
        (``RefreshSchedule.on_demand_min_gap``) applies to every serial together: answers naming
        thirty forged serials cause at most one download per gap, not thirty.
        """
        if self._verifier.knows(serial) or self._closed:
            return self._verifier
        if self._refreshing is None:
            now = self._clock()
            last = self._last_on_demand
            if last is not None and 0 <= now - last < self._schedule.on_demand_min_gap:
                return self._verifier
            self._last_on_demand = now
        try:
            return await self._refresh_once()
        except Exception as exc:
            logger.warning("on-demand certificate refresh for serial %s failed: %s", serial[:64], exc)
            return self._verifier

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def certificates(self) -> tuple[PlatformCertificate, ...]:
        return tuple(self._certificates.values())

    async def start(self, *, background: bool = True) -> None:
        """Load the shared cache, download when it holds nothing valid, then refresh in background."""
        self._check_open()
        self._install(await self._store.load())
        if not self._valid_certificates():
            await self._refresh_once()
        self._check_open()
        if background and self._task is None:
            self._task = asyncio.create_task(self._run(), name="wxpay_async certificate refresh")

    async def refresh(self) -> Verifier:
        """Download now (shared with any refresh already running)."""
        return await self._refresh_once()

    async def aclose(self) -> None:
        """Final: cancel the background loop and any download in flight (shielded or sleeping on
        a ``Retry-After``), and wait for them, so no request leaves after this returns."""
        self._closed = True
        tasks = [t for t in (self._task, self._refreshing) if t is not None]
        self._task = self._refreshing = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise CertificateManagerClosedError("the certificate manager is closed")

    # -- internals -----------------------------------------------------------------------------
    def _valid_certificates(self) -> list[PlatformCertificate]:
        now = self._clock()
        return [c for c in self._certificates.values() if c.valid_at(now)]

    def _install(self, certificates: Iterable[PlatformCertificate]) -> None:
        now = self._clock()
        merged = {s: c for s, c in self._certificates.items() if c.valid_at(now)}
        for cert in certificates:
            checked = self._checked(cert)
            if checked is not None and checked.valid_at(now):
                merged[checked.serial_no] = checked
        self._certificates = merged
        self._verifier = Verifier(
            (c.certificate() for c in merged.values()),
            public_key=self._public_key,
            public_key_id=self._public_key_id,
            clock=self._clock,
        )

    @staticmethod
    def _checked(cert: PlatformCertificate) -> PlatformCertificate | None:
        """The certificate with its X.509 validity applied, or None when its serial is not its own
        (a shared store may have been written by anyone)."""
        try:
            x = cert.certificate()
        except WxPayError as exc:
            logger.warning("ignoring stored certificate %s: %s", cert.serial_no[:64], exc)
            return None
        if certificate_serial(x) != cert.serial_no.upper():
            logger.warning("ignoring certificate listed as %s: its own serial differs", cert.serial_no[:64])
            return None
        effective, expire = _certificate_window(x, cert.effective_time, cert.expire_time)
        if (effective, expire) == (cert.effective_time, cert.expire_time):
            return cert
        return attrs.evolve(cert, effective_time=effective, expire_time=expire)

    async def _refresh_once(self, *, max_age: float = 0.0) -> Verifier:
        self._check_open()
        if self._refreshing is None:
            self._refreshing = asyncio.create_task(self._download(max_age), name="wxpay_async certificate download")
        task = self._refreshing
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._closed and task.cancelled() and (current is None or not current.cancelling()):
                raise CertificateManagerClosedError("the certificate manager was closed during a download") from None
            raise
        finally:
            if task.done() and self._refreshing is task:
                self._refreshing = None

    async def _download(self, max_age: float = 0.0) -> Verifier:
        single_flight = getattr(self._store, "single_flight", None)
        if single_flight is None:
            await self._store.save(await self._download_and_install())
        else:
            # One download for every worker sharing the store; the others install its result.
            shared = await single_flight(self._download_and_install, max_age)
            self._check_open()
            self._install(shared)
        logger.info("platform certificates refreshed: %s", ", ".join(sorted(self._certificates)))
        return self._verifier

    async def _download_and_install(self) -> tuple[PlatformCertificate, ...]:
        response = await self._fetch()
        self._check_open()
        certificates = decrypt_certificates(response, self._apiv3_key, clock=self._clock)
        self._install(certificates)
        return self.certificates

    def next_refresh_in(self) -> float:
        """Seconds until the next scheduled refresh: the jittered interval, sooner near expiry."""
        schedule = self._schedule
        delay = schedule.interval * (1 + self._rng.uniform(-schedule.jitter, schedule.jitter))
        valid = self._valid_certificates()
        if valid:
            newest_expiry = max(c.expire_time.timestamp() for c in valid)
            until_margin = newest_expiry - schedule.expiry_margin - self._clock()
            delay = min(delay, max(schedule.retry_min, until_margin))
        return max(0.0, delay)

    def _retry_in(self) -> float:
        schedule = self._schedule
        backoff: float = schedule.retry_min * 2.0 ** min(self.consecutive_failures - 1, 16)
        return min(schedule.retry_max, backoff) * self._rng.uniform(0.8, 1.2)

    async def _run(self) -> None:
        delay = self.next_refresh_in()
        while True:
            await self._sleep(delay)
            try:
                await self._refresh_once(max_age=self._schedule.shared_max_age)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.consecutive_failures += 1
                delay = self._retry_in()
                level = logging.ERROR if not self._valid_certificates() and not self._public_key else logging.WARNING
                logger.log(
                    level,
                    "platform certificate refresh failed (%d in a row), keeping %d cached; next try in %.0fs: %s",
                    self.consecutive_failures,
                    len(self._valid_certificates()),
                    delay,
                    exc,
                )
            else:
                self.consecutive_failures = 0
                delay = self.next_refresh_in()
