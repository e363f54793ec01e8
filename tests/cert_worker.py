"""One worker process for the shared-certificate proofs (run with ``python -m tests.cert_worker JOB``).

Reads a JSON job: client credentials, the Redis URL, and the times of the refresh rounds. Starts
a certificate-mode Client whose store is a RedisCertificateStore at ``rounds[0]`` (start-up is
the first round), then calls ``certificate_manager.refresh()`` at each later time; prints one
JSON line per round: the serials it holds and how many downloads this process ran itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from wxpay_async import Client, RedisCertificateStore, RefreshSchedule, RetryPolicy


async def _at(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def main(job: dict[str, Any]) -> int:
    store = RedisCertificateStore(job["redis"], mchid=job["mchid"], reuse_within=job.get("reuse_within", 5.0))
    client = Client(
        mchid=job["mchid"],
        merchant_serial=job["merchant_serial"],
        private_key=job["private_key"].encode(),
        apiv3_key=job["apiv3_key"],
        base_url=job["base_url"],
        retry=RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.05, deadline=20),
        certificate_store=store,
        certificate_schedule=RefreshSchedule(interval=3600),
    )
    rounds: list[float] = job["rounds"]
    try:
        for number, moment in enumerate(rounds):
            await _at(moment)
            if number == 0:
                await client.start()
            else:
                assert client.certificate_manager is not None
                await client.certificate_manager.refresh()
            assert client.certificate_manager is not None
            serials = sorted(c.serial_no for c in client.certificate_manager.certificates)
            print(json.dumps({"round": number, "serials": serials, "downloads": store.downloads}), flush=True)
    finally:
        await client.aclose()
        await store.aclose()
    return 0


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.exit(asyncio.run(main(json.load(f))))
