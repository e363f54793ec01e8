"""Convert the reference OpenAPI YAML into wxpay_async/spec/operations.json.

    python scripts/openapi_to_spec.py [--openapi scripts/reference/openapi] [--check]

The reference YAML is vendored in scripts/reference/openapi (TheNorthMemory/wechatpay-openapi, MIT;
its SOURCE.md names the commit), so ``--check`` runs in a plain checkout.

Each operation becomes one entry: method, path, parameters (path/query/body/form) with resolved
schemas (``$ref`` and ``allOf`` flattened), the 200 response schema, and the hand-written
overrides from ``wxpay_async/spec/overrides.json`` (method name, English description, request
number field, pagination, kind, validation constraints and rules the developer guide gives, upload
limits). Operations the YAML lacks (``stop``) come from the overrides. Field descriptions become
one-line English from ``wxpay_async/spec/descriptions.json`` (the Chinese stays as
``description_zh``); request-number fields get WeChat Pay's charset and length.
The output is deterministic, so regenerating is a no-op when nothing changed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from wxpay_async.spec import load_part

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = ROOT / "wxpay_async" / "spec"
DEFAULT_OPENAPI = ROOT / "scripts" / "reference" / "openapi"
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
            merged: dict[str, Any] = {"type": "object", "properties": {}}
            for part in parts:
                _deep_merge(merged, part)
            if node.get("description"):
                merged["description"] = _one_line(node["description"])
            return merged
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


def _deep_merge(target: dict[str, Any], part: dict[str, Any]) -> None:
    """Merge an allOf part into ``target``: nested objects merge property by property.

    (A part that refines ``coupon_use_rule`` with one more field must not replace the whole
    ``CouponUseRule`` another part defined.)
    """
    for key, value in part.items():
        if key == "properties":
            props = target.setdefault("properties", {})
            for name, sub in value.items():
                if name in props and props[name].get("type") == "object" and sub.get("type") == "object":
                    _deep_merge(props[name], sub)
                else:
                    props[name] = sub
        elif key == "required":
            target["required"] = [
                *target.get("required", []),
                *[r for r in value if r not in target.get("required", [])],
            ]
        elif key == "description":
            target.setdefault("description", value)
        else:
            target[key] = value


def _one_line(text: Any) -> str:
    line = " ".join(str(text).split())
    cut = line.find(" [")
    return line[:cut] if cut > 0 else line


def convert(openapi: Path) -> list[dict[str, Any]]:
    resolver = Resolver(openapi)
    overrides = load_part("overrides")
    # A family whose official sources define an operation as another one's twin (brand-direct
    # product coupons: the partner operation on /brand/ without brand_id) derives it, last.
    derived = {k: v for k, v in overrides["operations"].items() if "derive" in v}
    overrides["operations"] = {k: v for k, v in overrides["operations"].items() if k not in derived}
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
        extra = dict(extra)
        if key not in operations:
            operations[key] = extra.pop("definition")
            operations[key].setdefault("summary_zh", "")
        constraints = extra.pop("constraints", {})
        operations[key].update(extra)
        operations[key]["key"] = key
        for where, rule in sorted(constraints.items()):
            _constrain(operations[key], where, rule)
    missing = [k for k, v in operations.items() if "name" not in v]
    if missing:
        raise SystemExit(f"overrides.json lacks a name for: {', '.join(missing)}")
    english = load_part("descriptions")
    untranslated: set[str] = set()
    for op in operations.values():
        op.setdefault("rules", [])
        op.setdefault("upload", None)
        _request_numbers(op)
        _openids(op)
        for part in ("body", "response"):
            if op.get(part):
                _prune_required(op[part])
        for param in op["path_params"] + op["query_params"] + op["form"]:
            _translate(param["schema"], param["name"], english, untranslated)
        for part in ("body", "response"):
            if op.get(part):
                _translate(op[part], "", english, untranslated)
    if untranslated:
        raise SystemExit("descriptions.json lacks English for: " + ", ".join(sorted(untranslated)))
    sources = load_part("sources")["operations"]
    for key, op in operations.items():
        op["sources"] = list(sources[key])
    corrections = load_part("corrections")["corrections"]
    for correction in corrections:
        _correct(operations, correction)
    guaranteed = load_part("answer_required")["operations"]
    for key, op in operations.items():
        if op.get("response"):
            _answer_required(op["response"], guaranteed.get(key))
    for key, extra in derived.items():
        operations[key] = _derive(operations, key, dict(extra), sources)
    return [operations[k] for k in sorted(operations, key=lambda k: (operations[k]["group"], operations[k]["name"]))]


#: WeChat Pay's request-number charset; at most 128 characters unless the YAML says less.
REQUEST_NUMBER_PATTERN = r"^[0-9A-Za-z_\-|*]+$"


def _prune_required(schema: dict[str, Any]) -> None:
    """Drop ``required`` names an object never defines (the YAML has a few, e.g. ``use_method``)."""
    if schema.get("type") == "object":
        props = schema.get("properties") or {}
        if "required" in schema:
            schema["required"] = [r for r in schema["required"] if r in props]
            if not schema["required"]:
                del schema["required"]
        for sub in props.values():
            _prune_required(sub)
    elif schema.get("type") == "array" and schema.get("items"):
        _prune_required(schema["items"])


def _openids(op: dict[str, Any]) -> None:
    """Every ``openid`` path or query parameter gets the openid rule (wxpay_async/validation.py OPENID)."""
    from wxpay_async.validation import OPENID, OPENID_RULE

    for param in op["path_params"] + op["query_params"]:
        if param["name"] == "openid":
            param["schema"].setdefault("pattern", OPENID.pattern)
            param["schema"].setdefault("x-rule", OPENID_RULE)


def _request_numbers(op: dict[str, Any]) -> None:
    """Every body field named ``*request_no`` gets the request-number charset and length."""
    for name, schema in ((op.get("body") or {}).get("properties") or {}).items():
        if name.endswith("request_no") and schema.get("type") == "string":
            schema.setdefault("pattern", REQUEST_NUMBER_PATTERN)
            schema.setdefault("maxLength", 128)
            schema.setdefault("minLength", 1)


def _constrain(op: dict[str, Any], where: str, rule: dict[str, Any]) -> None:
    """Apply a hand-written constraint: ``body.a.b`` (nested properties) or ``query.name``."""
    part, _, dotted = where.partition(".")
    if part == "query":
        target = next(p["schema"] for p in op["query_params"] if p["name"] == dotted)
    elif part == "body":
        target = _node(op, where)
    else:
        raise SystemExit(f"{op['key']}: unknown constraint target {where}")
    target.update(rule)


def _node(op: dict[str, Any], where: str) -> dict[str, Any]:
    """``response.a.b`` / ``body.a`` / ``query``: a schema node (arrays are entered on the way)."""
    part, _, dotted = where.partition(".")
    if part == "query":
        return op
    node: dict[str, Any] = op[part]
    for name in filter(None, dotted.split(".")):
        while node.get("type") == "array":
            node = node["items"]
        node = node["properties"][name]
    while node.get("type") == "array":  # a list: its items are corrected
        node = node["items"]
    return node


def _answer_required(schema: dict[str, Any], official: dict[str, Any] | None) -> None:
    """An answer field is required only where an official model says so (answer_required.json).

    The YAML's ``required`` lists are dropped: real answers lack fields it calls required.
    """

    def strip(node: dict[str, Any]) -> None:
        node.pop("required", None)
        for sub in (node.get("properties") or {}).values():
            strip(sub)
        if node.get("items"):
            strip(node["items"])

    strip(schema)
    for path, names in ((official or {}).get("required") or {}).items():
        node = _node({"response": schema}, f"response.{path}".rstrip("."))
        present = [n for n in names if n in (node.get("properties") or {})]
        if present:
            node["required"] = present


def _objects_with(schema: dict[str, Any], prop: str) -> list[dict[str, Any]]:
    found = []
    if schema.get("type") == "object":
        if prop in (schema.get("properties") or {}):
            found.append(schema)
        for sub in (schema.get("properties") or {}).values():
            found += _objects_with(sub, prop)
    elif schema.get("type") == "array" and schema.get("items"):
        found += _objects_with(schema["items"], prop)
    return found


def _correct(operations: dict[str, dict[str, Any]], correction: dict[str, Any]) -> None:
    """Apply one entry of corrections.json; every entry names its official source."""
    if not correction.get("source"):
        raise SystemExit(f"corrections.json: an entry names no source: {correction}")
    if "objects_with" in correction:
        nodes = [
            node
            for op in operations.values()
            if op.get("group") == correction["group"] and op.get(correction["part"])
            for node in _objects_with(op[correction["part"]], correction["objects_with"])
        ]
        targets = [(None, node) for node in nodes]
    else:
        keys = correction["op"] if isinstance(correction["op"], list) else [correction["op"]]
        targets = [(operations[k], _node(operations[k], correction["at"])) for k in keys]
    if not targets:
        raise SystemExit(f"corrections.json: nothing to correct for {correction}")
    for op, node in targets:
        props = node.get("properties")
        for name in correction.get("remove", ()):
            del props[name]
            if name in node.get("required", []):
                node["required"].remove(name)
        for old, new in (correction.get("rename") or {}).items():
            props[new] = props.pop(old)
            node["required"] = [new if r == old else r for r in node.get("required", [])]
        for name, schema in (correction.get("add") or {}).items():
            props[name] = json.loads(json.dumps(schema))
        for name, origin in (correction.get("copy") or {}).items():
            props[name] = _copied(operations, node, origin)
        if correction.get("required_remove"):
            node["required"] = [r for r in node.get("required", []) if r not in correction["required_remove"]]
        node.update(correction.get("set") or {})
        if node.get("required") == []:
            del node["required"]
        if op is not None:
            op["query_params"] += correction.get("add_query", [])
            op["rules"] = [*op.get("rules", []), *correction.get("rules", [])]
            op.setdefault("sources", [])
            if correction["source"] not in op["sources"]:
                op["sources"].append(correction["source"])


def _derive(
    operations: dict[str, dict[str, Any]], key: str, extra: dict[str, Any], sources: dict[str, Any]
) -> dict[str, Any]:
    """An operation defined as a twin of another: its schemas with fields removed or added.

    ``derive``: ``from`` (the twin's key), ``remove`` (field names dropped everywhere: body,
    query, answer, nested), ``add`` (``{"body.x": {"from": key, "at": "body.x"}}``: a schema
    copied from another operation), ``rules`` (replacing the twin's cross-field rules).
    """
    how = extra.pop("derive")
    twin = operations[how["from"]]
    op: dict[str, Any] = json.loads(json.dumps(twin))
    method, _, path = key.partition(" ")
    op.update(method=method, path=path, key=key)
    removed = set(how.get("remove", ()))

    def drop(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                for name in removed & set(props):
                    del props[name]
                if "required" in node:
                    node["required"] = [r for r in node["required"] if r not in removed]
                    if not node["required"]:
                        del node["required"]
            for value in node.values():
                drop(value)
        elif isinstance(node, list):
            for value in node:
                drop(value)

    op["query_params"] = [p for p in op["query_params"] if p["name"] not in removed]
    for part in ("body", "response"):
        if op.get(part):
            drop(op[part])
    for where, origin in sorted((how.get("add") or {}).items()):
        part, _, name = where.partition(".")
        schema = json.loads(json.dumps(_node(operations[origin["from"]], origin["at"])))
        op[part]["properties"][name] = schema
    if "rules" in how:
        op["rules"] = list(how["rules"])
    else:  # the twin's rules, minus those about removed fields
        op["rules"] = [r for r in op.get("rules", []) if not removed & set(json.dumps(r).split('"'))]
    op.update(extra)
    op["sources"] = list(sources[key])
    return op


def _copied(operations: dict[str, dict[str, Any]], node: dict[str, Any], origin: dict[str, Any]) -> dict[str, Any]:
    """A field's schema copied from another: ``{"from": sibling}`` in the same object, or
    ``{"op": key, "at": "response.a", "from": name}`` elsewhere (without ``from``: that whole object),
    where an official model names both the same type; ``description`` replaces the copied one's."""
    if "op" in origin:
        node = _node(operations[origin["op"]], origin["at"])
    source = node["properties"][origin["from"]] if "from" in origin else node  # no "from": the whole object
    copied: dict[str, Any] = json.loads(json.dumps(source))
    if origin.get("description"):
        copied["description"] = origin["description"]
        copied.pop("description_zh", None)
    return copied


def _translate(schema: dict[str, Any], name: str, english: dict[str, Any], untranslated: set[str]) -> None:
    """Replace the Chinese description by its English line; keep the original as description_zh."""
    zh = schema.get("description_zh", schema.get("description"))
    if zh:
        schema["description_zh"] = zh
        if zh in english["zh"]:
            schema["description"] = english["zh"][zh]
        else:
            untranslated.add(zh)
    elif name in english["by_name"]:
        schema["description"] = english["by_name"][name]
    elif name:
        untranslated.add(f"(field {name})")
    for prop, sub in (schema.get("properties") or {}).items():
        _translate(sub, prop, english, untranslated)
    if schema.get("type") == "array" and schema.get("items"):
        item = schema["items"]
        _translate(item, "", english, untranslated)


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
