"""A multi-merchant service: one Client per merchant, created once, shared by every request.

    python examples/multi_merchant.py --emulator    # two merchants against the emulator

Each merchant has its own keys, APIv3 key and connection pool; ``Merchants`` opens them
together, hands out the right one by mchid, and closes them together. Per-tenant defaults
(a shorter timeout, a tracing header) come from ``Client.with_options``, which shares the
client's pool and keys.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack
from types import TracebackType

from wxpay_async import Client, ClientKwargs


class Merchants:
    """``async with Merchants(configs) as merchants: wx = merchants["1900000001"]``."""

    def __init__(self, configs: Mapping[str, ClientKwargs]) -> None:
        self._configs = configs
        self._clients: dict[str, Client] = {}
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Merchants:
        for mchid, kwargs in self._configs.items():
            config: ClientKwargs = {**kwargs, "mchid": mchid}
            client = await self._stack.enter_async_context(Client(**config))
            self._clients[mchid] = client.with_options(extra_headers={"X-Tenant": mchid})
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def __getitem__(self, mchid: str) -> Client:
        return self._clients[mchid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._clients)


async def main(*, use_emulator: bool = True) -> int:
    from wxpay_async.emulator import create_running_stock, run_emulator

    async with run_emulator() as emu:
        base = emu.client_kwargs()
        second = "1900000002"
        emu.emulator.register_merchant(second, emu.keys.merchant.certificate, emu.apiv3_key)
        async with Merchants({emu.mchid: base, second: base}) as merchants:
            stocks: dict[str, str] = {}
            for mchid in merchants:
                stocks[mchid] = await create_running_stock(merchants[mchid], max_coupons=2)
            results = await asyncio.gather(
                *(
                    merchants[mchid].favor.send_coupon(
                        "shared-user", stock_id=stock_id, appid="wx233544546545989", stock_creator_mchid=mchid
                    )
                    for mchid, stock_id in stocks.items()
                )
            )
            for (mchid, stock_id), coupon in zip(stocks.items(), results, strict=True):
                print(f"merchant {mchid}: stock {stock_id}, coupon {coupon.coupon_id}")
    return 0 if len({c.coupon_id for c in results}) == 2 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(use_emulator=True)))
