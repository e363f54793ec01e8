"""Structuring/unstructuring cost per call for the largest models, next to the crypto cost per call.

    python benchmarks/bench_models.py [--rounds 2000]

Answers are built from the spec's examples (every optional field filled), so these are the
worst cases a call pays on top of one rsa_sign + one rsa_verify.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import BenchKeys, crypto_floor_us, machine_line, markdown_table

from wxpay_async import converter, models
from wxpay_async.emulator import sample_from_schema as sample
from wxpay_async.validation import operations


def model_for(op: dict[str, Any]) -> type[Any] | None:
    module = getattr(models, op["group"])
    name = "".join(p.capitalize() for p in op["name"].split("_")) + "Response"
    return getattr(module, name, None)


def per_call_us(fn: Any, rounds: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - start) / rounds * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--top", type=int, default=6)
    args = parser.parse_args()
    candidates = []
    for op in operations().values():
        model = model_for(op)
        if model is None or not op.get("response"):
            continue
        payload = sample(op["response"])
        candidates.append((len(json.dumps(payload, ensure_ascii=False)), op, model, payload))
    candidates.sort(key=lambda c: -c[0])
    floor = crypto_floor_us(BenchKeys(), b"{}" * 100)
    rows = []
    everyday = [c for c in candidates if f"{c[1]['group']}.{c[1]['name']}" in ("favor.send_coupon", "favor.get_stock")]
    for size, op, model, payload in candidates[: args.top] + everyday:
        raw = json.dumps(payload, ensure_ascii=False).encode()
        obj = converter.structure(json.loads(raw), model)
        structure = per_call_us(lambda raw=raw, model=model: converter.structure(json.loads(raw), model), args.rounds)
        unstructure = per_call_us(lambda obj=obj: converter.unstructure(obj), args.rounds)
        rows.append(
            {
                "operation": f"{op['group']}.{op['name']}",
                "model": model.__name__,
                "JSON bytes": size,
                "parse+structure µs": structure,
                "unstructure µs": unstructure,
                "share of crypto floor": (structure + unstructure) / floor,
            }
        )
    print(f"\n{machine_line()}; crypto floor (rsa_sign + rsa_verify) {floor:,.0f} µs/call\n")
    print(
        markdown_table(
            rows, ["operation", "model", "JSON bytes", "parse+structure µs", "unstructure µs", "share of crypto floor"]
        )
    )


if __name__ == "__main__":
    main()
