"""The ``wxpay-async`` command: emulator, demo, batch sends and everyday tools.

Credentials for commands that call WeChat Pay come from ``WXPAY_*`` environment variables
(see ``wxpay_async.ENV_VARS``) or, with ``--keys-dir``, from a directory written by
``wxpay-async emulator`` (handy against the local emulator).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._redis import require_redis
from .errors import RedisUnavailable, WxPayError

if TYPE_CHECKING:
    from .batch import Fleet, Journal


_T = TypeVar("_T")


class CLIError(Exception):
    """A user mistake on the command line: printed without a traceback, exit status 2."""


def _client_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    from ._config import env_settings

    keys_dir: Path | None = getattr(args, "keys_dir", None)
    if keys_dir is not None:
        config = keys_dir / "merchant.json"
        if not config.exists():
            raise CLIError(f"{config} not found (create it with: wxpay-async emulator --keys-dir {keys_dir})")
        try:
            return _keys_dir_kwargs(args, keys_dir, config)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # never the values: merchant.json holds keys
            what = f"lacks {exc.args[0]!r}" if isinstance(exc, KeyError) else f"is not valid ({type(exc).__name__})"
            raise CLIError(f"{config} {what}: recreate it with 'wxpay-async emulator --keys-dir {keys_dir}'") from None
    kwargs = env_settings()
    if getattr(args, "base_url", None):
        kwargs["base_url"] = args.base_url
    return kwargs


def _keys_dir_kwargs(args: argparse.Namespace, keys_dir: Path, config: Path) -> dict[str, Any]:
    """Client keyword arguments from the emulator's ``merchant.json``."""
    data = json.loads(config.read_text(encoding="utf-8"))
    if getattr(args, "brand", False):  # 品牌直连: the emulator's brand (brand_* entries of merchant.json)
        if not data.get("brand_private_key_file"):
            raise CLIError(f"{config} has no brand: recreate the directory with a newer 'wxpay-async emulator'")
        return {
            "brand_id": data["brand_id"],
            "brand_serial": data["brand_serial"],
            "private_key": keys_dir / data["brand_private_key_file"],
            "brand_api_key": data["brand_api_key"],
            "platform_public_key": keys_dir / data["public_key_file"],
            "platform_public_key_id": data["public_key_id"],
            "base_url": getattr(args, "base_url", None) or data["base_url"],
        }
    kwargs: dict[str, Any] = {
        "mchid": data["mchid"],
        "merchant_serial": data["merchant_serial"],
        "private_key": keys_dir / data["private_key_file"],
        "apiv3_key": data["apiv3_key"],
        "base_url": data["base_url"],
    }
    if data.get("public_key_file") and data.get("public_key_id") and not getattr(args, "certificates", False):
        kwargs["platform_public_key"] = keys_dir / data["public_key_file"]
        kwargs["platform_public_key_id"] = data["public_key_id"]
    if getattr(args, "base_url", None):
        kwargs["base_url"] = args.base_url
    return kwargs


# -- commands ----------------------------------------------------------------------------------
def cmd_selfcheck(args: argparse.Namespace) -> int:
    from .crypto import Verifier, aead_decrypt, request_message, rsa_sign
    from .devkeys import generate_key_pair

    plain = aead_decrypt(
        "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb", "uluk4a9R25RW", "associatedData", "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="
    )
    print(f"AEAD_AES_256_GCM known answer (wechatpay-java vector): {plain!r}")
    pair = generate_key_pair("selfcheck")
    message = request_message("GET", "/v3/certificates", "1700000000", "n" * 32, b"")
    ok = Verifier([pair.certificate]).verify(pair.serial, message, rsa_sign(pair.private_key, message))
    print(f"SHA256withRSA sign/verify round trip with serial {pair.serial}: {'ok' if ok else 'FAILED'}")
    return 0 if ok and plain == b"message" else 1


async def _certificates_download(args: argparse.Namespace) -> int:
    from . import Client
    from .certificates import certificates_to_json

    kwargs = _client_kwargs(args)
    kwargs.pop("platform_public_key", None)
    kwargs.pop("platform_public_key_id", None)
    async with Client(**kwargs) as wx:
        manager = wx.certificate_manager
        assert manager is not None
        certificates = manager.certificates
    out: Path | None = args.output
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for cert in certificates:
            (out / f"wechatpay_{cert.serial_no}.pem").write_text(cert.pem)
        print(f"wrote {len(certificates)} certificate(s) to {out}")
    else:
        print(certificates_to_json(certificates))
    return 0


def _headers_from(pairs: Sequence[str], headers_file: Path | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if headers_file is not None:
        loaded = json.loads(headers_file.read_text())
        if not isinstance(loaded, dict):
            raise CLIError(f"{headers_file} must hold a JSON object of headers")
        headers.update({str(k): str(v) for k, v in loaded.items()})
    for pair in pairs:
        name, sep, value = pair.partition(":")
        if not sep:
            raise CLIError(f"--header expects 'Name: value', got {pair!r}")
        headers[name.strip()] = value.strip()
    return headers


def _notification_body(arg: str) -> bytes:
    """The body: ``-`` (stdin), the JSON text itself, or a file holding it."""
    if arg == "-":
        return sys.stdin.buffer.read()
    if arg.lstrip().startswith("{"):
        return arg.encode("utf-8")
    path = Path(arg)
    if not path.is_file():
        raise CLIError(f"{arg!r} is neither a file nor a JSON notification body (pass the text, a file or -)")
    return path.read_bytes()


async def _notify_decrypt(args: argparse.Namespace) -> int:
    from . import Client

    body = _notification_body(str(args.body))
    async with Client(**_client_kwargs(args)) as wx:
        if args.no_verify:
            from .notifications import decrypt_resource

            try:
                envelope = json.loads(body)
                resource = decrypt_resource(envelope["resource"], wx.credentials.notification_key)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise CLIError(f"not a notification body: {type(exc).__name__}: {exc}") from None
            result: Any = {**{k: v for k, v in envelope.items() if k != "resource"}, "resource": resource}
        else:
            handler = wx.notification_handler()
            notification = handler.parse(_headers_from(args.header, args.headers_file), body)
            result = {
                "id": notification.id,
                "event_type": notification.event_type,
                "create_time": notification.create_time.isoformat(),
                "summary": notification.summary,
                "resource": notification.resource,
            }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


async def _flow_download(args: argparse.Namespace) -> int:
    from . import Client

    async with Client(**_client_kwargs(args)) as wx:
        favor = wx.favor
        flow: Any
        if args.date:
            by_day = favor.get_use_flow_by_day if args.kind == "use" else favor.get_refund_flow_by_day
            flow = await by_day(args.stock_id, bill_date=args.date)
        else:
            flow = await (favor.get_use_flow if args.kind == "use" else favor.get_refund_flow)(args.stock_id)
        out: Path = args.output or Path(f"{args.kind}-flow-{args.stock_id}.csv")
        await favor.download_flow(flow, to=out)  # the hash field differs between the flow answers
    print(f"downloaded {out} ({out.stat().st_size} bytes, hash verified)")
    return 0


def run_async(coro: Coroutine[Any, Any, _T], loop: str = "auto") -> _T:
    """``asyncio.run``, on uvloop when it is installed (``loop="auto"``) or asked for.

    Only the command line does this: the library never sets an event loop or a loop policy.
    """
    if loop != "asyncio":
        try:
            uvloop = importlib.import_module("uvloop")  # optional: not a dependency, no stubs needed
        except ImportError:
            if loop == "uvloop":
                coro.close()
                raise CLIError("--loop uvloop: uvloop is not installed (pip install uvloop)") from None
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(coro)
    return asyncio.run(coro)


def _send_batch_workers(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``send-batch --workers N``: N processes (one per core) share the batch through Redis.

    Each worker is this same command with ``--workers 1`` and its own summary file; chunks of rows
    are handed out by the Redis consumer group, so each row is sent by one worker. ``--qps`` stays
    the merchant's total (the workers share one Redis bucket; with ``--local-rate`` each gets a
    Nth). The Redis URL reaches the workers through their environment, never their command line.
    Workers die with this process (PR_SET_PDEATHSIG on Linux, a parent watch elsewhere). This
    process waits for them, then writes the one result file from Redis.
    """
    import signal
    import subprocess
    import tempfile

    from ._redis import REDIS_URL_ENV

    redis_url = _redis_url(args)
    if not redis_url:
        raise CLIError(
            "--workers N shares the batch through Redis: set WXPAY_REDIS_URL, or pass --redis-url-file or --redis"
        )
    require_redis()  # said once, here, rather than by every worker
    from .batch._rows import check_csv_file

    if args.input.exists():
        check_csv_file(args.input)  # likewise for a CSV without an openid column
    if not args.input.exists():
        raise CLIError(f"input file {args.input} does not exist")
    _client_kwargs(args)  # a credentials mistake is reported once, here, before any worker starts
    batch_id = args.batch_id or _content_batch_id(args.input)
    env = {**os.environ, REDIS_URL_ENV: redis_url, PARENT_PID_ENV: str(os.getpid())}
    with tempfile.TemporaryDirectory(prefix="wxpay-batch-") as tmp:
        procs = []
        for worker in range(args.workers):
            child = _worker_argv(argv, args, batch_id, Path(tmp), worker)
            procs.append(subprocess.Popen([sys.executable, "-m", "wxpay_async.cli", *child], env=env))
        # Ctrl-C reaches every worker (same process group); each finishes its in-flight rows.
        # This process only waits for them, then reports.
        previous = signal.signal(signal.SIGINT, lambda *_: None)
        try:
            codes = [proc.wait() for proc in procs]
        finally:
            signal.signal(signal.SIGINT, previous)
        summaries = []
        for worker in range(args.workers):
            path = Path(tmp) / f"summary-{worker}.json"
            if path.exists():
                summaries.append(json.loads(path.read_text()))
    if any(code == EXIT_REDIS_UNAVAILABLE for code in codes):
        return EXIT_REDIS_UNAVAILABLE
    if not summaries:
        print("wxpay-async: no worker finished", file=sys.stderr)
        return 1
    total: dict[str, Any] = {"batch_id": batch_id, "failures_by_code": {}}
    for summary in summaries:
        for key in ("sent", "failed", "duplicates", "limiter_wait", "rate_decreases", "already_done"):
            total[key] = total.get(key, 0) + summary[key]
        total["elapsed"] = max(total.get("elapsed", 0), summary["elapsed"])
        for code, count in summary["failures_by_code"].items():
            total["failures_by_code"][code] = total["failures_by_code"].get(code, 0) + count
        total["interrupted"] = total.get("interrupted", False) or summary["interrupted"]
        total["stopped_early"] = total.get("stopped_early") or summary["stopped_early"]
    result = args.result or args.input.with_name(args.input.stem + ".result.csv")
    written, rows, failed = run_async(_write_fleet_results(args, redis_url, batch_id, result), args.loop)
    from .batch import BatchSummary

    combined = BatchSummary(**total, rows_read=rows, not_sent=max(0, rows - written))
    print(f"{args.workers} workers:")
    print(combined.describe())
    print(f"  result file:      {result} ({written} rows)")
    ok = all(code == 0 for code in codes) and failed == 0 and written >= rows and not combined.interrupted
    return 0 if ok else 1


#: Set for ``--workers`` children: the parent's pid, so a child dies with its parent.
PARENT_PID_ENV = "WXPAY_BATCH_PARENT_PID"
EXIT_REDIS_UNAVAILABLE = 75  # == wxpay_async.batch.EXIT_REDIS_UNAVAILABLE (no batch import here)


def _die_with_parent() -> None:
    """In a ``--workers`` child: get SIGTERM when the parent dies, even by SIGKILL.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` (then the check that the parent did not die
    before the call). Elsewhere: a daemon thread that watches ``getppid()`` once a second.
    SIGTERM lets the child finish its in-flight rows and give its chunks back.
    """
    import signal
    import threading

    text = os.environ.pop(PARENT_PID_ENV, "")
    if not text.isdigit():
        return
    parent = int(text)
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="wxpay-parent-watch", daemon=True).start()


def _worker_argv(argv: Sequence[str], args: argparse.Namespace, batch_id: str, tmp: Path, worker: int) -> list[str]:
    """The parent's command line for one worker: one process; the Redis URL goes by environment."""
    out: list[str] = []
    skip = False
    for item in argv:
        if skip:
            skip = False
            continue
        name = item.split("=", 1)[0]
        if name in ("--workers", "--qps", "--result", "--batch-id", "--summary-json", "--redis", "--redis-url-file"):
            skip = "=" not in item
            continue
        if name in ("-q", "--quiet"):
            continue
        out.append(item)
    # --qps is the merchant's total: the workers share one Redis bucket (a share each with --local-rate).
    qps = args.qps / args.workers if args.local_rate else args.qps
    out += ["--workers", "1", "--qps", repr(qps), "--batch-id", batch_id]
    out += ["--result", str(tmp / f"result-{worker}.csv"), "--summary-json", str(tmp / f"summary-{worker}.json")]
    if args.quiet or worker > 0:
        out.append("-q")  # one progress bar (the first worker's) at most
    return out


async def _write_fleet_results(
    args: argparse.Namespace, redis_url: str, batch_id: str, path: Path
) -> tuple[int, int, int]:
    """The result CSV from Redis: rows written, rows in the batch, failed rows."""
    from .batch import Fleet
    from .batch._results import write_result_csv

    fleet = Fleet(redis_url, batch_id=batch_id, outage_limit=args.redis_wait)
    try:
        status = await fleet.status()
        count, failed = await write_result_csv(path, fleet.outcomes())
    finally:
        await fleet.aclose()
    return count, int(status["rows"]), failed


def _redis_url(args: argparse.Namespace) -> str | None:
    """``--redis``, else ``--redis-url-file``, else ``$WXPAY_REDIS_URL`` (never required on argv)."""
    from ._redis import redis_url_from

    url_file: Path | None = getattr(args, "redis_url_file", None)
    if url_file is not None and not url_file.is_file():
        raise CLIError(f"--redis-url-file {url_file}: no such file")
    return redis_url_from(getattr(args, "redis", None), url_file)


def _content_batch_id(path: Path) -> str:
    """The default batch id: from the input's content (SHA-256), never its file name, so every host
    holding a copy of one list, however named, sends it with the same request numbers."""
    from .batch import file_sha256

    return f"input-{file_sha256(path)[:24]}"


async def _send_batch(args: argparse.Namespace) -> int:
    from .batch import JournalError, SqliteJournal, file_sha256
    from .batch._rows import check_csv_file

    if not args.input.exists():
        raise CLIError(f"input file {args.input} does not exist")
    check_csv_file(args.input)  # a CSV without an openid column: said before any journal exists
    fingerprint = await asyncio.to_thread(file_sha256, args.input)
    batch_id = args.batch_id or f"input-{fingerprint[:24]}"
    redis_url = _redis_url(args)
    if redis_url:
        client_kwargs = _client_kwargs(args)
        try:
            return await _run_fleet(args, redis_url, batch_id, fingerprint, client_kwargs)
        except JournalError as exc:
            raise CLIError(f"{exc}; nothing was sent") from None
    if args.resume and not args.batch_id and args.journal.exists():
        # Resuming without --batch-id: the batch the journal records (journals made before the
        # default id came from the content recorded the file's stem), then checked as usual.
        recorded = await asyncio.to_thread(_journal_batch_ids, args.journal)
        if len(recorded) == 1:
            batch_id = recorded[0]
    journal = SqliteJournal(args.journal, input_sha256=fingerprint, resume=args.resume)
    if not args.resume and args.journal.exists():
        raise CLIError(f"journal {args.journal} exists: pass --resume to continue that batch, or choose another")
    client_kwargs = _client_kwargs(args)  # credentials first: a mistake there creates no journal
    try:
        # Check the journal before connecting to anyone: a bad one sends nothing.
        try:
            await journal.open(batch_id)
        finally:
            await journal.close()
        return await _run_batch(args, journal, batch_id, client_kwargs)
    except JournalError as exc:
        raise CLIError(f"{exc}; nothing was sent") from None


def _journal_batch_ids(path: Path) -> list[str]:
    """The batch ids a SQLite journal records (none when it is not a readable journal)."""
    import sqlite3

    try:
        with open(path, "rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                return []
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return [str(row[0]) for row in db.execute("SELECT batch_id FROM batch_meta")]
        finally:
            db.close()
    except (OSError, sqlite3.DatabaseError):
        return []


def _sender_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "kind": args.kind,
        "qps": args.qps,
        "concurrency": args.concurrency,
        "appid": args.appid,
        "stock_id": args.stock_id,
        "stock_creator_mchid": args.stock_creator_mchid,
        "defaults": {
            k: v for k, v in (("product_coupon_id", args.product_coupon_id), ("brand_id", args.brand_id)) if v
        },
        "progress": None if args.quiet else sys.stderr,
    }


async def _run_fleet(
    args: argparse.Namespace, redis_url: str, batch_id: str, fingerprint: str, client_kwargs: dict[str, Any]
) -> int:
    """One host of a fleet: chunks of the batch from the Redis consumer group, until every row has
    an outcome (see docs/guides/fleet.md)."""
    import attrs

    from . import Client
    from .batch import FleetSender, RedisUnavailable

    result = args.result or args.input.with_name(args.input.stem + ".result.csv")
    try:
        async with Client(**client_kwargs) as wx:
            sender = FleetSender(
                wx,
                batch_id=batch_id,
                redis_url=redis_url,
                input_sha256=fingerprint,
                chunk_rows=args.chunk_rows,
                lease=args.lease,
                outage_limit=args.redis_wait,
                expire=args.expire_days * 86400,
                shared_rate=not args.local_rate,
                resume=args.resume,
                **_sender_options(args),
            )
            try:
                summary = await sender.run(args.input)
                written = await sender.write_results(result)
            finally:
                await sender.aclose()
    except RedisUnavailable as exc:
        print(f"wxpay-async: {exc}", file=sys.stderr)
        return EXIT_REDIS_UNAVAILABLE
    if args.summary_json is not None:  # for the parent of --workers N
        args.summary_json.write_text(json.dumps(attrs.asdict(summary)))
    summary.not_sent = max(0, summary.batch_rows - summary.batch_done)
    print(summary.describe())
    print(f"  result file:      {result} ({written} rows)")
    complete = summary.batch_done >= summary.batch_rows and not summary.stopped_early
    ok = complete and summary.failed == 0 and summary.batch_failed == 0 and not summary.interrupted
    return 0 if ok else 1


async def _run_batch(args: argparse.Namespace, journal: Journal, batch_id: str, client_kwargs: dict[str, Any]) -> int:
    import attrs

    from . import Client
    from .batch import BatchSender

    async with Client(**client_kwargs) as wx:
        sender = BatchSender(wx, batch_id=batch_id, journal=journal, **_sender_options(args))
        try:
            summary = await sender.run(args.input)
            result = args.result or args.input.with_name(args.input.stem + ".result.csv")
            written = await sender.write_results(result)
        finally:
            await sender.aclose()
    if args.summary_json is not None:
        args.summary_json.write_text(json.dumps(attrs.asdict(summary)))
    print(summary.describe())
    print(f"  result file:      {result} ({written} rows)")
    return 0 if summary.failed == 0 and not summary.interrupted else 1


def _batch_fleet(args: argparse.Namespace, needs_redis: str) -> Fleet:
    """The ``--batch-id`` batch in the Redis ``_redis_url`` names; without one, ``needs_redis`` says why it is needed."""
    from .batch import Fleet

    url = _redis_url(args)
    if not url:
        raise CLIError(f"{needs_redis}: set WXPAY_REDIS_URL, or pass --redis-url-file or --redis")
    return Fleet(url, batch_id=args.batch_id, outage_limit=args.redis_wait)


async def _batch_status(args: argparse.Namespace) -> int:
    fleet = _batch_fleet(args, "batch status reads Redis")
    try:
        status = await fleet.status()
        status["outcomes"] = await fleet.outcome_counts() if status["exists"] else {}
    finally:
        await fleet.aclose()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    if not status["exists"]:
        print(f"batch {args.batch_id}: not in Redis (never started, cleaned up, or expired)")
        return 1
    rows, done = status["rows"], status["done"]
    state = "finished" if status["loaded"] and done >= rows else ("loading" if not status["loaded"] else "running")
    if status["stopped"]:
        state = f"stopped: {status['stopped']}"
    print(f"batch {args.batch_id}: {state}")
    print(f"  rows with an outcome: {done}/{rows}" + (f" ({100 * done / rows:.1f}%)" if rows else ""))
    outcomes = status["outcomes"]
    details = ", ".join(f"{k.split(':', 1)[1]}: {v}" for k, v in sorted(outcomes.items()) if k.startswith("failed:"))
    print(
        f"  outcomes:             sent {outcomes.get('sent', 0)}, failed {outcomes.get('failed', 0)}"
        + (f" ({details})" if details else "")
        + f", duplicate {outcomes.get('duplicate', 0)}"
    )
    print(f"  chunks held by hosts: {status['chunks_held']}")
    hosts = status["live_hosts"]
    print(f"  live hosts:           {len(hosts)}" + (f" ({', '.join(hosts)})" if hosts else ""))
    return 0


async def _batch_cleanup(args: argparse.Namespace) -> int:
    fleet = _batch_fleet(args, "batch cleanup needs Redis")
    try:
        status = await fleet.status()
        if status["live_hosts"] and not args.force:
            raise CLIError(
                f"batch {args.batch_id} has {len(status['live_hosts'])} live host(s); stop them first or pass --force"
            )
        deleted = await fleet.cleanup()
    finally:
        await fleet.aclose()
    print(f"batch {args.batch_id}: {deleted} Redis key(s) deleted")
    return 0


def cmd_emulator(args: argparse.Namespace) -> int:
    try:
        from .emulator import serve
    except ImportError as exc:  # pragma: no cover - the emulator ships with the package
        raise CLIError(f"the emulator is not available: {exc}") from None
    token = args.admin_token or os.environ.get("WXPAY_EMULATOR_ADMIN_TOKEN") or None
    run_async(serve(args.host, args.port, args.keys_dir, admin_token=token), args.loop)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        from .demo import run_demo
    except ImportError:
        return cmd_selfcheck(args)
    return run_async(run_demo(coupons=args.coupons, out=sys.stdout), args.loop)


# -- parser ------------------------------------------------------------------------------------
def _add_credentials(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys-dir", type=Path, help="use the merchant.json written by 'wxpay-async emulator'")
    parser.add_argument("--base-url", help="override the API base URL")
    parser.add_argument(
        "--brand",
        action="store_true",
        help="with --keys-dir: call as the emulator's brand (品牌直连); from the environment: set WXPAY_BRAND_ID",
    )


#: ``send-batch --help``; the same table is in docs/guides/fleet.md ("Exit status").
SEND_BATCH_EXIT_STATUS = """exit status:
  0   every row of the batch has an outcome (on a fleet: sent by any host) and no row failed
  1   rows failed, the batch stopped early (stock ran out or paused), the run was interrupted
      (SIGINT/SIGTERM), or an error stopped it (one line on stderr); rows without an outcome are
      sent by the next run with the same request numbers (--resume also retries retryable failures)
  2   a mistake on the command line (a missing input file, a journal that exists without --resume,
      another input for the same --batch-id), said in one line; nothing was sent
  75  Redis stayed unreachable past --redis-wait (EX_TEMPFAIL); nothing was sent twice; run again
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wxpay-async",
        description="WeChat Pay APIv3 marketing coupons: emulator, demo, batch sends and tools.",
        epilog="Credentials: WXPAY_* environment variables, or --keys-dir DIR for the local emulator.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log each HTTP attempt")
    parser.add_argument(
        "--loop",
        choices=["auto", "uvloop", "asyncio"],
        default="auto",
        help="event loop: uvloop when installed (auto, the default), or asyncio's own",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="run an end-to-end demo against the built-in emulator (no credentials)")
    p.add_argument("--coupons", type=int, default=20, help="coupons to send concurrently (default 20)")
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("emulator", help="run the local WeChat Pay emulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--keys-dir", type=Path, default=Path(".wxpay-emulator"), help="dev keys + merchant.json (created)")
    p.add_argument(
        "--admin-token",
        help="require this X-Emulator-Admin-Token header on /_emulator/ calls (or WXPAY_EMULATOR_ADMIN_TOKEN)",
    )
    p.set_defaults(run=cmd_emulator)

    p = sub.add_parser("selfcheck", help="check the crypto primitives against known answers")
    p.set_defaults(run=cmd_selfcheck)

    certs = sub.add_parser("certificates", help="platform certificates")
    certs_sub = certs.add_subparsers(dest="certificates_command", required=True, metavar="ACTION")
    p = certs_sub.add_parser("download", help="download, decrypt and verify the platform certificates")
    _add_credentials(p)
    p.add_argument("-o", "--output", type=Path, help="directory for wechatpay_<serial>.pem (default: JSON to stdout)")
    p.set_defaults(run=lambda a: run_async(_certificates_download(a), a.loop))

    notify = sub.add_parser("notify", help="notifications")
    notify_sub = notify.add_subparsers(dest="notify_command", required=True, metavar="ACTION")
    p = notify_sub.add_parser("decrypt", help="verify and decrypt a notification body")
    _add_credentials(p)
    p.add_argument("body", help="the raw notification body as JSON text, a file holding it, or - for stdin")
    p.add_argument("-H", "--header", action="append", default=[], help="'Wechatpay-Serial: ...' (repeat)")
    p.add_argument("--headers-file", type=Path, help="JSON object with the notification's headers")
    p.add_argument("--no-verify", action="store_true", help="only decrypt (when the headers were not kept)")
    p.set_defaults(run=lambda a: run_async(_notify_decrypt(a), a.loop))

    flow = sub.add_parser("flow", help="coupon use/refund flow files")
    flow_sub = flow.add_subparsers(dest="flow_command", required=True, metavar="ACTION")
    p = flow_sub.add_parser("download", help="download a stock's use or refund flow, checking its SHA-1")
    _add_credentials(p)
    p.add_argument("stock_id")
    p.add_argument("--kind", choices=["use", "refund"], default="use")
    p.add_argument("--date", help="bill_date YYYY-MM-DD for the by-day flow")
    p.add_argument("-o", "--output", type=Path)
    p.set_defaults(run=lambda a: run_async(_flow_download(a), a.loop))

    p = sub.add_parser(
        "send-batch",
        help="send one coupon per CSV row, exactly once, resumable",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=SEND_BATCH_EXIT_STATUS,
    )
    _add_credentials(p)
    p.add_argument("input", type=Path, help="CSV with an openid column (and optional stock_id, key, ...)")
    p.add_argument("--kind", choices=["cash", "product", "merchant"], default="cash")
    p.add_argument("--stock-id", help="stock for rows without a stock_id column")
    p.add_argument("--product-coupon-id", help="product coupon id (product coupons)")
    p.add_argument("--brand-id", help="brand id (product coupons)")
    p.add_argument("--appid", help="appid the openids belong to")
    p.add_argument("--stock-creator-mchid", help="default: the client's mchid")
    p.add_argument("--qps", type=float, default=500.0, help="send rate limit (default 500/s)")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--journal", type=Path, default=Path("batch.db"), help="SQLite journal (default batch.db)")
    _add_redis(p)
    p.add_argument("--local-rate", action="store_true", help="with Redis: --qps per host, not shared")
    p.add_argument("--chunk-rows", type=_positive_int, default=500, help="rows per Redis stream entry (default 500)")
    p.add_argument(
        "--lease",
        type=float,
        default=10.0,
        help="seconds without a heartbeat after which a host's chunks are taken over (default 10)",
    )
    p.add_argument(
        "--expire-days", type=float, default=7.0, help="a finished batch's Redis keys expire after (default 7)"
    )
    p.add_argument("--batch-id", help="default: derived from the input's content (SHA-256), not its name")
    p.add_argument("--resume", action="store_true", help="continue the batch recorded in the journal")
    p.add_argument("--result", type=Path, help="result CSV (default INPUT.result.csv)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="N processes, one per core, sharing the batch through Redis (--qps stays the total)",
    )
    p.add_argument("--summary-json", type=Path, help=argparse.SUPPRESS)
    p.set_defaults(run=lambda a: run_async(_send_batch(a), a.loop))

    batch = sub.add_parser("batch", help="batches shared through Redis: status, cleanup")
    batch_sub = batch.add_subparsers(dest="batch_command", required=True, metavar="ACTION")
    p = batch_sub.add_parser("status", help="progress, outcomes and live hosts of a batch")
    p.add_argument("batch_id")
    _add_redis(p)
    p.add_argument("--json", action="store_true", help="machine-readable")
    p.set_defaults(run=lambda a: run_async(_batch_status(a), a.loop))
    p = batch_sub.add_parser("cleanup", help="delete a batch's Redis keys (finished ones expire by themselves)")
    p.add_argument("batch_id")
    _add_redis(p)
    p.add_argument("--force", action="store_true", help="even while hosts still work on it")
    p.set_defaults(run=lambda a: run_async(_batch_cleanup(a), a.loop))
    return parser


def _add_redis(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--redis",
        metavar="URL",
        help="share the batch through Redis (redis://, rediss://, redis+cluster://, redis+sentinel://); "
        "better: $WXPAY_REDIS_URL or --redis-url-file, which keep the password out of ps",
    )
    p.add_argument("--redis-url-file", type=Path, help="a file whose first line is the Redis URL")
    p.add_argument(
        "--redis-wait",
        type=float,
        default=60.0,
        help="wait out a Redis outage this long (seconds, default 60), then stop with exit status 75",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _stdout_closed() -> int:
    """``wxpay-async ... | head -1``: the reader left. Quietly stop, as Unix tools do.

    stdout is pointed at /dev/null so that Python's own flush at exit does not report the
    closed pipe a second time (the recipe of the Python docs, "Note on SIGPIPE").
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + 13  # the status of a process ended by SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:  # also after --help or a usage error (SystemExit): a closed pipe shows here
            sys.stdout.flush()
    except BrokenPipeError:
        return _stdout_closed()


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    _die_with_parent()
    if getattr(args, "workers", 1) > 1:
        args.run = lambda a: _send_batch_workers(a, argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        result: int = args.run(args)
    except CLIError as exc:
        parser.exit(2, f"wxpay-async: error: {exc}\n")
    except RedisUnavailable as exc:  # batch status / cleanup as send-batch: the outage status
        print(f"wxpay-async: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_REDIS_UNAVAILABLE
    except WxPayError as exc:
        print(f"wxpay-async: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
