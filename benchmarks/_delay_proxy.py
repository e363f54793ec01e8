"""A TCP proxy that adds latency: every byte from the client reaches the server ``delay_ms`` later.

    python benchmarks/_delay_proxy.py LISTEN_PORT TARGET_PORT DELAY_MS

Each round trip through it costs ``DELAY_MS`` more (the answer direction is not delayed), as a
Redis in another availability zone would. Order is kept per connection; bandwidth is not limited.
The proxy exits when its parent dies (it is a benchmark's child).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    task = asyncio.create_task(deliver()) if delay > 0 else None
    try:
        while data := await reader.read(65536):
            if task is None:
                writer.write(data)
                await writer.drain()
            else:
                queue.put_nowait((time.monotonic() + delay, data))
    except (ConnectionError, OSError):
        pass
    finally:
        if task is None:
            writer.close()
        else:
            queue.put_nowait((0.0, b""))
            await asyncio.gather(task, return_exceptions=True)


async def serve(listen: int, target: int, delay_ms: float) -> None:
    delay = delay_ms / 1000

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, server_w, delay), _pipe(server_r, client_w, 0.0), return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    parent = os.getppid()
    orphaned = asyncio.Event()

    def watch() -> None:
        if os.getppid() != parent:
            orphaned.set()
        else:
            asyncio.get_running_loop().call_later(0.5, watch)

    watch()
    async with server:
        await orphaned.wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
