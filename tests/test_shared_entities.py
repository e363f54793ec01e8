"""Answers official sources call the same entity share one model; old names stay importable.

overrides.json ``entities`` declares, per group, the places of each official entity (wechatpay-go's
Stock and Coupon; wechatpay-skills' StockEntity, UserProductCouponEntity, ProductCouponEntity,
StockBundleEntity). scripts/reference/published_names.json keeps every model name once generated.
"""

from __future__ import annotations

import importlib
import json
import sys
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest

from wxpay_async import Client
from wxpay_async.models import favor, product_coupon
from wxpay_async.resources._groups import GROUPS, ResourceGroups
from wxpay_async.spec import load_part

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL = json.loads((ROOT / "tests" / "official" / "models.json").read_text(encoding="utf-8"))
#: group -> official model name -> our entity
OFFICIAL_ENTITIES = {
    "favor": {"Stock": "Stock", "Coupon": "Coupon"},
    "product_coupon": {
        "StockEntity": "Stock",
        "UserProductCouponEntity": "UserCoupon",
        "ProductCouponEntity": "ProductCoupon",
        "StockBundleEntity": "StockBundle",
    },
}


def test_the_same_entity_is_one_model() -> None:
    assert favor.GetStockResponse is favor.ListedStock is favor.Stock
    assert favor.GetUserCouponResponse is favor.Coupon
    assert product_coupon.GetUserCouponResponse is product_coupon.UserCoupon
    assert product_coupon.GetStockResponse is product_coupon.Stock
    assert product_coupon.GetProductCouponResponse is product_coupon.ProductCoupon
    # An answer that also carries the request number the call used is a subclass of the entity.
    for name in ("CreateStockResponse", "UpdateStockResponse", "DeactivateStockResponse", "UpdateStockBudgetResponse"):
        cls = getattr(product_coupon, name)
        assert issubclass(cls, product_coupon.Stock) and "out_request_no" in attrs.fields_dict(cls), name
    for name in ("ConfirmCouponResponse", "UseCouponResponse", "ReturnCouponResponse", "DeactivateCouponResponse"):
        assert issubclass(getattr(product_coupon, name), product_coupon.UserCoupon), name
    hints = typing.get_type_hints(
        product_coupon.UserCoupon, vars(importlib.import_module(product_coupon.UserCoupon.__module__))
    )
    assert "Stock" in str(hints["stock"]) and "ProductCoupon" in str(hints["product_coupon"])


def _official_places(group: str) -> dict[str, set[str]]:
    wanted = OFFICIAL_ENTITIES[group]
    places: dict[str, set[str]] = {}

    def walk(key: str, op: str, at: str, seen: tuple[str, ...]) -> None:
        model = OFFICIAL["models"][key]
        if model["name"] in wanted:
            places.setdefault(wanted[model["name"]], set()).add(f"{op} {at}")
        for name, field in model["fields"].items():
            if "model" in field and field["model"] not in seen:
                walk(field["model"], op, f"{at}.{name}", (*seen, key))

    prefix = {"favor": "/v3/marketing/favor", "product_coupon": "/v3/marketing/partner/product-coupon"}[group]
    for op, sources in OFFICIAL["operations"].items():
        for source in sources:
            if (
                "answer" in source
                and op.split(" ", 1)[1].startswith(prefix)
                and source["repository"] != "wechatpay-apiv3/wechatpay-java"
            ):
                walk(source["answer"], op, "response", ())
    return places


@pytest.mark.parametrize("group", sorted(OFFICIAL_ENTITIES))
def test_every_official_place_of_an_entity_is_declared(group: str) -> None:
    declared = load_part("overrides")["entities"][group]
    for entity, places in _official_places(group).items():
        assert places <= set(declared[entity]["places"]), (entity, sorted(places - set(declared[entity]["places"])))
        assert declared[entity]["source"].startswith("wechatpay-apiv3/")


def test_every_published_name_stays_importable() -> None:
    published = json.loads((ROOT / "scripts" / "reference" / "published_names.json").read_text(encoding="utf-8"))
    for group, names in published.items():
        package = importlib.import_module(f"wxpay_async.models.{group}")
        for name in names:
            assert getattr(package, name) is not None, (group, name)
            assert name in package.__all__, (group, name)


def test_the_client_properties_are_the_spec_groups() -> None:
    ops = json.loads((ROOT / "wxpay_async" / "spec" / "operations.json").read_text(encoding="utf-8"))
    assert set(GROUPS) == {op["group"] for op in ops}
    assert issubclass(Client, ResourceGroups)
    for group in GROUPS:
        assert isinstance(vars(ResourceGroups)[group], __import__("functools").cached_property)


def test_the_generator_serves_a_new_group() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        generate: Any = importlib.import_module("generate")
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    thing = {"type": "object", "properties": {"thing_id": {"type": "string", "description": "ID"}}}
    ops = [
        {
            "key": f"GET /v3/demo/things{suffix}",
            "group": "demo",
            "name": name,
            "method": "GET",
            "path": f"/v3/demo/things{suffix}",
            "kind": "json",
            "description": "d",
            "path_params": [{"name": "thing_id", "required": True, "schema": {"type": "string"}}] if suffix else [],
            "query_params": [],
            "form": [],
            "body": None,
            "response": json.loads(
                json.dumps(
                    thing
                    if suffix
                    else {
                        "type": "object",
                        "properties": {"data": {"type": "array", "items": thing}, "other": {"type": "string"}},
                    }
                )
            ),
        }
        for name, suffix in (("get_thing", "/{thing_id}"), ("list_things", ""))
    ]
    entities = {"Thing": {"places": ["GET /v3/demo/things/{thing_id} response", "GET /v3/demo/things response.data"]}}
    models, source = generate.generate_group("demo", ops, {}, "Demo things", entities, ["ListThingsResponseDataItem"])
    assert "Thing" in models.classes and models.aliases["GetThingResponse"] == "Thing"
    assert models.aliases["ListThingsResponseDataItem"] == "Thing"  # a published name kept
    assert "class DemoResource(Resource):" in source
    with pytest.raises(SystemExit, match="GoneName"):
        generate.generate_group("demo", ops, {}, "Demo things", entities, ["GoneName"])
