"""Lazy imports: importing wxpay_async builds no model class, yet every public name is there."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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


def test_lazy_packages_give_the_same_public_names() -> None:
    assert models.__all__ == ["certificates", "favor", "product_coupon"]
    for name in models.__all__:
        module = getattr(models, name)
        assert module.__name__ == f"wxpay_async.models.{name}"
        assert any(attrs.has(v) for v in vars(module).values())
    from wxpay_async.models import favor, product_coupon

    assert favor.SendCouponResponse.__module__ == "wxpay_async.models.favor"
    assert product_coupon is models.product_coupon
    assert set(resources.__all__) == {"CertificatesResource", "FavorResource", "ProductCouponResource"}
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
