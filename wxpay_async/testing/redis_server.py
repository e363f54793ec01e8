"""A throwaway ``redis-server`` on 127.0.0.1 for demos and tests (the binary from PATH).

    with throwaway_redis() as url:      # "redis://127.0.0.1:PORT/0"; killed and removed on exit
        ...

Raises :class:`RuntimeError` when ``redis-server`` is not installed or does not start.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def throwaway_redis(timeout: float = 10.0) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="wxpay-redis-") as tmp, redis_server_in(Path(tmp), timeout) as url:
        yield url


@contextmanager
def redis_server_in(directory: Path, timeout: float = 10.0) -> Iterator[str]:
    """A redis-server on a free 127.0.0.1 port keeping its files in ``directory`` (no persistence)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (e.g. apt-get install redis-server)")
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
