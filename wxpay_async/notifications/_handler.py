"""The notification handler: verify, decrypt, and run the callback once per notification id."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping

from multidict import CIMultiDict

from .._converter import parse_datetime
from ..crypto import MAX_SKEW_SECONDS, SignatureHeaders, Verifier, validate_signed_message
from ..errors import SignatureVerificationError, ValidationError
from ._answers import SUCCESS, answer_for
from ._decrypt import decrypt_resource
from ._dedupe import DedupeStore, InMemoryDedupeStore
from ._errors import (
    DedupeStoreError,
    MalformedNotificationError,
    NotificationInProgressError,
    NotificationTooLargeError,
)
from ._models import NOTIFICATION_CLASSES, Notification

logger = logging.getLogger("wxpay_async.notifications")

MAX_BODY_BYTES = 64 * 1024

Callback = Callable[[Notification], Awaitable[None]]


class NotificationHandler:
    """Verifies and decrypts notifications, and runs a callback once per notification id.

    ``verifier`` is a :class:`Verifier` or a zero-argument callable returning the current one
    (``client.notification_handler()`` passes the client's live platform keys, so rotated
    certificates are picked up). ``refresh`` (the client passes its certificate manager's
    ``refresh_for``) is awaited once for an unknown ``Wechatpay-Serial``: the same single-flight,
    globally rate-limited refresh the response path uses.

    ``dedupe`` claims each id before the callback runs and marks it done for ``dedupe_ttl``
    afterwards. ``claim_ttl`` is the lease: the running delivery renews it every
    ``claim_ttl / 3`` seconds (a heartbeat), so a worker that dies mid-callback holds the id for
    at most ``claim_ttl`` more seconds. A delivery finding the id claimed elsewhere waits up to
    ``busy_wait`` seconds for that worker, then answers 503 (WeChat Pay delivers it again).

    What is guaranteed, per notification id:

    - **Never twice at once** while the store keeps its keys, however long the callback takes.
      Within one handler, deliveries of one id also queue on a per-id lock, whatever the store.
    - **Once after success**: after the callback returns, re-deliveries within ``dedupe_ttl`` are
      acknowledged without running it.
    - **Again after failure**: a callback that raises releases its claim and the delivery is
      answered 500, so WeChat Pay's next delivery runs it again. A worker killed mid-callback
      leaves a claim that expires ``claim_ttl`` later; the next delivery then runs it again.
    - **Not at all without the store**: a delivery that cannot reach the store to claim the id
      does not run the callback and is answered 500.
    - **At least once when the store loses its keys** (Redis restarted empty, flushed, evicted,
      failed over): a re-delivery after the loss runs the callback again even if it had
      completed. A running callback's heartbeat takes a vanished claim again, but a re-delivery
      arriving between the loss and that heartbeat (at most ``claim_ttl / 3`` seconds) can run
      at the same time. If the done marker cannot be written after the callback succeeded, the
      delivery is still acknowledged (the work is done; asking for a re-delivery would only
      repeat it) and logged; a later re-delivery runs it again.

    So make the callback idempotent on a business key (``coupon_id`` for COUPON.USE;
    ``coupon_code`` and ``event_type`` for product coupons, as WeChat Pay's guide asks): the
    dedupe store keeps duplicates rare and never concurrent in normal operation, and your key makes
    a duplicate harmless when the store fails.
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
        if not claim_ttl > 0:
            raise ValidationError(
                "claim_ttl", "must be a positive number of seconds (the claim is renewed every claim_ttl / 3)"
            )
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
        try:
            validate_signed_message(
                CIMultiDict(headers),
                body,
                self._current_verifier(),
                now=self._clock(),
                max_skew=self._max_skew,
                what="notification",
            )
        except SignatureVerificationError as exc:
            if str(exc).startswith("notification"):
                raise
            raise type(exc)(f"notification: {exc}", serial=exc.serial) from None

    def parse(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify, then decrypt: a :class:`Notification`, or an exception saying what was wrong."""
        if len(body) > self.max_body_bytes:
            raise NotificationTooLargeError(f"notification body exceeds {self.max_body_bytes} bytes")
        self.verify(headers, body)
        try:
            envelope = json.loads(body)
        except ValueError:
            raise MalformedNotificationError("notification body is not JSON") from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("resource"), dict):
            raise MalformedNotificationError("notification body lacks a resource object")
        try:
            event_type = str(envelope["event_type"])
            notification = NOTIFICATION_CLASSES.get(event_type, Notification)(
                id=str(envelope["id"]),
                create_time=parse_datetime(envelope["create_time"]),
                event_type=event_type,
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
            try:
                state = await self.dedupe.claim(notification.id, token, self._claim_ttl)
            except Exception as exc:
                raise DedupeStoreError(
                    f"could not claim notification {notification.id} in the dedupe store "
                    f"({type(exc).__name__}); the callback did not run"
                ) from exc
            if state == "done":
                logger.info("notification %s already processed; acknowledging the re-delivery", notification.id)
                return
            if state == "claimed":
                break
            if loop.time() >= give_up:
                raise NotificationInProgressError(f"notification {notification.id} is being processed elsewhere")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        heartbeat = asyncio.create_task(self._keep_claim(notification.id, token))
        try:
            await callback(notification)
        except BaseException:
            await _stop(heartbeat)
            try:
                await asyncio.shield(self.dedupe.release(notification.id, token))
            except Exception as exc:  # the claim then expires after claim_ttl
                logger.warning("could not release the claim on notification %s: %s", notification.id, exc)
            raise
        await _stop(heartbeat)
        try:
            await self.dedupe.complete(notification.id, token, self._ttl)
        except Exception as exc:
            # The callback did its work: acknowledge. Without the marker a later re-delivery runs
            # it again (at least once), which answering 500 now would cause at once.
            logger.warning(
                "notification %s processed, but its done marker could not be written (%s: %s); "
                "a re-delivery will run the callback again",
                notification.id,
                type(exc).__name__,
                exc,
            )

    async def _keep_claim(self, notification_id: str, token: str) -> None:
        """Renew this delivery's claim every ``claim_ttl / 3`` seconds until cancelled."""
        renew = getattr(self.dedupe, "renew", None)
        if renew is None:
            return
        interval = self._claim_ttl / 3
        while True:
            await asyncio.sleep(interval)
            try:
                state = await renew(notification_id, token, self._claim_ttl)
            except Exception as exc:  # the store is unreachable: try again at the next beat
                logger.warning(
                    "could not renew the claim on notification %s (%s: %s)", notification_id, type(exc).__name__, exc
                )
                continue
            if state == "reclaimed":
                logger.warning(
                    "the claim on notification %s had vanished from the dedupe store (restarted or flushed?) "
                    "and was taken again",
                    notification_id,
                )
            elif state == "lost":
                logger.warning(
                    "the claim on notification %s is held by another delivery or marked done: "
                    "the callback may be running twice",
                    notification_id,
                )

    async def respond(self, headers: Mapping[str, str], body: bytes, callback: Callback) -> tuple[int, dict[str, str]]:
        """``(status, json)`` to answer WeChat Pay with; the shared core of the web adapters.

        The answer is chosen by the type of what went wrong (``_answers.py``): 503 while another
        worker runs it, 401 for a bad signature, 400 for a bad ciphertext or body, 413 for a body
        over ``max_body_bytes``, 500 when the dedupe store is unreachable or the callback raised.
        """
        try:
            await self.handle(headers, body, callback)
        except Exception as exc:
            return answer_for(exc)
        return 200, dict(SUCCESS)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
