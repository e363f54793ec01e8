"""Lazy imports: importing wxpay_async builds no model class, yet every public name is there."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import is_typeddict

import attrs

import wxpay_async
from wxpay_async import models, resources, transports


def run_fresh(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout


def test_importing_the_package_imports_no_models_and_no_test_transport() -> None:
    out = run_fresh(
        """
        import sys
        import wxpay_async
        heavy = ["wxpay_async.models.favor", "wxpay_async.models.product_coupon",
                 "wxpay_async.resources.product_coupon", "wxpay_async.transports._inprocess", "aiohttp.web"]
        print([name for name in heavy if name in sys.modules])
        """
    )
    assert out.strip() == "[]"


def test_a_client_imports_the_models_of_the_groups_it_uses_only() -> None:
    out = run_fresh(
        """
        import sys
        from wxpay_async import Client
        from wxpay_async.devkeys import generate_key_pair
        pair = generate_key_pair("lazy")
        wx = Client(mchid="1900000001", merchant_serial=pair.serial, private_key=pair.private_key,
                    apiv3_key="a" * 32, platform_public_key=pair.public_key, platform_public_key_id="PUB_KEY_ID_1")
        before = "wxpay_async.models.favor" in sys.modules
        favor = wx.favor
        print(before, "wxpay_async.models.favor" in sys.modules, "wxpay_async.models.product_coupon" in sys.modules,
              favor is wx.favor)
        """
    )
    assert out.split() == ["False", "True", "False", "True"]


def test_a_typed_call_builds_the_classes_of_its_own_answer_only() -> None:
    out = run_fresh(
        """
        import asyncio, sys
        from wxpay_async import Client
        from wxpay_async.emulator import EmulatorKeys, create_running_stock, run_emulator
        async def main():
            async with run_emulator(keys=EmulatorKeys.generate()) as emu, Client(**emu.client_kwargs()) as wx:
                stock_id = await create_running_stock(wx, max_coupons=10)
                before = set(sys.modules)
                await wx.favor.get_stock(stock_id, stock_creator_mchid=wx.mchid)
                print(sorted(m.rsplit(".", 1)[1] for m in set(sys.modules) - before if m.startswith("wxpay_async.")))
        asyncio.run(main())
        """
    )
    assert out.strip() == str(
        [
            "_stock",  # GetStockResponse is the shared Stock model (ListedStock too)
            "_stock_available_region_list_item",
            "_stock_cut_to_message",
            "_stock_stock_use_rule",
            "_stock_stock_use_rule_fixed_normal_coupon",
        ]
    )


def test_lazy_packages_give_the_same_public_names() -> None:
    assert models.__all__ == ["brand_product_coupon", "certificates", "favor", "merchant_coupon", "product_coupon"]
    for name in models.__all__:
        module = getattr(models, name)
        assert module.__name__ == f"wxpay_async.models.{name}"
        # attrs models, and for request objects their TypedDict twins (``...Param``)
        assert module.__all__ and all(
            attrs.has(getattr(module, n)) or (n.endswith("Param") and is_typeddict(getattr(module, n)))
            for n in module.__all__
        )
        assert set(module.__all__) <= set(dir(module))
    from wxpay_async.models import favor, product_coupon
    from wxpay_async.models.favor import GetUseFlowResponse, SendCouponResponse

    assert SendCouponResponse is favor.SendCouponResponse
    assert SendCouponResponse.__module__ == "wxpay_async.models.favor._send_coupon_response"
    assert GetUseFlowResponse is favor.FlowFile  # an answer shaped like another's shares its class
    assert product_coupon is models.product_coupon
    assert set(resources.__all__) == {
        "BrandProductCouponResource",
        "CertificatesResource",
        "FavorResource",
        "MerchantCouponResource",
        "ProductCouponResource",
    }
    # Brand models shaped like partner ones are the partner classes (one entity, one class).
    from wxpay_async.models import brand_product_coupon

    assert brand_product_coupon.UserCoupon.__module__.startswith("wxpay_async.models.brand_product_coupon.")
    shared = [
        n
        for n in brand_product_coupon.__all__
        if getattr(brand_product_coupon, n).__module__.startswith("wxpay_async.models.product_coupon.")
    ]
    assert "AssociatedStore" in shared and len(shared) > 40
    from wxpay_async.resources import FavorResource

    assert resources.FavorResource is FavorResource and FavorResource.__module__ == "wxpay_async.resources.favor"
    assert set(models.__all__) <= set(dir(models)) and set(resources.__all__) <= set(dir(resources))
    from wxpay_async.transports import HttpxTransport, InProcessTransport

    assert InProcessTransport.__name__ == "InProcessTransport" and HttpxTransport.__name__ == "HttpxTransport"
    for name in transports.__all__:
        assert getattr(transports, name) is not None
    for name in wxpay_async.__all__:
        assert getattr(wxpay_async, name) is not None


def test_unknown_names_still_raise_attribute_error() -> None:
    import pytest

    with pytest.raises(AttributeError):
        models.nothing  # noqa: B018
    with pytest.raises(AttributeError):
        resources.Nothing  # noqa: B018
