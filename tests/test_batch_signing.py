"""The batched signing hand-off: right signature to the right caller, errors and cancellation
kept to their own caller, nothing left pending on close, and the client end to end."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from wxpay_async import Client
from wxpay_async.crypto import rsa_verify
from wxpay_async.devkeys import KeyPair
from wxpay_async.errors import ConfigurationError
from wxpay_async.middleware._batch_signer import BatchSigner

from .conftest import client_kwargs
from .fake_wechat import FakeWeChat
from .test_certificates_hardening import sdk_tasks

GUARD = 30  # seconds: only a guard against hanging, never a measurement


class CountingExecutor(ThreadPoolExecutor):
    """A thread pool that counts the jobs it was given, and can hold them at a gate."""

    def __init__(self, workers: int = 2, *, gated: bool = False) -> None:
        super().__init__(max_workers=workers)
        self.jobs = 0
        self.gate = threading.Event()
        self.entered = threading.Event()
        if not gated:
            self.gate.set()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.jobs += 1

        def held() -> Any:
            self.entered.set()
            self.gate.wait(GUARD)
            return fn(*args, **kwargs)

        return super().submit(held)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.gate.set()  # a held job never outlives its pool
        super().shutdown(wait=wait, cancel_futures=cancel_futures)


class FailingKey:
    """A private key whose signing of one message fails (the others are signed for real)."""

    def __init__(self, key: rsa.RSAPrivateKey, bad: bytes) -> None:
        self._key = key
        self._bad = bad

    def sign(self, message: bytes, *args: Any) -> bytes:
        if message == self._bad:
            raise ValueError("this one breaks")
        return self._key.sign(message, *args)


async def test_concurrent_signatures_reach_their_own_callers(merchant_keys: KeyPair) -> None:
    pool = CountingExecutor(2)
    signer = BatchSigner(pool, slots=2)
    messages = [f"GET\n/v3/x/{i}\n1700000000\nnonce{i}\n\n".encode() for i in range(200)]
    try:
        signatures = await asyncio.wait_for(
            asyncio.gather(*(signer.sign(merchant_keys.private_key, m) for m in messages)), GUARD
        )
    finally:
        pool.shutdown()
    assert all(rsa_verify(merchant_keys.public_key, m, s) for m, s in zip(messages, signatures, strict=True))
    assert len(set(signatures)) == 200
    assert pool.jobs < 200 // 4  # handed over in batches, not one job per call


def test_one_signer_serves_one_event_loop_after_another(merchant_keys: KeyPair) -> None:
    async def sign_some(signer: BatchSigner) -> list[str]:
        return await asyncio.gather(*(signer.sign(merchant_keys.private_key, b"m%d" % i) for i in range(10)))

    with ThreadPoolExecutor(2) as pool:
        signer = BatchSigner(pool, slots=2)
        for _ in range(2):  # e.g. two asyncio.run() calls with one client
            signatures = asyncio.run(sign_some(signer))
            assert all(rsa_verify(merchant_keys.public_key, b"m%d" % i, s) for i, s in enumerate(signatures))


async def test_an_error_in_signing_reaches_only_its_caller(merchant_keys: KeyPair) -> None:
    messages = [f"message {i}".encode() for i in range(30)]
    key = cast(rsa.RSAPrivateKey, FailingKey(merchant_keys.private_key, messages[17]))
    with ThreadPoolExecutor(2) as pool:
        signer = BatchSigner(pool, slots=2)
        results = await asyncio.wait_for(
            asyncio.gather(*(signer.sign(key, m) for m in messages), return_exceptions=True), GUARD
        )
    assert isinstance(results[17], ValueError)
    for i, (message, result) in enumerate(zip(messages, results, strict=True)):
        if i != 17:
            assert isinstance(result, str) and rsa_verify(merchant_keys.public_key, message, result)


async def test_cancelling_one_waiter_does_not_hurt_the_others(merchant_keys: KeyPair) -> None:
    pool = CountingExecutor(1, gated=True)  # one slot, held: the first call in flight, the rest queued
    signer = BatchSigner(pool, slots=1)
    messages = [f"message {i}".encode() for i in range(10)]
    tasks = [asyncio.create_task(signer.sign(merchant_keys.private_key, m)) for m in messages]
    try:
        await asyncio.sleep(0)
        assert await asyncio.to_thread(pool.entered.wait, GUARD)
        tasks[0].cancel()  # its batch is being signed
        tasks[5].cancel()  # still queued on the loop
        pool.gate.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), GUARD)
    finally:
        pool.shutdown()
    for i, (message, result) in enumerate(zip(messages, results, strict=True)):
        if i in (0, 5):
            assert isinstance(result, asyncio.CancelledError)
        else:
            assert isinstance(result, str) and rsa_verify(merchant_keys.public_key, message, result)


async def test_close_fails_every_waiter_and_late_results_are_dropped(merchant_keys: KeyPair) -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    pool = CountingExecutor(2, gated=True)
    signer = BatchSigner(pool, slots=2)
    tasks = [asyncio.create_task(signer.sign(merchant_keys.private_key, b"m%d" % i)) for i in range(10)]
    try:
        await asyncio.sleep(0)
        assert await asyncio.to_thread(pool.entered.wait, GUARD)
        signer.close()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), GUARD)
        assert all(isinstance(r, ConfigurationError) for r in results)
        with pytest.raises(ConfigurationError):
            await signer.sign(merchant_keys.private_key, b"after close")
        pool.gate.set()  # the held jobs finish now; their outcomes find nobody waiting
        await asyncio.to_thread(pool.shutdown, True)
        await asyncio.sleep(0.05)  # let their wake-ups run on the loop
    finally:
        pool.shutdown()
        loop.set_exception_handler(None)
    assert errors == []


async def test_a_shut_down_executor_fails_the_queued_calls(merchant_keys: KeyPair) -> None:
    pool = CountingExecutor(1, gated=True)
    signer = BatchSigner(pool, slots=1)
    tasks = [asyncio.create_task(signer.sign(merchant_keys.private_key, b"m%d" % i)) for i in range(5)]
    await asyncio.sleep(0)
    assert await asyncio.to_thread(pool.entered.wait, GUARD)
    pool.shutdown(wait=False)  # the held job finishes; the next batch cannot be submitted
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), GUARD)
    assert isinstance(results[0], str)
    assert all(isinstance(r, RuntimeError) for r in results[1:]), results


async def test_client_aclose_with_signatures_in_flight_leaves_nothing_pending(
    fake: FakeWeChat, server: TestServer
) -> None:
    pool = CountingExecutor(2, gated=True)
    wx = Client(**client_kwargs(fake, server, mode="public_key", sign_in_thread=pool))
    await wx.start()
    calls = [asyncio.create_task(wx.request("GET", f"/v3/x/{i}")) for i in range(10)]
    try:
        await asyncio.sleep(0)
        assert await asyncio.to_thread(pool.entered.wait, GUARD)
        await wx.aclose()
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), GUARD)
    finally:
        pool.shutdown()
    assert all(isinstance(r, ConfigurationError) for r in results)
    assert fake.received == []  # nothing was sent
    assert not sdk_tasks()


@pytest.mark.parametrize("batch_signing", [True, False])
async def test_client_with_signing_threads_against_the_emulator(batch_signing: bool) -> None:
    from wxpay_async.emulator import run_emulator

    async with (
        run_emulator() as emu,
        Client(**emu.client_kwargs(mode="public_key"), sign_in_thread=True, batch_signing=batch_signing) as wx,
    ):
        assert (wx._signer._batcher is not None) is batch_signing
        pages = await asyncio.wait_for(
            asyncio.gather(*(wx.favor.list_stocks(stock_creator_mchid=wx.mchid) for _ in range(40))), GUARD
        )
        assert all(page.items == [] for page in pages)
    assert not sdk_tasks()


async def test_shared_executor_keeps_serving_other_clients_after_one_closes(
    fake: FakeWeChat, server: TestServer
) -> None:
    with ThreadPoolExecutor(2) as pool:
        async with Client(**client_kwargs(fake, server, mode="public_key", sign_in_thread=pool)) as first:
            async with Client(**client_kwargs(fake, server, mode="public_key", sign_in_thread=pool)) as second:
                await second.request("GET", "/v3/x")
            results = await asyncio.gather(*(first.request("GET", f"/v3/x/{i}") for i in range(20)))
        assert all(r.verified for r in results)
