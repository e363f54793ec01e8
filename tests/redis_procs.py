"""redis-server processes the fleet tests start, kill and restart: one server, a 3-master Cluster, a Sentinel.

Each is a real ``redis-server`` binary on 127.0.0.1 (the test is skipped, with the reason, when it
is not installed). Servers are killed with SIGKILL and restarted on the same port, with or without
their append-only file, to play an outage, a restart, and a restart that lost everything.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .redis_server import _free_port


def _binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (CI installs Debian's redis-server)")
    return binary


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"redis-server on port {port} did not start") from None
            time.sleep(0.05)


class RedisProc:
    """One redis-server: ``kill()`` (SIGKILL), ``start()`` again on the same port and directory."""

    def __init__(self, tmp: Path, *, aof: bool = False, port: int | None = None, extra: tuple[str, ...] = ()) -> None:
        self.binary = _binary()
        self.port = port or _free_port()
        self.dir = tmp / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.aof = aof
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, wipe: bool = False) -> None:
        if wipe:
            shutil.rmtree(self.dir)
            self.dir.mkdir()
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.dir)]
        args += ["--appendonly", "yes" if self.aof else "no", "--appendfsync", "always", *self.extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.proc)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None


@contextmanager
def redis_proc(tmp: Path, *, aof: bool = False) -> Iterator[RedisProc]:
    server = RedisProc(tmp, aof=aof)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _cli(port: int, *args: str) -> str:
    import redis

    client = redis.Redis(port=port, decode_responses=True)
    try:
        return str(client.execute_command(*args))
    finally:
        client.close()


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is a valid, free port too."""
    for _ in range(200):
        port = _free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


@contextmanager
def redis_cluster(tmp: Path) -> Iterator[str]:
    """Three masters (no replicas), slots split in three, met with CLUSTER MEET: a real Cluster."""
    binary = _binary()
    nodes: list[RedisProc] = []
    try:
        for _ in range(3):
            port = _cluster_port()
            node = RedisProc(tmp, port=port, extra=("--cluster-enabled", "yes", "--cluster-node-timeout", "2000"))
            node.extra = (*node.extra, "--cluster-config-file", str(node.dir / "nodes.conf"))
            node.binary = binary
            node.start()
            nodes.append(node)
        ranges = [(0, 5460), (5461, 10922), (10923, 16383)]
        for node, (low, high) in zip(nodes, ranges, strict=True):
            _cli(node.port, "CLUSTER", "ADDSLOTSRANGE", str(low), str(high))
        for node in nodes[1:]:
            _cli(nodes[0].port, "CLUSTER", "MEET", "127.0.0.1", str(node.port))
        deadline = time.monotonic() + 20
        while True:
            infos = [_cli(n.port, "CLUSTER", "INFO") for n in nodes]
            if all("cluster_state:ok" in i and "cluster_known_nodes:3" in i for i in infos):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test cluster did not form: {infos[0]}")
            time.sleep(0.1)
        yield f"redis+cluster://127.0.0.1:{nodes[0].port}/"
    finally:
        for node in nodes:
            node.stop()


@contextmanager
def redis_sentinel(tmp: Path) -> Iterator[tuple[str, RedisProc]]:
    """A master and one Sentinel watching it as ``mymaster``: ``redis+sentinel://...`` and the master."""
    binary = _binary()
    master = RedisProc(tmp)
    master.start()
    port = _free_port()
    conf = tmp / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master.port} 1\n"
        "sentinel down-after-milliseconds mymaster 2000\n"
    )
    proc = subprocess.Popen([binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)
        yield f"redis+sentinel://127.0.0.1:{port}/mymaster/0", master
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        master.stop()
