"""Batch journals fail safe, through the real CLI: corrupted, truncated, empty, foreign journals
give one line and exit 2, and nothing is sent. SQLite runs off the event loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from wxpay_async.batch import JournalError, RowOutcome, SqliteJournal, file_sha256
from wxpay_async.emulator import RunningEmulator, run_emulator

from .test_batch_emulator import APPID, cli_batch
from .test_cli import run_cli


@pytest.fixture
async def emu() -> RunningEmulator:
    async with run_emulator(send_rate=0) as running:
        yield running  # type: ignore[misc]


def sent_requests(emu: RunningEmulator) -> int:
    return len(emu.ledger()["requests"])


async def _first_run(emu: RunningEmulator, tmp_path: Path) -> tuple[list[str], Path, Path]:
    keys_dir, stock_id, _, source = await cli_batch(emu, tmp_path, "j", 40)
    journal = tmp_path / "batch.db"
    args = ["send-batch", str(source), "--keys-dir", str(keys_dir), "--stock-id", stock_id, "--appid", APPID]
    args += ["--journal", str(journal), "-q"]
    code, _, err = await run_cli(*args)
    assert code == 0, err
    return args, journal, source


def _assert_refused(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wxpay-async: error: "), err
    assert "Traceback" not in err and "nothing was sent" in err
    for word in words:
        assert word in err, err


async def test_damaged_journals_are_refused_and_nothing_is_sent(emu: RunningEmulator, tmp_path: Path) -> None:
    args, journal, _ = await _first_run(emu, tmp_path)
    good = journal.read_bytes()
    before = sent_requests(emu)

    journal.write_bytes(good[: len(good) // 2])  # truncated
    code, _, err = await run_cli(*args, "--resume")
    _assert_refused(code, err, "journal")

    journal.write_bytes(b"\0" * 100 + good[100:])  # header overwritten
    code, _, err = await run_cli(*args, "--resume")
    _assert_refused(code, err, "not an SQLite journal")

    journal.write_bytes(b"")  # 0 bytes: used to re-send every row silently
    code, _, err = await run_cli(*args, "--resume")
    _assert_refused(code, err, "empty")

    journal.write_bytes(b"SQLite format 3\0" + b"\xff" * 4080)  # right magic, garbage after it
    code, _, err = await run_cli(*args, "--resume")
    _assert_refused(code, err)

    assert sent_requests(emu) == before


async def test_resume_refuses_another_batch_id_or_input_file(emu: RunningEmulator, tmp_path: Path) -> None:
    args, _, source = await _first_run(emu, tmp_path)
    before = sent_requests(emu)
    code, _, err = await run_cli(*args, "--resume", "--batch-id", "another-batch")
    _assert_refused(code, err, "another-batch", "refusing to resume")

    original = source.read_text()
    source.write_text(original + "j-extra-1\nj-extra-2\n")  # another input file under the same name
    code, _, err = await run_cli(*args, "--resume")
    _assert_refused(code, err, "another input file")
    assert sent_requests(emu) == before

    source.write_text(original)  # the same input again: resumes, everything done before
    code, out, err = await run_cli(*args, "--resume")
    assert code == 0 and "done before:      40" in out, err
    assert sent_requests(emu) == before


async def test_journal_records_batch_and_fingerprint(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("openid\na\n")
    sha = file_sha256(source)
    journal = SqliteJournal(tmp_path / "j.db", input_sha256=sha, resume=False)
    await journal.open("b1")
    await journal.close()
    again = SqliteJournal(tmp_path / "j.db", input_sha256=sha, resume=True)
    await again.open("b1")
    await again.close()
    for batch_id, fingerprint in (("b2", sha), ("b1", "0" * 64)):
        with pytest.raises(JournalError):
            await SqliteJournal(tmp_path / "j.db", input_sha256=fingerprint, resume=True).open(batch_id)
    assert not list(tmp_path.glob(".j.db.*.tmp"))  # built aside, renamed into place


async def test_sqlite_work_leaves_the_event_loop(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.db", commit_every=2)
    await journal.open("b")
    threads: set[int] = set()
    assert journal._db is not None
    journal._db.set_trace_callback(lambda statement: threads.add(threading.get_ident()))
    for i in range(5):
        assert await journal.first_index(f"k{i}", i) == i
        await journal.record(RowOutcome(key=f"k{i}", index=i, request_no=f"r{i}", state="sent", coupon_id=str(i)))
    await journal.flush()
    assert set((await journal.lookup(["k1", "k4", "zz"])).keys()) == {"k1", "k4"}
    assert [o.key async for o in journal.outcomes()] == [f"k{i}" for i in range(5)]
    await journal.close()
    assert threads and threading.get_ident() not in threads
    assert asyncio.get_running_loop().is_running()
