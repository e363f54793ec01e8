"""A fleet of batch hosts sharing one batch through Redis: 1/2/4 hosts x Redis latency +0/1/5 ms.

    python benchmarks/bench_fleet.py [--rows 3000] [--hosts 1 2 4] [--latency 0 1 5] [--json out.json]

Each host is a real ``wxpay-async send-batch INPUT --redis URL ...`` process (as a team runs it);
the emulator (benchmark mode, rate limit off) and redis-server run in their own processes, and
Redis latency is added by a delaying TCP proxy (benchmarks/_delay_proxy.py) between the hosts and
Redis. Reported per configuration: rows/s (all rows / wall time until every host exited), worker
CPU per row (user+system of the host processes / rows), Redis round trips per row (INFO
commandstats calls delta on the real server / rows), the same two without a host's fixed
start-up cost (measured by starting the same hosts again on the finished batch: interpreter,
imports, joining), and the ratios (start-up excluded) against one host and against +0 ms side
by side. Then two checks of the issue's targets: ``--workers 2 --qps 500``
against the merchant's 500/s, and a host SIGKILLed for good (time until the others finish).
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import free_port, machine_line, markdown_table, wait_port

from wxpay_async.emulator import write_keys_dir
from wxpay_async.testing.redis_server import throwaway_redis

HERE = Path(__file__).resolve().parent
SERVER = """
import asyncio, sys
from wxpay_async.emulator import serve
asyncio.run(serve("127.0.0.1", int(sys.argv[1]), sys.argv[2], benchmark=True, verify_signatures=False,
                  send_rate=0, db_path=None))
"""
STOCK = """
import asyncio, json, sys
from pathlib import Path
from wxpay_async import Client
from wxpay_async.emulator import create_running_stock, load_keys_dir
async def main():
    meta = json.loads((Path(sys.argv[1]) / "merchant.json").read_text())
    async with Client(**load_keys_dir(sys.argv[1]).client_kwargs(meta["base_url"])) as wx:
        print(await create_running_stock(wx, max_coupons=int(sys.argv[2])))
asyncio.run(main())
"""


def redis_calls(port: int) -> int:
    import redis

    r = redis.Redis(port=port)
    try:
        stats = r.info("commandstats")
    finally:
        r.close()
    return sum(int(v["calls"]) for k, v in stats.items() if k not in ("cmdstat_info",))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Fleet:
    def __init__(self, tmp: Path, keys_dir: Path, redis_port: int) -> None:
        self.tmp = tmp
        self.keys_dir = keys_dir
        self.redis_port = redis_port
        self.runs = 0

    def stock(self, n: int) -> str:
        out = subprocess.run([sys.executable, "-c", STOCK, str(self.keys_dir), str(n)], capture_output=True, check=True)
        return out.stdout.decode().strip()

    def input(self, rows: int) -> Path:
        self.runs += 1
        path = self.tmp / f"users-{self.runs}.csv"
        path.write_text("openid\n" + "".join(f"fleet-{self.runs}-{i:07d}\n" for i in range(rows)))
        return path

    def argv(self, source: Path, stock_id: str, url: str, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "wxpay_async.cli",
            "send-batch",
            str(source),
            "--keys-dir",
            str(self.keys_dir),
            "--stock-id",
            stock_id,
            "--appid",
            "wx233544546545989",
            "--redis",
            url,
            "-q",
            *extra,
        ]

    def start_hosts(
        self,
        hosts: int,
        source: Path,
        stock_id: str,
        url: str,
        result_prefix: str,
        *flags: str,
        output: int = subprocess.PIPE,
    ) -> list[subprocess.Popen[bytes]]:
        """``hosts`` send-batch processes on one batch, host i writing ``{result_prefix}{i}.csv``.

        The throughput, start-up and kill measurements all start their fleet so; ``output`` is where
        each host's stdout and stderr go (PIPE to read them, DEVNULL when only the exit matters).
        """
        return [
            subprocess.Popen(
                self.argv(source, stock_id, url, *flags, "--result", str(self.tmp / f"{result_prefix}{i}.csv")),
                stdout=output,
                stderr=output,
            )
            for i in range(hosts)
        ]

    def run(self, hosts: int, latency_ms: float, rows: int, qps: float, concurrency: int) -> dict[str, Any]:
        port = free_port()
        proxy = subprocess.Popen(
            [sys.executable, str(HERE / "_delay_proxy.py"), str(port), str(self.redis_port), str(latency_ms)]
        )
        try:
            wait_port(port, proxy)
            url = f"redis://127.0.0.1:{port}/0"
            source = self.input(rows)
            stock_id = self.stock(rows + 10)
            calls0, cpu0 = redis_calls(self.redis_port), children_cpu()
            t0 = time.perf_counter()
            procs = self.start_hosts(
                hosts, source, stock_id, url, "r", "--qps", str(qps), "--concurrency", str(concurrency)
            )
            outs = [p.communicate(timeout=600) for p in procs]
            wall = time.perf_counter() - t0
            cpu = children_cpu() - cpu0
            calls = redis_calls(self.redis_port) - calls0
            # The fixed cost of a host (interpreter, imports, joining): the same hosts again on the
            # finished batch, where they join, find every row done and exit.
            cpu1, t1 = children_cpu(), time.perf_counter()
            again = self.start_hosts(hosts, source, stock_id, url, "s", "--qps", str(qps), output=subprocess.DEVNULL)
            for p in again:
                p.wait(timeout=120)
            start_wall, start_cpu = time.perf_counter() - t1, children_cpu() - cpu1
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
        failed = [(o + e).decode()[-2000:] for p, (o, e) in zip(procs, outs, strict=True) if p.returncode != 0]
        if failed:
            raise SystemExit(f"a host failed:\n{failed[0]}")
        return {
            "hosts": hosts,
            "redis +ms": latency_ms,
            "rows": rows,
            "rows/s": rows / wall,
            "CPU ms/row": 1000 * cpu / rows,
            "rows/s excl. start": rows / max(1e-9, wall - start_wall),
            "CPU ms/row excl. start": 1000 * max(0.0, cpu - start_cpu) / rows,
            "Redis calls/row": calls / rows,
        }

    def workers_rate(self, rows: int) -> dict[str, Any]:
        """``--workers 2 --qps 500``: the rate both workers hold together (the merchant's 500/s)."""
        source = self.input(rows)
        stock_id = self.stock(rows + 10)
        with throwaway_redis() as url:
            t0 = time.perf_counter()
            proc = subprocess.run(
                self.argv(source, stock_id, url, "--workers", "2", "--qps", "500", "--result", str(self.tmp / "w.csv")),
                capture_output=True,
                check=False,
            )
            wall = time.perf_counter() - t0
        text = proc.stdout.decode()
        line = [x for x in text.splitlines() if "sent now" in x][-1:]  # the parent's combined summary
        return {"rows": rows, "exit": proc.returncode, "wall rows/s": rows / wall, "summary": "".join(line).strip()}

    def kill_one(self, rows: int, hosts: int = 4, qps: float = 400.0) -> dict[str, Any]:
        """A host SIGKILLed for good after 1.5 s: how long until the others have finished every row."""
        source = self.input(rows)
        stock_id = self.stock(rows + 10)
        with throwaway_redis() as url:
            procs = self.start_hosts(hosts, source, stock_id, url, "k", "--qps", str(qps))
            time.sleep(1.5)
            procs[0].send_signal(signal.SIGKILL)
            killed = time.perf_counter()
            procs[0].communicate()
            outs = [p.communicate(timeout=600) for p in procs[1:]]
            after = time.perf_counter() - killed
        done = [next((x for x in o.decode().splitlines() if "batch rows done" in x), "") for o, _ in outs]
        codes = [p.returncode for p in procs[1:]]
        return {"hosts": hosts, "rows": rows, "exit codes": codes, "s after kill": after, "done": done[0].strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 1.0, 5.0])
    parser.add_argument("--qps", type=float, default=100_000.0, help="the merchant's rate (default: no limit)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--skip-checks", action="store_true", help="only the table")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name, throwaway_redis() as redis_url:
        tmp = Path(tmp_name)
        keys_dir = tmp / "keys"
        port = free_port()
        write_keys_dir(keys_dir, f"http://127.0.0.1:{port}")
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(keys_dir)], stdout=subprocess.DEVNULL)
        try:
            wait_port(port, server)
            redis_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
            fleet = Fleet(tmp, keys_dir, redis_port)
            results = []
            for latency in args.latency:
                for hosts in args.hosts:
                    result = fleet.run(hosts, latency, args.rows, args.qps, args.concurrency)
                    print(json.dumps(result), flush=True)
                    results.append(result)
            checks: dict[str, Any] = {}
            if not args.skip_checks:
                checks["workers_2_qps_500"] = fleet.workers_rate(3000)
                print(json.dumps(checks["workers_2_qps_500"]), flush=True)
                checks["host_killed"] = fleet.kill_one(args.rows)
                print(json.dumps(checks["host_killed"]), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=10)
    base = {r["redis +ms"]: r for r in results if r["hosts"] == args.hosts[0]}
    zero = {r["hosts"]: r for r in results if r["redis +ms"] == args.latency[0]}
    for r in results:
        one = base[r["redis +ms"]]
        r["rows/s vs 1 host"] = r["rows/s excl. start"] / one["rows/s excl. start"]
        r["CPU/row vs 1 host"] = r["CPU ms/row excl. start"] / one["CPU ms/row excl. start"]
        r["rows/s vs +0 ms"] = r["rows/s excl. start"] / zero[r["hosts"]]["rows/s excl. start"]
    columns = [
        "hosts",
        "redis +ms",
        "rows",
        "rows/s",
        "CPU ms/row",
        "rows/s excl. start",
        "CPU ms/row excl. start",
        "Redis calls/row",
        "rows/s vs 1 host",
        "CPU/row vs 1 host",
        "rows/s vs +0 ms",
    ]
    print(f"\n{machine_line()}\n")
    print(markdown_table(results, columns))
    for name, check in checks.items():
        print(f"\n{name}: {json.dumps(check)}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_line(), "results": results, "checks": checks}, indent=2))


if __name__ == "__main__":
    main()
