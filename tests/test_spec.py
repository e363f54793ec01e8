"""The endpoint spec (wxpay_async/spec/operations.json): complete, consistent, English."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from wxpay_async.spec import load_part
from wxpay_async.validation import operations

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS_TXT = ROOT.parent / "shared" / "reference" / "operations.txt"
OPS = list(operations().values())
CJK = re.compile(r"[\u3400-\u9fff]")

EXPECTED_NAMES = {
    "merchant_coupon": {
        "create_stock", "get_stock", "update_stock", "update_stock_budget", "upload_coupon_codes",
        "list_coupon_codes", "get_coupon_code", "delete_coupon_code", "use_coupon", "list_user_coupons",
        "get_user_coupon", "set_callbacks", "get_callbacks", "associate_order", "disassociate_order",
        "return_coupon", "deactivate_coupon", "send_coupon", "send_gov_card", "create_subsidy_pay_receipt",
        "get_subsidy_pay_receipt", "get_subsidy_pay_receipts", "create_subsidy_return_receipt",
        "get_subsidy_return_receipt",
    },
    "favor": {
        "create_stock", "start_stock", "pause_stock", "restart_stock", "stop_stock", "list_stocks", "get_stock",
        "list_stock_merchants", "list_stock_items", "modify_stock_goods", "send_coupon", "list_user_coupons",
        "get_user_coupon", "get_use_flow", "get_refund_flow", "get_use_flow_by_day", "get_refund_flow_by_day",
        "set_callbacks", "get_callbacks", "upload_image",
    },
    "product_coupon": {
        "create_product_coupon", "get_product_coupon", "update_product_coupon", "deactivate_product_coupon",
        "create_stock", "list_stocks", "get_stock", "update_stock", "deactivate_stock", "update_stock_budget",
        "upload_coupon_codes", "associate_stock_stores", "disassociate_stock_stores", "list_stock_associated_stores",
        "create_stock_bundle", "update_stock_bundle", "update_stock_bundle_budget", "associate_stock_bundle_stores",
        "disassociate_stock_bundle_stores", "send_coupon", "send_coupon_bundle", "deactivate_coupon_bundle",
        "pre_send_coupon", "pre_send_coupon_bundle", "list_user_coupons", "get_user_coupon", "confirm_coupon",
        "use_coupon", "return_coupon", "deactivate_coupon", "get_notify_config", "set_notify_config",
        "create_image_generation_task", "get_image_generation_task", "upload_image",
    },
    "certificates": {"download"},
    # Brand-direct (品牌直连): the operations of the official brand Go/Java samples
    # (wechatpay-skills wechatpay-product-coupon/references/1-品牌/代码示例/Go/接口索引.md).
    "brand_product_coupon": {
        "create_product_coupon", "get_product_coupon", "update_product_coupon", "deactivate_product_coupon",
        "create_stock", "list_stocks", "get_stock", "update_stock", "deactivate_stock", "update_stock_budget",
        "upload_coupon_codes", "associate_stock_stores", "disassociate_stock_stores", "list_stock_associated_stores",
        "create_stock_bundle", "update_stock_bundle", "update_stock_bundle_budget", "associate_stock_bundle_stores",
        "disassociate_stock_bundle_stores", "send_coupon", "pre_send_coupon", "list_user_coupons", "get_user_coupon",
        "confirm_coupon", "use_coupon", "return_coupon", "deactivate_coupon", "get_notify_config",
        "set_notify_config", "upload_image",
    },
}  # fmt: skip


def schemas(op: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []

    def walk(where: str, schema: dict[str, Any]) -> None:
        out.append((where, schema))
        for name, sub in (schema.get("properties") or {}).items():
            walk(f"{where}.{name}", sub)
        if schema.get("type") == "array" and schema.get("items"):
            walk(where + "[]", schema["items"])

    for p in op["path_params"] + op["query_params"] + op["form"]:
        walk(p["name"], p["schema"])
    if op["body"]:
        walk("body", op["body"])
    if op["response"]:
        walk("response", op["response"])
    return out


def test_spec_covers_exactly_operations_txt() -> None:
    if not OPERATIONS_TXT.exists():
        pytest.skip("../shared/reference/operations.txt is not beside this checkout")
    lines = OPERATIONS_TXT.read_text(encoding="utf-8").splitlines()
    wanted = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    # Families added without reference YAML (spec/families/*.json) are not in operations.txt.
    families = {
        key
        for family in (ROOT / "wxpay_async" / "spec" / "families").glob("*.json")
        for key in json.loads(family.read_text(encoding="utf-8")).get("overrides", {}).get("operations", {})
    }
    assert sorted(f"{o['method']} {o['path']}" for o in OPS if o["key"] not in families) == sorted(wanted)
    assert len([o for o in OPS if o["key"] not in families]) == 56


def test_method_names_per_group() -> None:
    got: dict[str, set[str]] = {}
    for op in OPS:
        got.setdefault(op["group"], set()).add(op["name"])
    assert got == EXPECTED_NAMES


def test_stop_comes_from_the_go_sdk() -> None:
    stop = operations()["favor.stop_stock"]
    assert (stop["method"], stop["path"]) == ("POST", "/v3/marketing/favor/stocks/{stock_id}/stop")
    assert stop["body"]["required"] == ["stock_creator_mchid"]
    assert set(stop["response"]["properties"]) == {"stop_time", "stock_id"}


@pytest.mark.parametrize("op", OPS, ids=lambda o: f"{o['group']}.{o['name']}")
def test_every_operation_is_described_in_english(op: dict[str, Any]) -> None:
    assert op["description"] and "\n" not in op["description"] and not CJK.search(op["description"])
    assert op["kind"] in ("json", "flow", "upload")
    assert [p["name"] for p in op["path_params"]] == re.findall(r"\{(\w+)\}", op["path"])
    for where, schema in schemas(op):
        if schema.get("description"):
            assert not CJK.search(schema["description"]), where
            assert "\n" not in schema["description"], where


@pytest.mark.parametrize("op", OPS, ids=lambda o: f"{o['group']}.{o['name']}")
def test_request_numbers(op: dict[str, Any]) -> None:
    body = (op["body"] or {}).get("properties") or {}
    # The merchant-coupon subsidy numbers are request numbers by another name (wechatpay-go
    # merchantexclusivecoupon SubsidyPayRequest/SubsidyReturnRequest: unique per merchant, same charset).
    numbers = [
        name for name in body if name.endswith("request_no") or name in ("out_subsidy_no", "out_subsidy_return_no")
    ]
    idem = op["idempotency_field"]
    if numbers:
        assert idem in numbers, "an operation with a request number is idempotent"
    else:
        assert idem is None
    for name in numbers:
        # official: 6-40 (6-128 for single sends), no | or *
        if op["group"] in ("product_coupon", "brand_product_coupon"):
            assert body[name]["pattern"] == r"^[0-9A-Za-z_\-]+$" and body[name]["minLength"] == 6
            assert body[name]["maxLength"] == (128 if op["name"] in ("send_coupon", "pre_send_coupon") else 40)
            assert body[name]["x-rule"]
        else:
            assert body[name]["pattern"] == r"^[0-9A-Za-z_\-|*]+$"
            assert 1 <= body[name]["maxLength"] <= 128


def test_pagination_and_kinds() -> None:
    paged = {f"{o['group']}.{o['name']}": o["pagination"] for o in OPS if o["pagination"]}
    assert paged["favor.list_stocks"] == {"style": "offset", "max_limit": 10}
    assert all(name.split(".")[1].startswith("list_") for name in paged)
    assert all(o["pagination"] for o in OPS if o["name"].startswith("list_"))
    flows = {o["name"] for o in OPS if o["kind"] == "flow"}
    assert flows == {"get_use_flow", "get_refund_flow", "get_use_flow_by_day", "get_refund_flow_by_day"}
    for o in OPS:
        if o["kind"] == "upload":
            assert o["upload"]["max_bytes"] == 2 * 1024 * 1024 and ".png" in o["upload"]["extensions"]


def test_all_of_parts_merge_deeply() -> None:
    # coupon-stocks.yaml refines coupon_use_rule with combine_use; the whole CouponUseRule stays.
    rule = operations()["favor.create_stock"]["body"]["properties"]["coupon_use_rule"]["properties"]
    assert {"fixed_normal_coupon", "available_merchants", "combine_use", "goods_tag"} <= set(rule)
    fixed = rule["fixed_normal_coupon"]["properties"]["coupon_amount"]
    assert (fixed["minimum"], fixed["maximum"]) == (10, 100000)
    assert operations()["favor.create_stock"]["rules"] == ["favor_stock"]


#: Operations for which no official page or SDK method could be reached (tests/official/README.md).
NO_OFFICIAL_SOURCE = {
    "favor.modify_stock_goods",
    "favor.get_refund_flow_by_day",
    "favor.get_use_flow_by_day",
    "product_coupon.associate_stock_bundle_stores",
    "product_coupon.disassociate_stock_bundle_stores",
    "product_coupon.associate_stock_stores",
}


def schema_nodes(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every (dotted path, schema) below ``schema``; list items share their list's path."""
    found = [(path, schema)]
    for prop, sub in (schema.get("properties") or {}).items():
        found += schema_nodes(sub, f"{path}.{prop}".lstrip("."))
    if schema.get("items"):
        found += schema_nodes(schema["items"], path)
    return found


def test_every_rule_names_its_official_source() -> None:
    """Operations name their official pages/SDK methods; corrections and hand-written constraints their own."""
    for op in OPS:
        name = f"{op['group']}.{op['name']}"
        if name not in NO_OFFICIAL_SOURCE:
            assert op["sources"], f"{name} names no official source"
        for source in op["sources"]:
            assert source.startswith(("https://pay.", "https://payapp.", "wechatpay-apiv3/", "seeds/")), source
        for where, node in schema_nodes(op.get("body") or {}):
            if any(k in node for k in ("minimum", "maximum", "minLength", "maxLength", "pattern")):
                # From the YAML's transcription of the official page the operation names, a
                # correction (also named in op["sources"]) or a hand-written constraint (x-source).
                assert "x-source" in node or op["sources"] or name in NO_OFFICIAL_SOURCE, f"{name} {where}"
    corrections = load_part("corrections")
    for entry in corrections["corrections"]:
        assert entry["source"] and entry["why"], entry
    overrides = load_part("overrides")
    for key, entry in overrides["operations"].items():
        for where, rule in (entry.get("constraints") or {}).items():
            assert rule.get("x-source"), f"{key} {where}"


def test_answers_require_only_what_official_models_guarantee() -> None:
    guaranteed = load_part("answer_required")
    for op in OPS:
        official = guaranteed["operations"].get(op["key"])
        for path, node in schema_nodes(op.get("response") or {}):
            if node.get("required"):
                assert official, f"{op['key']}: answer fields required without an official model"
                assert set(node["required"]) <= set(official["required"].get(path, [])), (op["key"], path)


def test_family_files_extend_the_shared_spec_files_and_refuse_a_second_definition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from wxpay_async import spec

    (tmp_path / "families").mkdir()
    (tmp_path / "overrides.json").write_text(json.dumps({"operations": {"GET /a": {"name": "a"}}}))
    (tmp_path / "families" / "x.json").write_text(json.dumps({"overrides": {"operations": {"GET /b": {"name": "b"}}}}))
    monkeypatch.setattr(spec, "SPEC_DIR", tmp_path)
    assert set(spec.load_part("overrides")["operations"]) == {"GET /a", "GET /b"}
    (tmp_path / "families" / "y.json").write_text(json.dumps({"overrides": {"operations": {"GET /a": {"name": "c"}}}}))
    with pytest.raises(ValueError, match="defined twice"):
        spec.load_part("overrides")


def test_family_files_may_repeat_an_identical_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from wxpay_async import spec

    (tmp_path / "families").mkdir()
    (tmp_path / "descriptions.json").write_text(json.dumps({"by_name": {"appid": "The AppID."}}))
    for name in ("x", "y"):
        part = {"descriptions": {"by_name": {"appid": "The AppID.", "stock_id": "The stock."}}}
        (tmp_path / "families" / f"{name}.json").write_text(json.dumps(part))
    monkeypatch.setattr(spec, "SPEC_DIR", tmp_path)
    assert spec.load_part("descriptions")["by_name"] == {"appid": "The AppID.", "stock_id": "The stock."}
    (tmp_path / "families" / "y.json").write_text(json.dumps({"descriptions": {"by_name": {"appid": "Other."}}}))
    with pytest.raises(ValueError, match="defined twice"):
        spec.load_part("descriptions")


def test_brand_operations_are_their_partner_twins_without_brand_id() -> None:
    """Brand bodies and queries carry no brand_id (API接口清单.md 四、请求体差异), answers neither
    (brand_models_and_client.go entities); everything else is the partner operation's."""
    ops = operations()
    brand = [o for o in OPS if o["group"] == "brand_product_coupon"]
    assert len(brand) == 30
    for op in brand:
        assert op["path"].startswith("/brand/marketing/product-coupon/")
        assert "brand_id" not in json.dumps([op["body"], op["query_params"], op["response"]])
        twin = ops[f"product_coupon.{op['name']}"]
        assert twin["path"].replace("/v3/marketing/partner/", "/brand/marketing/") == op["path"]
        assert op["idempotency_field"] == twin["idempotency_field"] and op["pagination"] == twin["pagination"]
        assert any("wechatpay-skills" in s and "1-品牌" in s for s in op["sources"]), op["name"]
    assert "list_stocks" in {o["name"] for o in brand}
    stocks = next(o for o in brand if o["name"] == "list_stocks")
    assert [p["name"] for p in stocks["query_params"]] == ["state", "page_size", "page_token", "stock_bundle_id"]
    use = next(o for o in brand if o["name"] == "use_coupon")["body"]["properties"]
    assert "sequential_coupon_index" not in use and "saved_amount" not in use  # not in UseUserProductCoupon.go
    create = next(o for o in brand if o["name"] == "create_product_coupon")["body"]["properties"]
    assert "stock_bundle" in create and "sequential_usage_info" not in create  # CreateProductCouponRequest
