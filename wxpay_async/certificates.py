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
from typing import Protocol

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ._request import Response
from .crypto import SignatureHeaders, Verifier, aead_decrypt, load_certificate
from .errors import SignatureVerificationError, WxPayError

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


def decrypt_certificates(response: Response, apiv3_key: str) -> list[PlatformCertificate]:
    """Decrypt a ``/v3/certificates`` answer and check it is signed by one of its own certificates.

    The Java SDK skips that check; without it a forged answer could plant any certificate.
    """
    body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise WxPayError(f"/v3/certificates answered an unexpected body (Request-ID {response.request_id})")
    certificates: list[PlatformCertificate] = []
    for item in body["data"]:
        enc = item["encrypt_certificate"]
        pem = aead_decrypt(apiv3_key, enc["nonce"], enc.get("associated_data") or "", enc["ciphertext"])
        cert = load_certificate(pem)
        certificates.append(
            PlatformCertificate(
                serial_no=str(item["serial_no"]).upper(),
                effective_time=dt.datetime.fromisoformat(item["effective_time"]),
                expire_time=dt.datetime.fromisoformat(item["expire_time"]),
                pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            )
        )
    verifier = Verifier(c.certificate() for c in certificates)
    signed = SignatureHeaders.read(response.headers)
    if signed is None or not signed.matches(verifier, response.content):
        serial = response.headers.get("Wechatpay-Serial", "")
        raise SignatureVerificationError(
            f"/v3/certificates answer is not signed by any certificate it carries (serial {serial!r})"
        )
    return certificates


@attrs.frozen(kw_only=True)
class RefreshSchedule:
    """Background refresh timing; defaults follow WeChat Pay's advice (at most every 12 h)."""

    interval: float = 12 * HOUR
    jitter: float = 0.1  # ± fraction of interval, so workers do not refresh in lockstep
    expiry_margin: float = 24 * HOUR  # refresh sooner when the newest certificate expires within this
    retry_min: float = 30.0
    retry_max: float = HOUR
    on_demand_min_gap: float = 60.0  # the same unknown serial triggers at most one download per gap


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
        self._verifier = Verifier(public_key=public_key, public_key_id=public_key_id)
        self._refreshing: asyncio.Task[Verifier] | None = None
        self._on_demand: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
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
        """One shared, rate-limited refresh for an unknown serial; never raises on download failure."""
        if self._verifier.knows(serial):
            return self._verifier
        now = self._clock()
        last = self._on_demand.get(serial)
        if self._refreshing is None and last is not None and now - last < self._schedule.on_demand_min_gap:
            return self._verifier
        if len(self._on_demand) > 1024:  # forged serials must not grow memory without bound
            self._on_demand.clear()
        self._on_demand[serial] = now
        try:
            return await self._refresh_once()
        except Exception as exc:
            logger.warning("on-demand certificate refresh for serial %s failed: %s", serial, exc)
            return self._verifier

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def certificates(self) -> tuple[PlatformCertificate, ...]:
        return tuple(self._certificates.values())

    async def start(self, *, background: bool = True) -> None:
        """Load the shared cache, download when it holds nothing valid, then refresh in background."""
        self._install(await self._store.load())
        if not self._valid_certificates():
            await self._refresh_once()
        if background and self._task is None:
            self._task = asyncio.create_task(self._run(), name="wxpay_async certificate refresh")

    async def refresh(self) -> Verifier:
        """Download now (shared with any refresh already running)."""
        return await self._refresh_once()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- internals -----------------------------------------------------------------------------
    def _valid_certificates(self) -> list[PlatformCertificate]:
        now = self._clock()
        return [c for c in self._certificates.values() if c.valid_at(now)]

    def _install(self, certificates: Iterable[PlatformCertificate]) -> None:
        now = self._clock()
        merged = {s: c for s, c in self._certificates.items() if c.valid_at(now)}
        for cert in certificates:
            if cert.valid_at(now):
                merged[cert.serial_no] = cert
        self._certificates = merged
        self._verifier = Verifier(
            (c.certificate() for c in merged.values()), public_key=self._public_key, public_key_id=self._public_key_id
        )

    async def _refresh_once(self) -> Verifier:
        if self._refreshing is None:
            self._refreshing = asyncio.create_task(self._download())
        task = self._refreshing
        try:
            return await asyncio.shield(task)
        finally:
            if task.done() and self._refreshing is task:
                self._refreshing = None

    async def _download(self) -> Verifier:
        response = await self._fetch()
        certificates = decrypt_certificates(response, self._apiv3_key)
        self._install(certificates)
        await self._store.save(self.certificates)
        logger.info("platform certificates refreshed: %s", ", ".join(sorted(self._certificates)))
        return self._verifier

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
                await self._refresh_once()
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
