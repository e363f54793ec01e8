"""Write the brand (品牌直连) official-example corpus from the official Go samples.

    python scripts/brand_corpus.py --samples DIR [--out tests/official/examples]

``DIR`` is wechatpay-apiv3/wechatpay-skills' ``wechatpay-product-coupon/references/1-品牌/代码示例/Go``.
Each sample's ``request := &XRequest{...}`` literal is read with the json tags of the sample's own
struct definitions (and of ``9-SDK工具类/brand_models_and_client.go``) and its enum constants, then
split into path parameters, query and body by the operation's spec (the sample builds its URL the
same way: path fields are replaced into the path, GET fields become the query, the rest the body).
``time.Now()`` (UseUserProductCoupon.go's use_time) cannot be a literal: it is written as a fixed
RFC3339 time and the file says so. The upload sample carries ``[]byte("file data")``: skipped.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from wxpay_async.validation import operations

ROOT = Path(__file__).resolve().parent.parent
COMMIT = "15f40d070c503be7f02c3ebeb8dfb6b8274f3291"
PREFIX = f"wechatpay-apiv3/wechatpay-skills@{COMMIT}:wechatpay-product-coupon/references/1-品牌/代码示例/Go/"
TOKEN = re.compile(
    r'\s*(?:(?P<comment>//[^\n]*)|(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+)|(?P<punct>[{}\[\](),:&*])|(?P<name>[A-Za-z_][\w.]*))',
    re.S,
)


def tags(source: str) -> dict[str, dict[str, str]]:
    """``{StructName: {GoField: json_name}}`` of every struct a file defines."""
    out: dict[str, dict[str, str]] = {}
    for name, body in re.findall(r"type (\w+) struct \{(.*?)\n\}", source, re.S):
        out[name] = dict(re.findall(r"^\s*(\w+)\s+\S+\s+`json:\"(\w+)", body, re.M))
    return out


def enums(source: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*([A-Z][A-Z0-9_]*)\s+\w+\s*=\s*\"([^\"]*)\"", source, re.M))


class Literal:
    def __init__(self, text: str, structs: dict[str, dict[str, str]], consts: dict[str, str]) -> None:
        found = [(m.lastgroup, m.group(m.lastgroup or "")) for m in TOKEN.finditer(text)]
        self.tokens = [t for t in found if t[0] != "comment"]
        self.i = 0
        self.structs, self.consts = structs, consts
        self.notes: list[str] = []

    def peek(self) -> tuple[str | None, str]:
        return self.tokens[self.i]

    def take(self, value: str | None = None) -> str:
        _kind, tok = self.tokens[self.i]
        if value is not None and tok != value:
            raise ValueError(f"expected {value!r}, got {tok!r} at token {self.i}")
        self.i += 1
        return tok

    def value(self, struct: str | None = None) -> Any:
        kind, tok = self.peek()
        if tok == "&":
            self.take()
            return self.value()
        if kind == "str":
            self.take()
            return json.loads(tok)
        if kind == "num":
            self.take()
            return int(tok)
        if tok == "[":
            self.take("[")
            self.take("]")
            if self.peek()[1] == "*":
                self.take()
            return self.items(self.take())  # the element type: elided in the elements
        if kind == "name":
            self.take()
            if tok.startswith("wxpay_brand_utility."):
                helper = tok.split(".", 1)[1]
                self.take("(")
                if helper == "Time":
                    depth = 1
                    while depth:
                        t = self.take()
                        depth += {"(": 1, ")": -1}.get(t, 0)
                    self.notes.append("time.Now() written as 2025-08-01T12:00:00+08:00")
                    return "2025-08-01T12:00:00+08:00"
                inner = self.value()
                self.take(")")
                if helper == "Bool":
                    return inner
                return inner
            if tok in ("true", "false"):
                return tok == "true"
            if tok.endswith(".Ptr"):
                self.take("(")
                self.take(")")
                return self.consts[tok[: -len(".Ptr")]]
            if tok in self.consts:
                return self.consts[tok]
            if self.peek()[1] == "{":
                return self.obj(tok)
            raise ValueError(f"unknown name {tok}")
        raise ValueError(f"unexpected {tok!r}")

    def items(self, element: str) -> list[Any]:
        self.take("{")
        out = []
        while self.peek()[1] != "}":
            out.append(self.obj(element) if self.peek()[1] == "{" else self.value())
            if self.peek()[1] == ",":
                self.take()
        self.take("}")
        return out

    def obj(self, struct: str) -> dict[str, Any]:
        self.take("{")
        fields = self.structs.get(struct)
        if fields is None:  # used by the sample, defined nowhere in the official files
            self.notes.append(f"{struct} is defined in no official file: its fields named snake_case")
            fields = {}
        out: dict[str, Any] = {}
        while self.peek()[1] != "}":
            go = self.take()
            self.take(":")
            out[fields.get(go) or re.sub(r"(?<!^)(?=[A-Z])", "_", go).lower()] = self.value()
            if self.peek()[1] == ",":
                self.take()
        self.take("}")
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "official" / "examples")
    args = parser.parse_args()
    shared = (args.samples / "9-SDK工具类" / "brand_models_and_client.go").read_text(encoding="utf-8")
    brand_ops = {
        (op["method"], op["path"]): op for op in operations().values() if op["group"] == "brand_product_coupon"
    }
    every: dict[str, dict[str, str]] = {}
    every_enum: dict[str, str] = {}
    for other in sorted(args.samples.glob("*/*.go")):  # structs a sample uses but another defines
        text_other = other.read_text(encoding="utf-8")
        every.update(tags(text_other))
        every_enum.update(enums(text_other))
    counts: dict[str, int] = {}
    for path in sorted(args.samples.glob("*/*.go")):
        if "9-SDK" in str(path):
            continue
        source = path.read_text(encoding="utf-8")
        found = re.search(r"\trequest := (&\w+\{.*?\n\t\})\n", source, re.S)
        if found is None:
            continue
        text = source + "\n" + shared
        route = re.search(r'method\s*=\s*"(\w+)"\s*\n\s*path\s*=\s*"([^"]+)"', text)
        assert route is not None
        op = brand_ops[(route.group(1), route.group(2).replace("{bundle_id}", "{stock_bundle_id}"))]
        if op["kind"] == "upload":
            continue  # the sample's file is []byte("file data"): not an example of the meta JSON alone
        literal = Literal(
            found.group(1),
            {**every, **tags(shared), **tags(source)},
            {**every_enum, **enums(shared), **enums(source)},
        )
        data = literal.value()
        path_names = [p["name"] for p in op["path_params"]]
        query_names = {p["name"] for p in op["query_params"]}
        path_params = {k: data.pop(k) for k in path_names if k in data}
        query = {k: data.pop(k) for k in list(data) if k in query_names}
        body = data if op["method"] != "GET" else None
        if op["method"] == "GET" and data:
            raise SystemExit(f"{path.name}: fields neither path nor query: {sorted(data)}")
        name = f"brand_product_coupon.{op['name']}"
        counts[name] = counts.get(name, 0) + 1
        rel = path.relative_to(args.samples).as_posix()
        cleaned = (
            f"{rel}: the Go struct literal of main() converted to JSON with the sample's own json tags and enum "
            "constants (wxpay_brand_utility.String/Int64/Bool unwrapped); path and query fields split off as the "
            "sample's URL building does"
        )
        if literal.notes:
            cleaned += "; " + "; ".join(literal.notes)
        example = {
            "operation": name,
            "kind": "request",
            "source": PREFIX + rel,
            "cleaned": cleaned,
            "path_params": path_params,
            "query": query,
            "body": body,
        }
        number = (body or {}).get("out_request_no")
        if isinstance(number, str) and not 6 <= len(number) <= 40:
            example["violates"] = {
                "field": "out_request_no",
                "rule": "6-40 characters",
                "why": f"the sample's own comment says 必填，创建请求单号，6-40个字符; its value has {len(number)}",
            }
        target = args.out / f"{name}.request.brandgo-{counts[name]}.json"
        target.write_text(json.dumps(example, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {sum(counts.values())} examples for {len(counts)} operations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
