"""Every official request and answer field is in our spec, under the same name, nested alike.

The official field sets are vendored in tests/official/models.json (scripts/official_models.py
extracts them with repository, path and commit): product coupons from the Go samples of
wechatpay-apiv3/wechatpay-skills, cash coupons from wechatpay-go's and wechatpay-java's models.
A field an official model has and our spec lacks (or names differently) fails here, nested
objects included, so a caller never reads ``None`` for a field WeChat Pay sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL = json.loads((ROOT / "tests" / "official" / "models.json").read_text(encoding="utf-8"))
OPERATIONS = {
    op["key"]: op for op in json.loads((ROOT / "wxpay_async" / "spec" / "operations.json").read_text(encoding="utf-8"))
}

#: Request fields the SDK builds itself instead of taking them from the caller, with the reason.
SDK_BUILT: dict[str, dict[str, str]] = {
    "POST /v3/marketing/partner/product-coupon/media/upload-image": {
        "meta": "the multipart 'meta' part: the SDK writes filename and sha256 from the file argument",
        "file": "the file argument of upload_image",
    },
    "POST /v3/marketing/favor/media/image-upload": {
        "meta": "the multipart 'meta' part: the SDK writes filename and sha256 from the file argument",
        "file": "the file argument of upload_image",
    },
}


def _enter(schema: dict[str, Any]) -> dict[str, Any]:
    while schema.get("type") == "array":
        schema = schema.get("items") or {}
    return schema


def compare(model_key: str, ours: dict[str, Any], where: str, skip: dict[str, str], problems: list[str]) -> None:
    model = OFFICIAL["models"][model_key]
    props = _enter(ours).get("properties") or {}
    for name, field in model["fields"].items():
        at = f"{where}.{name}".lstrip(".")
        if at in skip:
            continue
        if name not in props:
            problems.append(f"{at}: missing (official {model['name']} in {model['repository']}:{model['path']})")
            continue
        sub = props[name]
        if field["list"] and sub.get("type") != "array":
            problems.append(f"{at}: official is a list, ours is {sub.get('type')}")
        if "model" in field:
            inner = _enter(sub)
            if inner.get("type") != "object" or not inner.get("properties"):
                if OFFICIAL["models"][field["model"]]["fields"]:
                    problems.append(f"{at}: official nests an object, ours is {inner.get('type')}")
                continue
            compare(field["model"], inner, at, skip, problems)


def request_schema(op: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for where in ("path_params", "query_params", "form"):
        for param in op.get(where) or []:
            props[param["name"]] = param.get("schema") or {}
    props.update((op.get("body") or {}).get("properties") or {})
    return {"type": "object", "properties": props}


def _cases(part: str) -> list[Any]:
    """(operation, official source) for every source with a ``part`` model (GetNotifyConfig takes no request)."""
    return [
        pytest.param(key, source, id=f"{key} {source['repository'].split('/')[1]}")
        for key, sources in OFFICIAL["operations"].items()
        for source in sources
        if part in source
    ]


def test_every_official_operation_is_ours() -> None:
    assert set(OFFICIAL["operations"]) <= set(OPERATIONS)
    assert len(_cases("request")) >= 45 and len(_cases("answer")) >= 48  # the corpus did not shrink


def test_the_vendored_models_name_their_source() -> None:
    for key, model in OFFICIAL["models"].items():
        assert model["repository"].startswith("wechatpay-apiv3/"), key
        assert len(model["commit"]) == 40 and model["path"], key


@pytest.mark.parametrize(("key", "source"), _cases("request"))
def test_request_fields_match_the_official_model(key: str, source: dict[str, Any]) -> None:
    problems: list[str] = []
    compare(source["request"], request_schema(OPERATIONS[key]), "", SDK_BUILT.get(key, {}), problems)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("key", "source"), _cases("answer"))
def test_answer_fields_match_the_official_model(key: str, source: dict[str, Any]) -> None:
    problems: list[str] = []
    compare(source["answer"], OPERATIONS[key].get("response") or {}, "", {}, problems)
    assert not problems, "\n".join(problems)
