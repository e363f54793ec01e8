"""Running the emulator: keys directory, serve() for the CLI, benchmark mode, in-process admin."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest

from wxpay_async.crypto import load_private_key, load_public_key
from wxpay_async.emulator import Emulator, EmulatorKeys, RunningEmulator, load_keys_dir, serve, write_keys_dir

from .emulator_helpers import SigningClient, started


@pytest.fixture(scope="module")
def keys() -> EmulatorKeys:
    return EmulatorKeys.generate()


def test_keys_dir_round_trip(tmp_path: Path, keys: EmulatorKeys) -> None:
    written = write_keys_dir(tmp_path / "k", "http://127.0.0.1:1", keys=keys)
    data = json.loads((tmp_path / "k" / "merchant.json").read_text())
    assert data["mchid"] == keys.mchid and data["merchant_serial"] == keys.merchant.serial
    assert data["public_key_id"] == keys.public_key_id and data["apiv3_key"] == keys.apiv3_key
    assert data["base_url"] == "http://127.0.0.1:1"
    load_private_key((tmp_path / "k" / data["private_key_file"]).read_bytes())
    load_public_key((tmp_path / "k" / data["public_key_file"]).read_bytes())
    assert (tmp_path / "k" / "apiclient_key.pem").stat().st_mode & 0o077 == 0
    loaded = load_keys_dir(tmp_path / "k")
    assert loaded.merchant.serial == written.merchant.serial
    assert loaded.platform[0].serial == written.platform[0].serial
    assert loaded.public_key.public_pem() == written.public_key.public_pem()
    again = write_keys_dir(tmp_path / "k", "http://127.0.0.1:2")
    assert again.merchant.serial == written.merchant.serial, "existing keys are kept"
    assert json.loads((tmp_path / "k" / "merchant.json").read_text())["base_url"] == "http://127.0.0.1:2"


async def test_serve_writes_keys_and_answers(tmp_path: Path) -> None:
    keys_dir = tmp_path / "emu"
    task = asyncio.create_task(serve("127.0.0.1", 0, keys_dir))
    try:
        config = keys_dir / "merchant.json"
        for _ in range(200):
            if config.exists() and json.loads(config.read_text()).get("base_url"):
                break
            await asyncio.sleep(0.05)
        data = json.loads(config.read_text())
        loaded = load_keys_dir(keys_dir)
        emu = Emulator(loaded)  # only for the client's key material
        running = RunningEmulator(base_url=data["base_url"], emulator=emu, host="127.0.0.1", port=0)
        async with aiohttp.ClientSession() as session:
            reply = await SigningClient(running, session).get("/v3/certificates")
            assert reply.status == 200
            assert SigningClient(running, session).verify(reply)
        assert (keys_dir / "emulator.db").exists()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_benchmark_mode_reuses_signatures_and_may_skip_verification(keys: EmulatorKeys) -> None:
    async with started(keys, benchmark=True, verify_signatures=False) as (_, client):
        first = await client.get("/v3/certificates")
        second = await client.get("/v3/certificates")
        assert first.status == second.status == 200
        # Certificates bodies differ (fresh AEAD nonces); an error body repeats exactly.
        a = await client.get("/v3/marketing/favor/callbacks", mchid=client.mchid)
        b = await client.get("/v3/marketing/favor/callbacks", mchid=client.mchid)
        assert a.body == b.body and a.headers["Wechatpay-Signature"] == b.headers["Wechatpay-Signature"]
        assert client.verify(a) and client.verify(b)
        forged = await client.request(
            "GET", "/v3/marketing/favor/callbacks", query={"mchid": client.mchid}, signed_target="/elsewhere"
        )
        assert forged.code == "RESOURCE_NOT_EXISTS", "signature checks are off in this benchmark setting"
        stale = await client.request(
            "GET", "/v3/marketing/favor/callbacks", query={"mchid": client.mchid}, timestamp=int(time.time()) - 999
        )
        assert stale.code == "SIGN_ERROR", "timestamps are still checked"


async def test_verification_stays_on_outside_benchmark_mode(keys: EmulatorKeys) -> None:
    async with started(keys, verify_signatures=False) as (_, client):
        forged = await client.request("GET", "/v3/certificates", signed_target="/elsewhere")
        assert forged.code == "SIGN_ERROR"
