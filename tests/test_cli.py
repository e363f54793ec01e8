"""The wxpay-async command against the emulator: real subprocesses where the process matters."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from wxpay_async import Client
from wxpay_async.cli import main
from wxpay_async.emulator import RunningEmulator, run_emulator, write_keys_dir

from .test_batch_emulator import APPID, make_stock, send_batch_args


async def run_cli(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wxpay_async.cli", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def emu() -> RunningEmulator:
    async with run_emulator(send_rate=0) as running:
        yield running  # type: ignore[misc]


def test_help_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["--help"],
        ["send-batch", "--help"],
        ["certificates", "download", "--help"],
        ["notify", "decrypt", "--help"],
        ["flow", "download", "--help"],
        ["emulator", "--help"],
        ["demo", "--help"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        assert "usage: wxpay-async" in capsys.readouterr().out


def test_bad_flags_are_clear(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["send-batch"])
    assert info.value.code == 2 and "the following arguments are required: input" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["send-batch", str(tmp_path / "missing.csv"), "--keys-dir", str(tmp_path)])
    assert info.value.code == 2 and "does not exist" in capsys.readouterr().err
    (tmp_path / "in.csv").write_text("openid\no1\n")
    with pytest.raises(SystemExit) as info:
        main(["send-batch", str(tmp_path / "in.csv"), "--keys-dir", str(tmp_path / "nokeys")])
    assert info.value.code == 2 and "merchant.json" in capsys.readouterr().err


async def test_certificates_download_and_flow_download(emu: RunningEmulator, tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    write_keys_dir(keys_dir, emu.base_url, keys=emu.keys)
    code, out, err = await run_cli("certificates", "download", "--keys-dir", str(keys_dir), "-o", str(tmp_path / "c"))
    assert code == 0, err
    pems = list((tmp_path / "c").glob("wechatpay_*.pem"))
    assert len(pems) >= 1 and "BEGIN CERTIFICATE" in pems[0].read_text()

    async with Client(**emu.client_kwargs()) as wx:
        stock_id = await make_stock(wx, 10)
        sent = await wx.request(
            "POST",
            "/v3/marketing/favor/users/{openid}/coupons",
            path_params={"openid": "o1"},
            json={"stock_id": stock_id, "appid": APPID, "stock_creator_mchid": wx.mchid},
            idempotency_field="out_request_no",
        )
    emu.use_coupon(sent.json()["coupon_id"])
    out_file = tmp_path / "use.csv"
    code, out, err = await run_cli("flow", "download", stock_id, "--keys-dir", str(keys_dir), "-o", str(out_file))
    assert code == 0, err
    assert "verified" in out and sent.json()["coupon_id"] in out_file.read_text(encoding="utf-8")
    # The by-day answer names its hash stock_useflow_hash, not hash_value.
    day_file = tmp_path / "use-day.csv"
    today = __import__("datetime").date.today().isoformat()
    code, out, err = await run_cli(
        "flow", "download", stock_id, "--date", today, "--keys-dir", str(keys_dir), "-o", str(day_file)
    )
    assert code == 0, err
    assert "verified" in out and day_file.exists()


async def test_send_batch_refuses_to_reuse_a_journal_without_resume(emu: RunningEmulator, tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    write_keys_dir(keys_dir, emu.base_url, keys=emu.keys)
    async with Client(**emu.client_kwargs()) as wx:
        stock_id = await make_stock(wx, 10)
    source = tmp_path / "in.csv"
    source.write_text("openid\nu1\nu2\nu1\n")
    args = send_batch_args(source, keys_dir, stock_id, "--journal", str(tmp_path / "j.db"), "-q")
    code, out, err = await run_cli(*args)
    assert code == 0, err
    assert "sent now:         2" in out and "duplicate rows:   1" in out
    result = (tmp_path / "in.result.csv").read_text().splitlines()
    assert result[0].startswith("row,key,request_no") and len(result) == 4
    code, out, err = await run_cli(*args)
    assert code == 2 and "--resume" in err
    code, out, err = await run_cli(*args, "--resume")
    assert code == 0 and "done before:      2" in out


async def test_emulator_command_writes_keys_and_serves(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wxpay_async.cli",
        "emulator",
        "--port",
        str(port),
        "--keys-dir",
        str(tmp_path / "k"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)  # printed once listening
        assert b"listening on" in line
        config = json.loads((tmp_path / "k" / "merchant.json").read_text())
        assert config["base_url"].endswith(f":{port}")
        code, out, err = await run_cli("certificates", "download", "--keys-dir", str(tmp_path / "k"))
        assert code == 0, err
        assert json.loads(out)[0]["serial_no"]
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)
