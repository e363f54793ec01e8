"""Convert the reference OpenAPI YAML into wxpay_async/spec/operations.json.

    python scripts/openapi_to_spec.py [--openapi ../shared/reference/openapi] [--check]

Each operation becomes one entry: method, path, parameters (path/query/body/form) with resolved
schemas (``$ref`` and ``allOf`` flattened), the 200 response schema, and the hand-written
overrides from ``wxpay_async/spec/overrides.json`` (method name, English description, request
number field, pagination, kind). Operations the YAML lacks (``stop``) come from the overrides.
The output is deterministic, so regenerating is a no-op when nothing changed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = ROOT / "wxpay_async" / "spec"
DEFAULT_OPENAPI = ROOT.parent / "shared" / "reference" / "openapi"
KEEP = ("type", "format", "enum", "maxLength", "minLength", "maximum", "minimum", "maxItems", "pattern", "example")


class Resolver:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[Path, Any] = {}

    def load(self, path: Path) -> Any:
        path = path.resolve()
        if path not in self._files:
            self._files[path] = yaml.safe_load(path.read_text(encoding="utf-8"))
        return self._files[path]

    def schema(self, node: Any, here: Path) -> dict[str, Any]:
        """A flattened schema: objects with properties/required, arrays with items, scalars."""
        if not isinstance(node, dict):
            return {"type": "string"}
        if "$ref" in node:
            ref_file, _, name = str(node["$ref"]).partition("#")
            target = (here.parent / ref_file) if ref_file else here
            doc = self.load(target)
            merged = {**doc[name], **{k: v for k, v in node.items() if k != "$ref"}}
            return self.schema(merged, target)
        if "allOf" in node:
            parts = [self.schema(part, here) for part in node["allOf"]]
            if all(p.get("type") != "object" for p in parts):  # a scalar refined by allOf (enums)
                merged_scalar: dict[str, Any] = {}
                for part in parts:
                    merged_scalar.update(part)
                if node.get("description"):
                    merged_scalar["description"] = _one_line(node["description"])
                return merged_scalar
            props: dict[str, Any] = {}
            required: list[str] = []
            description = node.get("description")
            for part in node["allOf"]:
                sub = self.schema(part, here)
                props.update(sub.get("properties", {}))
                required += [r for r in sub.get("required", []) if r not in required]
                description = description or sub.get("description")
            out: dict[str, Any] = {"type": "object", "properties": props}
            if required:
                out["required"] = required
            if description:
                out["description"] = _one_line(description)
            return out
        kind = node.get("type") or ("object" if "properties" in node else "string")
        out = {k: node[k] for k in KEEP if k in node}
        out["type"] = kind
        if node.get("description"):
            out["description"] = _one_line(node["description"])
        if kind == "object":
            out["properties"] = {name: self.schema(sub, here) for name, sub in (node.get("properties") or {}).items()}
            if node.get("required"):
                out["required"] = list(node["required"])
        elif kind == "array":
            out["items"] = self.schema(node.get("items") or {}, here)
        return out


def _one_line(text: Any) -> str:
    line = " ".join(str(text).split())
    cut = line.find(" [")
    return line[:cut] if cut > 0 else line


def convert(openapi: Path) -> list[dict[str, Any]]:
    resolver = Resolver(openapi)
    overrides = json.loads((SPEC_DIR / "overrides.json").read_text(encoding="utf-8"))
    operations: dict[str, dict[str, Any]] = {}
    for file in sorted((openapi / "v3").rglob("*.yaml")):
        path = "/" + file.relative_to(openapi).with_suffix("").as_posix()
        doc = resolver.load(file)
        for method, op in sorted(doc.items()):
            key = f"{method.upper()} {path}"
            entry: dict[str, Any] = {
                "method": method.upper(),
                "path": path,
                "summary_zh": _one_line(op.get("summary", "")),
                "path_params": [],
                "query_params": [],
                "body": None,
                "form": [],
                "response": None,
            }
            for param in op.get("parameters", []):
                where = param.get("in")
                if where == "body":
                    body = resolver.schema(param.get("schema"), file)
                    # The YAML sometimes lists path fields (openid) or fields it never defines as required.
                    if body.get("required"):
                        body["required"] = [r for r in body["required"] if r in body.get("properties", {})]
                    entry["body"] = body
                    continue
                item = {
                    "name": param["name"],
                    "required": bool(param.get("required", where == "path")),
                    "schema": resolver.schema(
                        {k: v for k, v in param.items() if k not in ("in", "name", "required")}, file
                    ),
                }
                {"path": entry["path_params"], "query": entry["query_params"], "formData": entry["form"]}[where].append(
                    item
                )
            response = (op.get("responses") or {}).get(200) or (op.get("responses") or {}).get("200") or {}
            if response.get("schema"):
                entry["response"] = resolver.schema(response["schema"], file)
            operations[key] = entry
    for key, extra in overrides["operations"].items():
        if key not in operations:
            operations[key] = extra.pop("definition")
            operations[key].setdefault("summary_zh", "")
        operations[key].update({k: v for k, v in extra.items() if k != "definition"})
        operations[key]["key"] = key
    missing = [k for k, v in operations.items() if "name" not in v]
    if missing:
        raise SystemExit(f"overrides.json lacks a name for: {', '.join(missing)}")
    return [operations[k] for k in sorted(operations, key=lambda k: (operations[k]["group"], operations[k]["name"]))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--openapi", type=Path, default=DEFAULT_OPENAPI)
    parser.add_argument("--check", action="store_true", help="exit 1 when operations.json would change")
    args = parser.parse_args()
    text = json.dumps(convert(args.openapi), ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    target = SPEC_DIR / "operations.json"
    if args.check:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is out of date: run python scripts/openapi_to_spec.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
