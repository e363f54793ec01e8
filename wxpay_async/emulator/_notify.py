"""Signed, AEAD-encrypted event notifications (COUPON.USE, PRODUCT_COUPON_SP.SEND) with re-delivery.

A delivery succeeds on a 2xx answer within ``notify_timeout`` seconds; otherwise it is tried
again every ``notify_retry_interval`` seconds, ``notify_max_attempts`` attempts in all (WeChat Pay:
every minute, 9 times). Redirects are not followed (WeChat Pay is not documented to follow them):
a 3xx answer is a failed delivery, as any other non-2xx. The envelope (and its ``id``) stays the same across attempts, only the
signature headers are fresh, so receivers can deduplicate by ``id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any, Protocol

import aiohttp

from ..crypto import aead_encrypt, make_nonce
from ._auth import ResponseSigner
from ._clock import rfc3339
from ._host import HostConfig


class NotifyingHost(Protocol):
    """What delivery uses of the emulator (``Emulator`` satisfies it; see ``_host``)."""

    @property
    def config(self) -> HostConfig: ...
    @property
    def signer(self) -> ResponseSigner: ...
    def now(self) -> float: ...
    def notification_serial(self) -> str: ...


logger = logging.getLogger("wxpay_async.emulator.notify")


class Notifier:
    def __init__(self, emu: NotifyingHost) -> None:
        self._emu = emu
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: One dict per notification: id, url, event_type, attempts, delivered, statuses.
        self.deliveries: list[dict[str, Any]] = []

    def envelope(
        self,
        *,
        event_type: str,
        summary: str,
        resource: dict[str, Any],
        associated_data: str,
        original_type: str,
        apiv3_key: str,
    ) -> dict[str, Any]:
        nonce = make_nonce(12)
        plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
        return {
            "id": str(uuid.uuid4()),
            "create_time": rfc3339(self._emu.now()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": aead_encrypt(apiv3_key, nonce, associated_data, plaintext),
                "associated_data": associated_data,
                "nonce": nonce,
            },
        }

    def send(self, url: str, envelope: dict[str, Any]) -> dict[str, Any]:
        """Start delivering ``envelope`` to ``url`` in the background; returns its delivery record."""
        record: dict[str, Any] = {
            "id": envelope["id"],
            "url": url,
            "event_type": envelope["event_type"],
            "attempts": 0,
            "delivered": False,
            "gave_up": False,
            "statuses": [],
            "envelope": envelope,
        }
        self.deliveries.append(record)
        task = asyncio.get_running_loop().create_task(self._deliver(record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    async def _deliver(self, record: dict[str, Any]) -> None:
        config = self._emu.config
        body = json.dumps(record["envelope"], ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        for attempt in range(1, max(1, config.notify_max_attempts) + 1):
            record["attempts"] = attempt
            status: int | str
            try:
                status = await self._post(record["url"], body)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                status = type(exc).__name__
            record["statuses"].append(status)
            if isinstance(status, int) and 200 <= status < 300:
                record["delivered"] = True
                return
            logger.info("notification %s to %s failed (%s), attempt %d", record["id"], record["url"], status, attempt)
            if attempt < config.notify_max_attempts:
                await asyncio.sleep(config.notify_retry_interval)
        record["gave_up"] = True

    async def _post(self, url: str, body: bytes) -> int:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        headers = self._emu.signer.headers(body, requested_serial=self._emu.notification_serial())
        headers["Content-Type"] = "application/json"
        timeout = aiohttp.ClientTimeout(total=self._emu.config.notify_timeout)
        async with self._session.post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False
        ) as response:
            await response.read()
            return response.status

    async def wait_idle(self) -> None:
        """Wait until every delivery has succeeded or given up (tests, graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None
