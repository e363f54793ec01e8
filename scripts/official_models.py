"""Extract the official request and answer models' field sets into tests/official/models.json.

    python scripts/official_models.py --skills <wechatpay-skills git dir> \\
        --go <wechatpay-go git dir> --java <wechatpay-java git dir>

Only field names, their nesting and coarse kinds are written (no upstream code): for every model,
its repository, path and commit, and per field the JSON name, whether it is a list, and the model
it nests (if any). ``operations`` maps each ``METHOD /path`` to the request and answer model of
every official source that implements it:

* product coupons (partner mode): the Go samples of wechatpay-apiv3/wechatpay-skills
  (``wechatpay-product-coupon/references/2-服务商/代码示例/Go``), one self-contained file per call;
* cash coupons: wechatpay-apiv3/wechatpay-go ``services/cashcoupons`` and
  wechatpay-apiv3/wechatpay-java ``service/.../cashcoupons/model``.

tests/test_official_models.py compares our spec with this file; the repositories are not needed
to run it. Re-run this script to refresh the data (its output is deterministic).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "tests" / "official" / "models.json"
SKILLS = "wechatpay-apiv3/wechatpay-skills"
GO = "wechatpay-apiv3/wechatpay-go"
JAVA = "wechatpay-apiv3/wechatpay-java"
SKILLS_DIR = "wechatpay-product-coupon/references/2-服务商/代码示例/Go/"
JAVA_DIR = "service/src/main/java/com/wechat/pay/java/service/cashcoupons/"
GO_FILES = ("services/cashcoupons/models.go",)
GO_APIS = (
    "services/cashcoupons/api_call_back_url.go",
    "services/cashcoupons/api_coupon.go",
    "services/cashcoupons/api_stock.go",
)

#: Operations an official SDK models without a service method: key -> (request, answer) class names.
MODEL_ONLY = {
    "POST /v3/marketing/favor/stocks/{stock_id}/modify-goods-id": (
        "ModifyAvailableSingleitemRequest",
        "ModifyAvailableSingleitemResponse",
    ),
    "POST /v3/marketing/favor/media/image-upload": ("MediaImageRequest", "MediaImageResponse"),
}
GO_UPLOADER = ("services/fileuploader/marketing_image_uploader.go", "MarketingImageUploadResponse")

GO_FIELD = re.compile(r"^\s+\w+\s+(\*?\[\])?\*?([\w.]+)\s+`json:\"([^,\"]+)")
GO_SCALARS = {"string", "int64", "int32", "int", "bool", "float64", "time.Time", "byte", "interface{}"}


def git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, check=True).stdout


def go_structs(text: str) -> tuple[dict[str, dict[str, dict[str, Any]]], set[str]]:
    """struct name -> {json name: {"list": bool, "type": Go type}}; and the scalar (enum) type names."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    scalars: set[str] = set()
    current: dict[str, dict[str, Any]] | None = None
    for line in text.splitlines():
        if m := re.match(r"^type (\w+) struct \{", line):
            current = out.setdefault(m.group(1), {})
        elif m := re.match(r"^type (\w+) (string|int64|int32|bool)\b", line):
            scalars.add(m.group(1))
        elif line.startswith("}"):
            current = None
        elif current is not None and (f := GO_FIELD.match(line)):
            if f.group(3) == "-":
                continue
            current[f.group(3)] = {"list": bool(f.group(1)) and f.group(2) != "byte", "type": f.group(2)}
    return out, scalars


class Collector:
    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, list[dict[str, Any]]] = {}

    def add_model(
        self,
        repo: str,
        commit: str,
        path_of: Callable[[str], str],
        types: dict[str, dict[str, dict[str, Any]]],
        name: str,
    ) -> str:
        """Model ``name`` of ``types`` and every model its fields nest (each defined in ``path_of(its name)``); its key."""
        path = path_of(name)
        key = f"{repo}:{path}#{name}"
        if key in self.models:
            return key
        self.models[key] = {"repository": repo, "commit": commit, "path": path, "name": name, "fields": {}}
        fields: dict[str, Any] = {}
        for json_name, info in types[name].items():
            entry: dict[str, Any] = {"list": info["list"]}
            if info["type"] in types:
                entry["model"] = self.add_model(repo, commit, path_of, types, info["type"])
            fields[json_name] = entry
        self.models[key]["fields"] = dict(sorted(fields.items()))
        return key

    def add_go_model(
        self, repo: str, commit: str, path: str, types: dict[str, dict[str, dict[str, Any]]], name: str
    ) -> str:
        """A Go model: every struct it nests is in the same file."""
        return self.add_model(repo, commit, lambda _: path, types, name)

    def operation(self, key: str, source: dict[str, Any]) -> None:
        self.operations.setdefault(key, []).append(source)


def skills(collector: Collector, repo_dir: str) -> None:
    commit = git(repo_dir, "rev-parse", "HEAD").strip()
    files = [
        p
        for p in git(repo_dir, "-c", "core.quotepath=off", "ls-tree", "-r", "--name-only", "HEAD").splitlines()
        if p.startswith(SKILLS_DIR) and p.endswith(".go")
    ]
    head = re.compile(
        r"^func (\w+)\(config [^,)]+(?:, request \*(\w+))?\) \((?:response )?\*(\w+),\s*(?:err\s+)?error\) \{", re.M
    )
    for path in sorted(files):
        text = git(repo_dir, "show", f"HEAD:{path}")
        types, _ = go_structs(text)
        for m in head.finditer(text):
            body = text[m.end() : m.end() + 600]
            where = re.search(r"method\s*=\s*\"(\w+)\"[\s;]*path\s*=\s*\"([^\"]+)\"", body)
            if where is None:
                continue
            name, request, response = m.groups()
            source = {"repository": SKILLS, "commit": commit, "path": path, "function": name}
            if request:
                source["request"] = collector.add_go_model(SKILLS, commit, path, types, request)
            source["answer"] = collector.add_go_model(SKILLS, commit, path, types, response)
            collector.operation(f"{where.group(1)} {where.group(2)}", source)


def wechatpay_go(collector: Collector, repo_dir: str) -> None:
    commit = git(repo_dir, "rev-parse", "HEAD").strip()
    models_path = GO_FILES[0]
    types, _ = go_structs(git(repo_dir, "show", f"HEAD:{models_path}"))
    func = re.compile(
        r"func \(a \*\w+\) (\w+)\(ctx context.Context, req (\w+)\) \(resp \*(\w+), result [^)]*\) \{"
        r".*?localVarHTTPMethod\s*=\s*nethttp\.Method(\w+)"
        r".*?localVarPath := consts\.WechatPayAPIServer \+ \"([^\"]+)\"",
        re.S,
    )
    for api in GO_APIS:
        text = git(repo_dir, "show", f"HEAD:{api}")
        for m in func.finditer(text):
            name, request, response, method, api_path = m.groups()
            source = {"repository": GO, "commit": commit, "path": api, "function": name}
            source["request"] = collector.add_go_model(GO, commit, models_path, types, request)
            source["answer"] = collector.add_go_model(GO, commit, models_path, types, response)
            collector.operation(f"{method.upper()} {api_path}", source)
    for key, (request, response) in MODEL_ONLY.items():
        if key not in collector.operations and request in types and response in types:
            source = {"repository": GO, "commit": commit, "path": models_path, "function": "(models only)"}
            source["request"] = collector.add_go_model(GO, commit, models_path, types, request)
            source["answer"] = collector.add_go_model(GO, commit, models_path, types, response)
            collector.operation(key, source)
    uploader, answer = GO_UPLOADER
    uploader_types, _ = go_structs(git(repo_dir, "show", f"HEAD:{uploader}"))
    source = {"repository": GO, "commit": commit, "path": uploader, "function": "MarketingImageUploader.Upload"}
    source["answer"] = collector.add_go_model(GO, commit, uploader, uploader_types, answer)
    collector.operation("POST /v3/marketing/favor/media/image-upload", source)


JAVA_FIELD = re.compile(r"@SerializedName\(\"([^\"]+)\"\)\s*(?:@\w+(?:\([^)]*\))?\s*)*private\s+([\w<>, ]+?)\s+\w+;")


def wechatpay_java(collector: Collector, repo_dir: str) -> None:
    commit = git(repo_dir, "rev-parse", "HEAD").strip()
    names = [p for p in git(repo_dir, "ls-tree", "-r", "--name-only", "HEAD", JAVA_DIR + "model/").splitlines()]
    classes: dict[str, dict[str, dict[str, Any]]] = {}
    for path in names:
        text = git(repo_dir, "show", f"HEAD:{path}")
        cls = Path(path).stem
        if not re.search(rf"public class {cls}\b", text):
            continue  # enums: scalar values
        fields: dict[str, dict[str, Any]] = {}
        for m in JAVA_FIELD.finditer(text):
            java_type = m.group(2).replace(" ", "")
            is_list = java_type.startswith("List<")
            inner = java_type[5:-1] if is_list else java_type
            fields[m.group(1)] = {"list": is_list, "type": inner}
        classes[cls] = fields

    def add(cls: str) -> str:
        """A Java model: each class in its own file."""
        return collector.add_model(JAVA, commit, lambda name: f"{JAVA_DIR}model/{name}.java", classes, cls)

    service = JAVA_DIR + "CashCouponsService.java"
    text = git(repo_dir, "show", f"HEAD:{service}")
    method_re = re.compile(
        r"public (\w+) (\w+)\(\s*(\w+) request\) \{\s*String requestPath =\s*"
        r"\"https://api\.mch\.weixin\.qq\.com([^\"]+)\".*?HttpMethod\.(\w+)",
        re.S,
    )
    for m in method_re.finditer(text):
        response, name, request, api_path, method = m.groups()
        source = {"repository": JAVA, "commit": commit, "path": service, "function": name}
        source["request"] = add(request)
        if response in classes:
            source["answer"] = add(response)
        collector.operation(f"{method} {api_path}", source)
    for key, (request, response) in MODEL_ONLY.items():
        if not any(s["repository"] == JAVA for s in collector.operations.get(key, [])) and request in classes:
            source = {"repository": JAVA, "commit": commit, "path": f"{JAVA_DIR}model/", "function": "(models only)"}
            source["request"] = add(request)
            source["answer"] = add(response)
            collector.operation(key, source)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skills", required=True, help="wechatpay-apiv3/wechatpay-skills checkout or git dir")
    parser.add_argument("--go", required=True, help="wechatpay-apiv3/wechatpay-go checkout or git dir")
    parser.add_argument("--java", required=True, help="wechatpay-apiv3/wechatpay-java checkout or git dir")
    args = parser.parse_args()
    collector = Collector()
    skills(collector, args.skills)
    wechatpay_go(collector, args.go)
    wechatpay_java(collector, args.java)
    note = (
        "Field sets of the official request and answer models (names, nesting, lists only), "
        "written by scripts/official_models.py; tests/test_official_models.py compares the spec with them."
    )
    data = {
        "note": note,
        "operations": {
            k: sorted(v, key=lambda s: (s["repository"], s["path"])) for k, v in sorted(collector.operations.items())
        },
        "models": dict(sorted(collector.models.items())),
    }
    TARGET.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {TARGET}: {len(collector.operations)} operations, {len(collector.models)} models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
