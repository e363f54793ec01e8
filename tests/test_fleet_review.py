"""Issue 18, checked from outside: the host command as the issue writes it, every row kind and identity
through the fleet path, ``batch status``/``cleanup``, finished-batch expiry, and the exit codes.

Real ``wxpay-async send-batch`` processes, real redis-server processes; the emulator's ledger must
show every row issued exactly once.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wxpay_async import Client
from wxpay_async.emulator import EmulatorKeys, RunningEmulator, run_emulator, write_keys_dir

from .redis_procs import RedisProc, redis_proc
from .test_batch_emulator import APPID, RETRY, assert_exactly_once, cli_batch
from .test_fleet import field, redis_sync, run_single_try_sender, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="subprocess hosts, SIGKILL")

CLI = [sys.executable, "-m", "wxpay_async.cli"]


@pytest.fixture(scope="module")
def keys() -> EmulatorKeys:
    return EmulatorKeys.generate()


@pytest.fixture
async def emu(keys: EmulatorKeys) -> AsyncIterator[RunningEmulator]:
    async with run_emulator(keys=keys, send_rate=0, seed=9) as running:
        yield running


async def host(*argv: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *CLI, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env or dict(os.environ)
    )


async def done(proc: asyncio.subprocess.Process, timeout: float = 90) -> str:
    out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    return (out + err).decode()


def the_issue_command(
    source: Path, url: str | None, batch_id: str, keys_dir: Path, stock_id: str, result: Path, *extra: str
) -> list[str]:
    """``wxpay-async send-batch INPUT --redis URL --batch-id ID --keys-dir ... --stock-id ... --appid ...
    --qps Q --concurrency C -q --result FILE``, word for word from issue 18 (``--redis`` left out when
    the URL comes from ``WXPAY_REDIS_URL``)."""
    redis = ["--redis", url] if url else []
    return [
        "send-batch",
        str(source),
        *redis,
        "--batch-id",
        batch_id,
        "--keys-dir",
        str(keys_dir),
        "--stock-id",
        stock_id,
        "--appid",
        APPID,
        "--qps",
        "400",
        "--concurrency",
        "8",
        "-q",
        "--result",
        str(result),
        *extra,
    ]


async def test_the_issue_command_with_redis_on_argv_and_from_the_environment(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, "cmd", 400)
    with redis_proc(tmp_path) as server:
        by_flag = await host(
            *the_issue_command(source, server.url, "cmd", keys_dir, stock_id, tmp_path / "a.csv", "--chunk-rows", "50")
        )
        env = {**os.environ, "WXPAY_REDIS_URL": server.url}
        by_env = await host(
            *the_issue_command(source, None, "cmd", keys_dir, stock_id, tmp_path / "b.csv", "--chunk-rows", "50"),
            env=env,
        )
        texts = [await done(by_flag), await done(by_env)]
    assert by_flag.returncode == 0 and by_env.returncode == 0, texts
    for text in texts:
        assert field(text, "batch rows done").startswith("400/400"), text
    assert sum(int(field(t, "sent now").split()[0]) for t in texts) == 400, texts
    for result in ("a.csv", "b.csv"):  # each host's result file lists every row of the batch
        assert len((tmp_path / result).read_text().splitlines()) == 401
    assert_exactly_once(emu, stock_id, openids)


async def test_merchant_coupon_rows_through_the_fleet(emu: RunningEmulator, tmp_path: Path) -> None:
    from .test_merchant_coupon import stock_args

    keys_dir = tmp_path / "keys"
    write_keys_dir(keys_dir, emu.base_url, keys=emu.keys)
    async with Client(**emu.client_kwargs(), retry=RETRY) as wx:
        made = await wx.merchant_coupon.create_stock(**stock_args(max_coupons=1000, max_coupons_per_user=1))
        stock_id = str(made.stock_id)
    openids = [f"mcf-{i:04d}" for i in range(300)]
    source = tmp_path / "users.csv"
    source.write_text("openid\n" + "\n".join(openids) + "\n")
    prefix = "/v3/marketing/busifavor/coupons/send"
    emu.set_fault_rates(
        {"kind": "system_error", "probability": 0.03, "path_prefix": prefix},
        {"kind": "drop_after", "probability": 0.03, "path_prefix": prefix},
        seed=5,
    )
    with redis_proc(tmp_path) as server:
        opts = ("--kind", "merchant", "--chunk-rows", "30", "--lease", "4")
        hosts = [
            await host(*the_issue_command(source, server.url, "mcf", keys_dir, stock_id, tmp_path / f"r{i}.csv", *opts))
            for i in range(3)
        ]
        texts = [await done(h) for h in hosts]
    emu.clear_faults()
    assert [h.returncode for h in hosts] == [0, 0, 0], texts
    ledger = emu.ledger()
    issued = [c for c in ledger["coupons"] if c["kind"] == "merchant" and c["stock_id"] == stock_id]
    per_user = Counter(c["openid"] for c in issued)
    assert sorted(per_user) == openids, "a row was lost"
    assert set(per_user.values()) == {1}, "a row was sent twice"
    requests = [r for r in ledger["requests"] if r["kind"] == "merchant"]
    assert len(requests) == 300 and all(r["issued"] == 1 for r in requests)


async def test_brand_identity_through_the_fleet(keys: EmulatorKeys, tmp_path: Path) -> None:
    from .test_brand import _brand_product

    async with run_emulator(keys=keys) as emu:
        async with Client(**emu.brand_client_kwargs(), retry=RETRY) as wx:
            product_id, stock_id = await _brand_product(wx, 500)
        keys_dir = tmp_path / "keys"
        write_keys_dir(keys_dir, emu.base_url, keys=keys)
        openids = [f"bf-{i:03d}" for i in range(120)]
        source = tmp_path / "users.csv"
        source.write_text("openid\n" + "\n".join(openids) + "\n")
        with redis_proc(tmp_path) as server:
            opts = ("--brand", "--kind", "product", "--product-coupon-id", product_id, "--chunk-rows", "20")
            hosts = [
                await host(
                    *the_issue_command(source, server.url, "bf", keys_dir, stock_id, tmp_path / f"r{i}.csv", *opts)
                )
                for i in range(2)
            ]
            texts = [await done(h) for h in hosts]
        assert [h.returncode for h in hosts] == [0, 0], texts
        issued = [c for c in emu.ledger()["coupons"] if c["kind"] == "product" and c["stock_id"] == stock_id]
    per_user = Counter(c["openid"] for c in issued)
    assert sorted(per_user) == openids and set(per_user.values()) == {1}


async def test_status_while_running_hides_the_password_cleanup_leaves_no_key(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    keys_dir, stock_id, openids, source = await cli_batch(emu, tmp_path, "st", 300)
    server = RedisProc(tmp_path, extra=("--requirepass", "pw-Secret-77"))
    server.start()
    url = f"redis://:pw-Secret-77@127.0.0.1:{server.port}/0"
    env = {**os.environ, "WXPAY_REDIS_URL": url}
    try:
        cmd = the_issue_command(source, None, "st", keys_dir, stock_id, tmp_path / "r.csv", "--chunk-rows", "50")
        cmd[cmd.index("--qps") + 1] = "60"  # slow enough to be seen running
        running = await host(*cmd, env=env)
        r = redis_sync(url)
        await wait_for(lambda: r.hlen("wxpay:batch:{st}:rows") >= 20, 40, "the host to record outcomes")
        status = await host("batch", "status", "st", env=env)
        text = await done(status, 30)
        refused = await host("batch", "cleanup", "st", env=env)
        refused_text = await done(refused, 30)
        assert refused.returncode == 2 and "live host" in refused_text, refused_text
        assert await done(running) and running.returncode == 0
        finished = await done(await host("batch", "status", "st", env=env), 30)
        # Every key of a finished batch expires (default 7 days).
        batch_keys = list(r.scan_iter(match="wxpay:batch:{st}*"))
        ttls = {k: r.ttl(k) for k in batch_keys}
        clean = await host("batch", "cleanup", "st", env=env)
        clean_text = await done(clean, 30)
        leftovers = list(r.scan_iter(match="*{st}*"))
        gone = await host("batch", "status", "st", env=env)
        gone_text = await done(gone, 30)
        r.close()
    finally:
        server.stop()
    assert status.returncode == 0, text
    assert "pw-Secret-77" not in text + refused_text + finished + clean_text + gone_text
    assert "batch st: running" in text, text
    done_now = int(field(text, "rows with an outcome").split("/")[0])
    assert 20 <= done_now < 300, text
    assert field(text, "outcomes").startswith(f"sent {done_now}, failed 0"), text
    live = field(text, "live hosts")
    assert live.startswith("1 (") and f":{running.pid}:" in live, text
    assert "batch st: finished" in finished and "300/300" in finished, finished
    assert "live hosts:           0" in finished, finished
    assert {"wxpay:batch:{st}:rows", "wxpay:batch:{st}:stream", "wxpay:batch:{st}:meta"} <= set(ttls), ttls
    week = 7 * 86400
    assert all(week - 120 < ttl <= week for ttl in ttls.values()), ttls
    assert clean.returncode == 0 and "deleted" in clean_text, clean_text
    assert leftovers == [], leftovers
    assert gone.returncode == 1 and "not in Redis" in gone_text
    assert_exactly_once(emu, stock_id, openids)


async def test_a_late_host_on_a_finished_batch_leaves_every_key_expiring(emu: RunningEmulator, tmp_path: Path) -> None:
    keys_dir, stock_id, _openids, source = await cli_batch(emu, tmp_path, "late", 60)
    expiry_after: dict[str, dict[str, float]] = {}
    with redis_proc(tmp_path) as server:
        env = {**os.environ, "WXPAY_REDIS_URL": server.url}
        r = redis_sync(server.url)
        for name in ("a", "b"):
            proc = await host(*the_issue_command(source, None, "late", keys_dir, stock_id, tmp_path / name), env=env)
            text = await done(proc)
            assert proc.returncode == 0, text
            now = time.time()  # when each key expires, as a moment (PTTL counts down)
            expiry_after[name] = {k: now + r.pttl(k) / 1000 for k in r.scan_iter(match="wxpay:batch:{late}*")}
            if name == "a":
                await asyncio.sleep(1.5)  # the late host finishes a second and more after the first
        ttls = {k: r.ttl(k) for k in r.scan_iter(match="wxpay:batch:{late}*")}
        r.close()
    assert ttls and all(ttl > 0 for ttl in ttls.values()), ttls  # -1: a key that never expires
    # The expiry counts from when the batch finished: the late host did not push it back.
    for key, moment in expiry_after["b"].items():
        if key in expiry_after["a"]:
            assert moment <= expiry_after["a"][key] + 0.5, (key, moment, expiry_after["a"][key])


def test_send_batch_help_names_the_exit_codes() -> None:
    import re
    import subprocess

    out = subprocess.run([*CLI, "send-batch", "--help"], capture_output=True, text=True, timeout=60, check=True).stdout
    epilog = out.split("exit status:", 1)[1]
    blocks = dict(re.findall(r"^  (\d+) +(.*?)(?=^  \d+ |\Z)", epilog, flags=re.M | re.S))
    assert sorted(blocks, key=int) == ["0", "1", "2", "75"], out
    for code, meaning in (("0", "every row"), ("1", "failed"), ("2", "nothing was sent"), ("75", "Redis")):
        assert meaning in " ".join(blocks[code].split()), (code, out)


def test_fleet_guide_names_the_exit_codes() -> None:
    guide = (Path(__file__).parents[1] / "docs" / "guides" / "fleet.md").read_text()
    section = guide.split("## Exit status", 1)[1].split("\n## ", 1)[0]
    for code in ("0", "1", "2", "75"):
        assert f"| {code} |" in section, section


async def test_send_row_sends_a_merchant_coupon_once(emu: RunningEmulator) -> None:
    from wxpay_async.batch import request_number, send_row

    from .test_merchant_coupon import stock_args

    async with Client(**emu.client_kwargs(), retry=RETRY) as wx:
        made = await wx.merchant_coupon.create_stock(**stock_args(max_coupons=10, max_coupons_per_user=1))
        stock_id = str(made.stock_id)
        row = {"openid": "m-1"}
        runs = [send_row(wx, row, batch_id="tqm", kind="merchant", stock_id=stock_id, appid=APPID) for _ in range(4)]
        outcomes = await asyncio.gather(*runs)
    assert {o.state for o in outcomes} == {"sent"} and len({o.coupon_id for o in outcomes}) == 1
    assert outcomes[0].request_no == request_number("tqm", f"{stock_id}:m-1")
    issued = [c for c in emu.ledger()["coupons"] if c["kind"] == "merchant" and c["stock_id"] == stock_id]
    assert [c["openid"] for c in issued] == ["m-1"]


async def test_an_invalid_row_is_a_failed_outcome_on_a_fleet_as_on_one_host(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """A row that cannot be sent (no openid) fails alone; the fleet loader used to stop the whole batch."""
    keys_dir, stock_id, _openids, _source = await cli_batch(emu, tmp_path, "inv", 0)
    source = tmp_path / "mixed.csv"
    source.write_text("openid,key\ninv-1,\n,lonely\ninv-3,\n")
    with redis_proc(tmp_path) as server:
        proc = await host(
            *the_issue_command(source, server.url, "inv", keys_dir, stock_id, tmp_path / "r.csv", "--chunk-rows", "2")
        )
        text = await done(proc)
    assert proc.returncode == 1, text  # a row failed
    assert "Traceback" not in text and field(text, "batch rows done").startswith("3/3"), text
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert len(lines) == 4 and sum("VALIDATION" in line for line in lines) == 1, lines
    issued = sorted(c["openid"] for c in emu.ledger()["coupons"] if c["stock_id"] == stock_id)
    assert issued == ["inv-1", "inv-3"]


async def test_resume_with_an_invalid_row_in_the_input(emu: RunningEmulator, tmp_path: Path) -> None:
    """``--resume`` re-reads the input to re-queue retryable failures; an invalid row in it is skipped."""
    from wxpay_async.emulator import create_running_stock

    async with Client(**emu.client_kwargs()) as wx:
        stock_id = await create_running_stock(wx, max_coupons=100)
    openids = [f"ri-{i:02d}" for i in range(10)]
    rows = [{"openid": o} for o in openids[:5]] + [{"openid": ""}] + [{"openid": o} for o in openids[5:]]

    with redis_proc(tmp_path) as server:
        emu.push_faults(*[{"kind": "system_error", "path_prefix": "/v3/marketing/favor/users/"}] * 3)
        first = await run_single_try_sender(emu, server.url, "ri", stock_id, rows, resume=False)
        assert first.sent == 9 and first.failed == 2 and first.batch_done == 11, first.describe()
        resumed = await run_single_try_sender(emu, server.url, "ri", stock_id, rows, resume=True)
    assert resumed.sent == 1 and resumed.batch_done == 11, resumed.describe()
    issued = Counter(c["openid"] for c in emu.ledger()["coupons"] if c["stock_id"] == stock_id)
    assert sorted(issued) == openids and set(issued.values()) == {1}
