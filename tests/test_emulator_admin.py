"""The emulator's admin API refuses cross-site, DNS-rebinding, unknown-peer and tokenless calls."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import make_mocked_request

from wxpay_async.emulator import run_emulator
from wxpay_async.emulator._admin import ADMIN_TOKEN_HEADER, admin_refusal, is_loopback


async def _call(
    url: str, method: str = "GET", *, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with ClientSession() as session, session.request(method, url, data=data, headers=headers or {}) as r:
        return r.status, await r.json(content_type=None)


async def test_state_changes_need_json_and_a_loopback_host() -> None:
    async with run_emulator(send_rate=0) as running:
        emu = running.emulator
        url = running.base_url + "/_emulator/clock"
        body = b'{"skew": 400}'
        # A cross-site HTML form or a no-cors fetch: text/plain or form encoding, no preflight.
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            status, answer = await _call(url, "POST", data=body, headers={"Content-Type": content_type})
            assert status == 415 and answer["code"] == "UNSUPPORTED_MEDIA_TYPE"
        status, _ = await _call(url, "POST", data=body)  # no content type at all
        assert status == 415
        assert emu.clock.skew == 0.0
        # DNS rebinding: the page's own name in Host, the request still reaching 127.0.0.1.
        for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil", ""):
            headers = {"Host": host, "Content-Type": "application/json"}
            status, answer = await _call(url, "POST", data=body, headers=headers)
            assert status == 403 and answer["code"] == "FORBIDDEN", host
            status, _ = await _call(running.base_url + "/_emulator/config", headers={"Host": host})
            assert status == 403, host
        assert emu.clock.skew == 0.0
        for host in (f"127.0.0.1:{running.port}", f"localhost:{running.port}", "localhost", "[::1]:1"):
            status, _ = await _call(running.base_url + "/_emulator/config", headers={"Host": host})
            assert status == 200, host
        status, answer = await _call(url, "POST", data=body, headers={"Content-Type": "application/json"})
        assert status == 200 and emu.clock.skew == 400.0


def test_a_request_without_peer_address_is_refused() -> None:
    class NoPeer:  # a Unix socket or a proxied transport: no peer address
        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return None

    request = make_mocked_request("GET", "/_emulator/config", headers={"Host": "127.0.0.1"}, transport=NoPeer())
    assert request.remote is None
    assert not is_loopback(request)
    refusal = admin_refusal(request)
    assert refusal is not None and refusal.status == 403


async def test_optional_admin_token() -> None:
    async with run_emulator(send_rate=0, admin_token="s3cret-token") as running:
        url = running.base_url + "/_emulator/config"
        assert (await _call(url))[0] == 401
        assert (await _call(url, headers={ADMIN_TOKEN_HEADER: "wrong"}))[0] == 401
        assert (await _call(url, headers={ADMIN_TOKEN_HEADER: "s3cret-token"}))[0] == 200


async def test_cli_emulator_admin_token(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wxpay_async.cli", "emulator", "--port", str(port), "--keys-dir", str(tmp_path / "k"),
        "--admin-token", "cli-token", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        assert b"listening on" in line
        url = f"http://127.0.0.1:{port}/_emulator/config"
        assert (await _call(url))[0] == 401
        assert (await _call(url, headers={ADMIN_TOKEN_HEADER: "cli-token"}))[0] == 200
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)


@pytest.mark.parametrize("host", ["127.0.0.2", "::ffff:127.0.0.1", "10.0.0.1", "fe80::1"])
def test_loopback_peer_parsing(host: str) -> None:
    class Peer:
        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return (host, 40000) if name == "peername" else default

    request = make_mocked_request("GET", "/_emulator/config", transport=Peer())
    assert is_loopback(request) is host.startswith("127.")
