"""Batched hand-off of RSA signing to a thread pool.

Handing each signature to a thread on its own costs a worker wake-up and a
``call_soon_threadsafe`` back into the loop per call; under load those hand-offs, not the RSA
maths, take a good part of the loop's time. Here calls queue on the loop, one executor job signs
everything queued when it was submitted and wakes the loop once for the whole batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future

from cryptography.hazmat.primitives.asymmetric import rsa

from ..crypto import rsa_sign
from ..errors import ClientClosedError, ConfigurationError

_Item = tuple[rsa.RSAPrivateKey, bytes, "asyncio.Future[str]"]
# What a drain job hands back: per item, its signature or the exception signing raised.
_Outcome = tuple["asyncio.Future[str]", str | None, BaseException | None]


def _drain(batch: list[_Item]) -> list[_Outcome]:
    """Sign a whole batch in one executor job; every item gets its own outcome."""
    out: list[_Outcome] = []
    for key, message, waiter in batch:
        try:
            out.append((waiter, rsa_sign(key, message), None))
        except Exception as exc:  # reaches its own caller only
            out.append((waiter, None, exc))
    return out


def default_slots() -> int:
    """Drain jobs at once when none is given: one per core (the Client's own pool has as many threads)."""
    return os.cpu_count() or 2


class BatchSigner:
    """Signs on ``executor`` in batches, at most ``slots`` jobs at a time.

    ``slots``: how many jobs may run at once; give the executor's thread count when you made it
    (an ``Executor`` does not say its size through a public API), else one per core.

    Not thread-safe by design: the queue and counters are touched on the loop thread only; a
    job receives its batch as an argument and its outcomes come back in one loop callback.
    """

    def __init__(self, executor: Executor, *, slots: int | None = None) -> None:
        self._executor = executor
        self._slots = slots if slots is not None else default_slots()
        if self._slots < 1:
            raise ConfigurationError(f"slots must be positive, got {slots!r}")
        self._queue: list[_Item] = []
        self._in_flight: dict[Future[list[_Outcome]], list[_Item]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def sign(self, key: rsa.RSAPrivateKey, message: bytes) -> str:
        """The base64 signature of ``message``, computed on the executor."""
        if self._closed:
            raise ClientClosedError("this signer is closed (its Client was closed); this attempt was not sent")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._loop is not None and self._loop.is_closed():  # its waiters died with it
                self._queue, self._in_flight = [], {}
            elif self._queue or self._in_flight:  # still busy for another loop: no mixing
                return await loop.run_in_executor(self._executor, rsa_sign, key, message)
            self._loop = loop
        waiter: asyncio.Future[str] = loop.create_future()
        self._queue.append((key, message, waiter))
        if len(self._in_flight) < self._slots:
            self._dispatch()
        return await waiter

    def close(self) -> None:
        """Fail every call still waiting (nothing of theirs was sent) and accept no more.

        Jobs already running finish on their thread; their outcomes find the waiters done.
        """
        self._closed = True
        error = ClientClosedError("the Client was closed while this attempt was being signed; it was not sent")
        batches = [self._queue, *self._in_flight.values()]
        self._queue = []
        self._in_flight.clear()
        for batch in batches:
            for _, _, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(error)

    def _dispatch(self) -> None:
        """Submit queued calls while a slot is free, a fair share of the queue per job.

        A share (not the whole queue) keeps one job from holding calls another slot, free
        sooner, could sign.
        """
        queue = [item for item in self._queue if not item[2].done()]  # cancelled waiters dropped
        share = -(-len(queue) // self._slots)
        while queue and len(self._in_flight) < self._slots:
            batch, queue = queue[:share], queue[share:]
            self._submit(batch)
        self._queue = queue

    def _submit(self, batch: list[_Item]) -> None:
        loop = self._loop
        assert loop is not None
        try:
            job = self._executor.submit(_drain, batch)
        except RuntimeError as exc:  # the executor was shut down
            for _, _, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        self._in_flight[job] = batch
        deliver: Callable[[Future[list[_Outcome]]], None] = self._deliver

        def wake(done: Future[list[_Outcome]]) -> None:
            # On the worker thread (or wherever the job was cancelled): one wake-up per batch.
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(deliver, done)

        job.add_done_callback(wake)

    def _deliver(self, job: Future[list[_Outcome]]) -> None:
        """On the loop: refill the freed slot first (threads stay busy), then wake the callers."""
        batch = self._in_flight.pop(job, None)
        if batch is None:  # close() already failed these callers
            return
        if self._queue and not self._closed:
            self._dispatch()
        error = RuntimeError("the signing executor was shut down") if job.cancelled() else job.exception()
        if error is not None:  # the job never ran (executor shut down) or broke
            for _, _, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        for waiter, signature, exc in job.result():
            if waiter.done():  # cancelled while its batch was being signed
                continue
            if exc is not None:
                waiter.set_exception(exc)
            else:
                assert signature is not None
                waiter.set_result(signature)
