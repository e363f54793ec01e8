"""RedisCertificateStore: platform certificates shared by every worker, one download per refresh."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

from ._redis import redis_client
from .certificates import CertificateError, DownloadFn, PlatformCertificate
from .errors import ValidationError

logger = logging.getLogger("wxpay_async.certificates")

#: Compare-and-delete: only the holder of the token releases the lock (never a later holder's).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _now(answer: Any) -> float:
    """Redis ``TIME`` as seconds: one clock for every worker, whatever their hosts' clocks say."""
    seconds, micros = answer
    return int(seconds) + int(micros) / 1e6


class RedisCertificateStore:
    """A :class:`~wxpay_async.CertificateStore` in Redis for N worker processes (``redis`` extra).

    ``<prefix><mchid>`` holds the certificates with the Redis time they were downloaded at;
    ``<prefix><mchid>:lock`` is the download lock (``SET NX PX`` with a random token, released by
    a compare-and-delete script). A refresh in any worker:

    * uses the stored certificates when they are younger than the refresh's ``max_age`` (or
      ``reuse_within``, for refreshes asked for at about the same time by every worker), or were
      downloaded after the refresh began (another worker was already downloading);
    * else takes the lock and downloads (re-checking first), saves, releases;
    * else waits for the holder's result, polling every ``poll_interval``, at most ``wait``
      seconds; when the holder's download failed, this refresh fails too (no thundering herd);
      when the wait runs out (or Redis is unreachable), it downloads on its own.

    A client passed as ``client`` is never closed here.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        mchid: str,
        client: Any = None,
        prefix: str = "wxpay:certificates:",
        lock_ttl: float = 30.0,
        wait: float = 35.0,
        poll_interval: float = 0.05,
        failure_ttl: float = 10.0,
        reuse_within: float = 5.0,
    ) -> None:
        if not mchid:
            raise ValidationError("mchid", "required: each merchant has its own certificates")
        self._redis, self._owns_client = redis_client(url, client)
        self._key = prefix + mchid
        self._lock_key = self._key + ":lock"
        self._failed_key = self._key + ":failed"
        self.lock_ttl = lock_ttl
        self.wait = wait
        self.poll_interval = poll_interval
        self.failure_ttl = failure_ttl
        self.reuse_within = reuse_within
        #: Downloads this store ran itself (the others were shared or reused).
        self.downloads = 0

    def __repr__(self) -> str:
        return f"RedisCertificateStore(key={self._key!r})"

    # -- CertificateStore ----------------------------------------------------------------------
    async def load(self) -> Sequence[PlatformCertificate]:
        return (await self._read())[1]

    async def save(self, certificates: Sequence[PlatformCertificate]) -> None:
        now = _now(await self._redis.time())
        payload = {"downloaded_at": now, "certificates": [c.to_json() for c in certificates]}
        await self._redis.set(self._key, json.dumps(payload))

    async def aclose(self) -> None:
        if self._owns_client:
            await self._redis.aclose()

    # -- single flight -------------------------------------------------------------------------
    async def single_flight(self, download: DownloadFn, max_age: float) -> Sequence[PlatformCertificate]:
        from redis.exceptions import RedisError

        try:
            started = _now(await self._redis.time())
        except (RedisError, OSError) as exc:
            logger.warning("certificate store %s unreachable (%s); downloading without it", self._key, exc)
            return await download()
        deadline = time.monotonic() + self.wait
        token = secrets.token_hex(16)
        try:
            while True:
                fresh = await self._fresh(started, max_age)
                if fresh is not None:
                    return fresh
                await self._check_no_failure(started)
                if await self._redis.set(self._lock_key, token, nx=True, px=max(1, int(self.lock_ttl * 1000))):
                    return await self._download_holding_lock(download, token, started, max_age)
                if time.monotonic() >= deadline:
                    logger.warning(
                        "certificate download lock %s still held after %.0fs; downloading here",
                        self._lock_key,
                        self.wait,
                    )
                    break
                await asyncio.sleep(self.poll_interval)
        except (RedisError, OSError) as exc:
            logger.warning("certificate store %s failed (%s); downloading without it", self._key, exc)
            return await download()
        certificates = await download()
        self.downloads += 1
        await self._save_quietly(certificates)
        return certificates

    async def _download_holding_lock(
        self, download: DownloadFn, token: str, started: float, max_age: float
    ) -> Sequence[PlatformCertificate]:
        try:
            fresh = await self._fresh(started, max_age)  # finished between our check and the lock
            if fresh is not None:
                return fresh
            await self._check_no_failure(started)
            self.downloads += 1
            try:
                certificates = await download()
            except Exception:
                failed_at = _now(await self._redis.time())
                await self._redis.set(self._failed_key, repr(failed_at), px=max(1, int(self.failure_ttl * 1000)))
                raise
            await self.save(certificates)
            return certificates
        finally:
            await asyncio.shield(self._redis.eval(_RELEASE, 1, self._lock_key, token))

    async def _check_no_failure(self, started: float) -> None:
        failed = await self._redis.get(self._failed_key)
        if failed is not None and float(failed) >= started:
            raise CertificateError("another worker's certificate download failed just now; retrying later")

    async def _fresh(self, started: float, max_age: float) -> Sequence[PlatformCertificate] | None:
        downloaded_at, certificates = await self._read()
        if downloaded_at is None or not certificates:
            return None
        now = _now(await self._redis.time())
        if downloaded_at >= started or now - downloaded_at < max(max_age, self.reuse_within):
            return certificates
        return None

    async def _read(self) -> tuple[float | None, list[PlatformCertificate]]:
        raw = await self._redis.get(self._key)
        if raw is None:
            return None, []
        try:
            payload = json.loads(raw)
            return float(payload["downloaded_at"]), [PlatformCertificate.from_json(c) for c in payload["certificates"]]
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring unreadable certificates in %s: %s", self._key, exc)
            return None, []

    async def _save_quietly(self, certificates: Sequence[PlatformCertificate]) -> None:
        from redis.exceptions import RedisError

        try:
            await self.save(certificates)
        except (RedisError, OSError) as exc:
            logger.warning("could not share certificates in %s: %s", self._key, exc)
