"""One notification worker process for the cross-process dedupe proofs (run with ``python -m``).

Reads a JSON job file: Redis URL, platform certificate, APIv3 key, the delivery's headers and
body, how long the callback takes, the claim TTL. Waits for ``start_at`` (so every worker hits
Redis at once), handles the delivery with a RedisDedupeStore and prints the HTTP status.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import redis.asyncio as redis_asyncio

from wxpay_async.crypto import Verifier, load_certificate
from wxpay_async.notifications import Notification, NotificationHandler, RedisDedupeStore


async def main(job: dict[str, Any]) -> int:
    r = redis_asyncio.from_url(job["redis"])
    store = RedisDedupeStore(client=r)
    handler = NotificationHandler(
        Verifier([load_certificate(job["cert"].encode())]),
        job["apiv3_key"],
        dedupe=store,
        claim_ttl=job["claim_ttl"],
        busy_wait=job["busy_wait"],
    )

    async def callback(n: Notification) -> None:
        await r.rpush("test:runs:" + n.id, str(os.getpid()))
        await asyncio.sleep(job["sleep"])
        await r.incr("test:completed:" + n.id)

    delay = job.get("start_at", 0) - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    status, _ = await handler.respond(job["headers"], job["body"].encode(), callback)
    print(status, flush=True)
    await r.aclose()
    return 0


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.exit(asyncio.run(main(json.load(f))))
