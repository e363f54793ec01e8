"""Shared benchmark plumbing: dev keys, a server in another process, and result tables."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wxpay_async.crypto import response_message, rsa_sign, rsa_verify
from wxpay_async.devkeys import KeyPair, generate_apiv3_key, generate_key_pair, generate_public_key_id

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


class BenchKeys:
    def __init__(self) -> None:
        self.merchant: KeyPair = generate_key_pair("bench merchant")
        self.platform: KeyPair = generate_key_pair("bench platform")
        self.public_key_id = generate_public_key_id()
        self.apiv3_key = generate_apiv3_key()
        self.mchid = "1900000001"

    def client_kwargs(self, base_url: str, *, mode: str = "public_key") -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "mchid": self.mchid,
            "merchant_serial": self.merchant.serial,
            "private_key": self.merchant.private_key,
            "apiv3_key": self.apiv3_key,
            "base_url": base_url,
        }
        if mode == "public_key":
            kwargs["platform_public_key"] = self.platform.public_key
            kwargs["platform_public_key_id"] = self.public_key_id
        return kwargs

    def write_client_keys(self, path: Path) -> None:
        """The client's credentials as PEM text in JSON, for probes in fresh interpreters (_probe.py)."""
        path.write_text(
            json.dumps(
                {
                    "mchid": self.mchid,
                    "merchant_serial": self.merchant.serial,
                    "private_key": self.merchant.private_pem().decode(),
                    "apiv3_key": self.apiv3_key,
                    "platform_public_key": self.platform.public_pem().decode(),
                    "platform_public_key_id": self.public_key_id,
                }
            )
        )


@contextmanager
def signing_server(keys: BenchKeys) -> Iterator[str]:
    """Start benchmarks/_signing_server.py on 127.0.0.1 in a child process; yield its base URL."""
    with tempfile.TemporaryDirectory() as tmp:
        keys_file = Path(tmp) / "keys.json"
        keys_file.write_text(
            json.dumps(
                {
                    "platform_private_pem": keys.platform.private_pem().decode(),
                    "platform_cert_pem": keys.platform.certificate_pem().decode(),
                    "platform_serial": keys.platform.serial,
                    "public_key_id": keys.public_key_id,
                    "apiv3_key": keys.apiv3_key,
                }
            )
        )
        port_file = Path(tmp) / "port"
        proc = subprocess.Popen([sys.executable, str(HERE / "_signing_server.py"), str(keys_file), str(port_file)])
        try:
            deadline = time.monotonic() + 20
            while not (port_file.exists() and port_file.read_text()):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("benchmark server did not start")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{int(port_file.read_text())}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, for a server the benchmark starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Wait (30 s at most) until ``proc``, a server the benchmark started, listens on ``port``.

    The batch and fleet benchmarks start their emulator (and the fleet its Redis proxy) this way and
    must not time a server that is still starting; exits if ``proc`` dies or never listens.
    """
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"nothing listens on port {port}") from None
            time.sleep(0.05)


def crypto_floor_us(keys: BenchKeys, body: bytes, rounds: int = 300) -> float:
    """CPU µs of one rsa_sign (request) + one rsa_verify (response) on messages of the same size."""
    request_msg = b"POST\n/v3/marketing/favor/users/o/coupons\n1700000000\n" + b"n" * 32 + b"\n" + body + b"\n"
    response_body = b'{"coupon_id":"9867041"}'
    sig = rsa_sign(keys.platform.private_key, response_message("1700000000", "n" * 32, response_body))
    samples = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(rounds):
            rsa_sign(keys.merchant.private_key, request_msg)
            rsa_verify(keys.platform.public_key, response_message("1700000000", "n" * 32, response_body), sig)
        samples.append((time.process_time() - start) / rounds * 1e6)
    return statistics.median(samples)


def rss_mb() -> float:
    """This process's resident memory (Linux)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:,.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def machine_line() -> str:
    import aiohttp
    import cryptography

    return (
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, "
        f"cryptography {cryptography.__version__}"
    )


def sdk_tree_at(rev: str, into: Path) -> Path:
    """The ``wxpay_async`` package of git revision ``rev``, extracted into ``into/before`` (the
    directory to put first on ``PYTHONPATH`` to run that revision's SDK)."""
    root = Path(__file__).resolve().parent.parent
    tree = into / "before"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(root), "archive", rev, "wxpay_async"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree
