"""Brand-direct product coupons (品牌直连, ``/brand/marketing/product-coupon``) over the partner state.

Every brand operation is its partner twin (``_product_coupon``) on the brand path, with the brand
taken from the verified ``WECHATPAY-BRAND-SHA256-RSA2048`` Authorization instead of a ``brand_id``
field (brand bodies and queries have none: wechatpay-apiv3/wechatpay-skills@15f40d07
wechatpay-product-coupon/references/1-品牌/接入指南/API接口清单.md, 四、请求体差异), and answers
without ``brand_id`` (the brand answer models of brand_models_and_client.go have none).

State is shared: product coupons, stocks and user coupons are the brand's, whoever created them.
A service provider the brand authorised sees them through the partner paths with ``brand_id``, and
the brand sees what such a partner created (mchid ↔ brand_id is many-to-many, the brand
authorises service providers: .../3-品牌与服务商通用/接入规范/MAB关系说明文档.md). Notify configs,
rate limits and ledgers stay per caller (a partner's notify config is its own, 回调处理.md:
"回调地址是服务商维度配置的").

Notifications: ``PRODUCT_COUPON.SEND`` (回调处理.md, 回调事件类型) encrypted with the brand API key
(1-品牌/签名验签/品牌API密钥.md), signed with the WeChat Pay public key.
A brand body or query that does carry ``brand_id`` has it replaced by the authenticated brand: the
sources do not say whether WeChat Pay refuses it (left open).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..validation import operations
from . import _product_coupon
from ._call import Call, Route
from ._host import BRAND_PRINCIPAL
from ._schema import REQUIRED

BRAND_BASE = "/brand/marketing/product-coupon"
#: Partner routes with no brand twin in the official brand samples (接口索引.md lists 30 operations).
_NOT_FOR_BRANDS = ("/image-generation-tasks", "/coupon-bundles", "/pre-send-coupon-bundle")


def _without_brand_id(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_brand_id(v) for k, v in value.items() if k != "brand_id"}
    if isinstance(value, list):
        return [_without_brand_id(v) for v in value]
    return value


def _as_brand(handler: Callable[[Call], Awaitable[Any]]) -> Callable[[Call], Awaitable[Any]]:
    async def brand_handler(call: Call) -> Any:
        brand_id = call.mchid[len(BRAND_PRINCIPAL) :]
        call.data = {**call.data, "brand_id": brand_id}
        call.query = {**call.query, "brand_id": brand_id}
        result = await handler(call)
        return _without_brand_id(result) if isinstance(result, dict | list) else result

    brand_handler.__name__ = f"brand_{getattr(handler, '__name__', 'handler')}"
    return brand_handler


def brand_notification(call: Call, resource: dict[str, Any], brand_api_key: str) -> dict[str, Any]:
    """The ``PRODUCT_COUPON.SEND`` envelope of a brand (associated_data "product_coupon": 回调处理.md).

    The decrypted resource carries ``coupon_code``, ``product_coupon_id``, ``stock_id``, ``openid``,
    ``send_channel``, ``send_request_no``, ``receive_time``, ``valid_begin_time``/``valid_end_time``
    at its top level (回调处理.md, 解密后关键字段), besides the coupon's entity fields.
    """
    resource = dict(resource)
    resource.setdefault("product_coupon_id", (resource.get("product_coupon") or {}).get("product_coupon_id"))
    resource.setdefault("stock_id", (resource.get("stock") or {}).get("stock_id"))
    return call.emu.notifier.envelope(
        event_type="PRODUCT_COUPON.SEND",
        summary="商品券发放通知",
        resource=_without_brand_id(resource),
        associated_data="product_coupon",
        original_type="product_coupon",
        apiv3_key=brand_api_key,
    )


def _routes() -> list[Route]:
    out: list[Route] = []
    base = _product_coupon.BASE
    brand_ops = {
        (op["method"], op["path"]): op for op in operations().values() if op["group"] == "brand_product_coupon"
    }
    for method, path, handler in _product_coupon.ROUTES:
        if not path.startswith(base) or any(part in path for part in _NOT_FOR_BRANDS):
            continue
        brand_path = BRAND_BASE + path[len(base) :]
        # Required fields: the brand operation's own (the official brand request models), not the
        # partner YAML's (which lists scope/type/usage_mode for create_stock, absent from
        # CreateStockRequest of 1-品牌/代码示例/Go/2-商品券批次管理/CreateStockGo.go).
        op = brand_ops.get((method, brand_path))
        if op is None:
            continue
        REQUIRED[(method, brand_path)] = (
            tuple((op.get("body") or {}).get("required") or ()),
            tuple(p["name"] for p in op["query_params"] if p["required"]),
        )
        out.append((method, brand_path, _as_brand(handler)))
    return out


ROUTES: list[Route] = _routes()
