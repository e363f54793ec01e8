"""Redis as teams deploy it: a real 3-master Cluster and a Sentinel, started from redis-server binaries.

Every store of the SDK (fleet batch, older Redis journal, notification dedupe, rate limiter,
certificates) runs on the Cluster: its multi-key operations keep their keys in one hash slot.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wxpay_async.emulator import RunningEmulator, run_emulator

from .redis_procs import redis_cluster, redis_sentinel
from .test_batch_emulator import assert_exactly_once, cli_batch
from .test_fleet import field, start_host

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="redis-server")


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    async with run_emulator(send_rate=0, seed=9) as running:
        yield running


async def run_two_hosts(emu: RunningEmulator, tmp_path: Path, url: str, batch_id: str) -> None:
    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, batch_id, 400)
    env = {**os.environ, "WXPAY_REDIS_URL": url}
    opts = ("--batch-id", batch_id, "--qps", "400", "--chunk-rows", "50")
    hosts = [await start_host(source, keys_dir, stock_id, tmp_path / f"r{i}.csv", env, *opts) for i in range(2)]
    outputs = [await asyncio.wait_for(h.communicate(), timeout=60) for h in hosts]
    for host, (out, err) in zip(hosts, outputs, strict=True):
        assert host.returncode == 0, (out + err).decode()
        assert field(out.decode(), "batch rows done").startswith("400/400")
    assert_exactly_once(emu, stock_id, openids)


async def test_fleet_batch_on_a_three_master_cluster(emu: RunningEmulator, tmp_path: Path) -> None:
    with redis_cluster(tmp_path) as url:
        await run_two_hosts(emu, tmp_path, url, "on-cluster")


async def test_fleet_batch_through_a_sentinel(emu: RunningEmulator, tmp_path: Path) -> None:
    with redis_sentinel(tmp_path) as (url, _master):
        await run_two_hosts(emu, tmp_path, url, "via-sentinel")


async def test_every_store_works_on_a_cluster(tmp_path: Path) -> None:
    from wxpay_async._redis import connect
    from wxpay_async.batch import RedisJournal, RedisRateLimiter, RowOutcome
    from wxpay_async.notifications import RedisDedupeStore

    with redis_cluster(tmp_path) as url:
        dedupe = RedisDedupeStore(url)
        # Ids chosen so that, without a hash tag, ":claim" and ":done" fall in different slots.
        for nid in ("n-1", "n-2", "notification-abc", "EV-0001"):
            assert await dedupe.claim(nid, "t1", 30) == "claimed"
            assert await dedupe.claim(nid, "t2", 30) == "busy"
            await dedupe.complete(nid, "t1", 60)
            assert await dedupe.claim(nid, "t3", 30) == "done"
        await dedupe.aclose()

        limiter = RedisRateLimiter(url, mchid="1900000001", rate=100)
        for _ in range(5):
            await limiter.acquire()
        assert not limiter.in_fallback
        await limiter.aclose()

        journal = RedisJournal(url, worker="a")
        await journal.open("cluster-journal")
        assert await journal.first_index("k1", 1) == 1 and await journal.claim("k1")
        await journal.record(RowOutcome(key="k1", index=1, request_no="B1", state="sent", coupon_id="c1"))
        assert (await journal.lookup(["k1"]))["k1"].coupon_id == "c1"
        assert [o.key async for o in journal.outcomes()] == ["k1"]
        await journal.close()

        client = connect(url)
        keys = [k async for k in client.scan_iter(match="wxpay:*")]
        assert keys, "nothing was written"
        await client.aclose()


def tls_files(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1, made now (cryptography)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


async def test_fleet_batch_over_tls(emu: RunningEmulator, tmp_path: Path) -> None:
    from .redis_procs import RedisProc
    from .redis_server import _free_port

    ca, cert, key = tls_files(tmp_path)
    port = _free_port()
    server = RedisProc(tmp_path, port=port)
    server.extra = ("--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key))
    server.extra += ("--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no")
    try:
        server.start()
    except RuntimeError:
        pytest.skip("this redis-server does not start with --tls-port (built without TLS)")
    try:
        url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}&ssl_cert_reqs=required"
        await run_two_hosts(emu, tmp_path, url, "over-tls")
    finally:
        server.stop()
