"""The README as a newcomer meets it: the quickstart runs as written against the emulator; CLI help lines."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

from wxpay_async.emulator import run_emulator, write_keys_dir
from wxpay_async.emulator._run import emulator_env

ROOT = Path(__file__).resolve().parent.parent


def quickstart_code() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the Quickstart"
    return match.group(1)


async def test_quickstart_runs_as_written_against_the_emulator(tmp_path: Path) -> None:
    program = tmp_path / "quickstart.py"
    program.write_text(quickstart_code(), encoding="utf-8")
    keys = write_keys_dir(tmp_path / "keys")
    async with run_emulator(keys=keys) as emu:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WXPAY_")}
        env.update(emulator_env(emu, tmp_path / "keys"))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(program), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith("coupon ") and "Request-ID" in lines[0]
    assert "满100减10" in lines[1]


async def test_emulator_env_lines_configure_client_from_env(tmp_path: Path) -> None:
    from wxpay_async import Client

    keys = write_keys_dir(tmp_path)
    async with run_emulator(keys=keys) as emu:
        env = emulator_env(emu, tmp_path)
        assert env["WXPAY_BASE_URL"] == emu.base_url and Path(env["WXPAY_PRIVATE_KEY_PATH"]).is_file()
        async with Client.from_env(env) as wx:
            assert (await wx.favor.list_stocks(stock_creator_mchid=wx.mchid)).items == []


def test_notify_decrypt_takes_text_or_file_without_traceback(tmp_path: Path, capsys: object) -> None:
    from wxpay_async import cli

    keys = write_keys_dir(tmp_path)
    (tmp_path / "merchant.json").write_text(
        json.dumps({**json.loads((tmp_path / "merchant.json").read_text()), "base_url": "http://127.0.0.1:9"})
    )
    base = ["notify", "decrypt", "--keys-dir", str(tmp_path), "--no-verify"]

    def run(*args: str) -> int:
        try:
            return cli.main([*base, *args])
        except SystemExit as exc:  # argparse-style exit with a one-line message
            return int(exc.code or 0)

    assert run("not-a-file-nor-json") == 2
    assert run('{"id": 1}') == 2
    from wxpay_async.crypto import aead_encrypt, make_nonce

    nonce = make_nonce(12)
    body = json.dumps(
        {
            "id": "N1",
            "event_type": "COUPON.USE",
            "resource": {
                "algorithm": "AEAD_AES_256_GCM",
                "nonce": nonce,
                "associated_data": "coupon",
                "ciphertext": aead_encrypt(keys.apiv3_key, nonce, "coupon", '{"coupon_id": "C1"}'),
            },
        }
    )
    assert run(body) == 0
    file = tmp_path / "body.json"
    file.write_text(body)
    assert run(str(file)) == 0
    out = capsys.readouterr()  # type: ignore[attr-defined]
    assert out.out.count('"coupon_id": "C1"') == 2
    assert "Traceback" not in out.err and "neither a file nor a JSON notification body" in out.err


def test_readme_is_a_landing_page_whose_links_and_commands_exist() -> None:
    """About one screen-scroll; every relative link leads to a file; every command it gives exists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= 12 * 1024
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    relative = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert relative, "no links into the docs"
    for link in relative:
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"
    for command in ("bash scripts/demo.sh", "bash scripts/test.sh", "bash scripts/docs.sh serve"):
        assert command in text, command
        assert (ROOT / command.split()[1]).is_file()
