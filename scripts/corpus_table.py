"""Write the per-operation table of tests/official/README.md from the corpus files.

python scripts/corpus_table.py           # rewrite the table between the markers
python scripts/corpus_table.py --check   # exit 1 if the table is out of date (a test runs this)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "official"
START, END = "<!-- corpus:start -->", "<!-- corpus:end -->"
SLUGS = {
    "wxpage": "official page",
    "brandpage": "official brand page",
    "go": "wechatpay-go sample/test",
    "brandgo": "wechatpay-skills brand Go sample",
    "gomodel": "wechatpay-go model",
    "java": "wechatpay-java",
    "php": "wechatpay-php",
    "seed": "seed (official docs)",
    "skills": "wechatpay-skills",
}


def table() -> str:
    ops = json.loads((ROOT / "wxpay_async" / "spec" / "operations.json").read_text(encoding="utf-8"))
    names = [f"{o['group']}.{o['name']}" for o in ops] + ["notification.coupon_use", "notification.product_coupon_send"]
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted((CORPUS / "examples").glob("*.json")):
        example = json.loads(path.read_text(encoding="utf-8"))
        slug = re.sub(r"-\d+$", "", path.stem.rsplit(".", 1)[1])
        found[example["operation"]][example["kind"]].append(SLUGS.get(slug, slug))
    rows = ["| operation | requests | answers | notifications |", "|---|---|---|---|"]
    for name in sorted(names):
        kinds = found.get(name, {})

        def cell(kind: str, kinds: dict[str, list[str]] = kinds) -> str:
            counted = sorted({(s, kinds[kind].count(s)) for s in kinds.get(kind, [])})
            return ", ".join(f"{n}× {s}" for s, n in counted) or "—"

        rows.append(f"| `{name}` | {cell('request')} | {cell('answer')} | {cell('notification')} |")
    total = sum(len(v) for k in found.values() for v in k.values())
    none = [n for n in sorted(names) if not found.get(n)]
    rows.append("")
    rows.append(f"{total} examples; {len(none)} operations without any: " + ", ".join(f"`{n}`" for n in none) + ".")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    readme = CORPUS / "README.md"
    text = readme.read_text(encoding="utf-8")
    new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: f"{START}\n{table()}\n{END}", text, flags=re.S)
    if args.check:
        if new != text:
            print("tests/official/README.md is out of date: run python scripts/corpus_table.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
