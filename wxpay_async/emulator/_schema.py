"""Required request fields per operation, generated once from the reference OpenAPI YAML.

Top-level body fields (``allOf``/``$ref`` resolved) and required query parameters; path parameters
are checked by routing. Regenerate by hand when the reference YAML changes.
"""

from __future__ import annotations

#: (METHOD, path template) -> (required body fields, required query parameters)
REQUIRED: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("GET", "/v3/certificates"): ((), ()),
    ("GET", "/v3/marketing/favor/callbacks"): ((), ("mchid",)),
    ("POST", "/v3/marketing/favor/callbacks"): (("mchid", "notify_url"), ()),
    ("POST", "/v3/marketing/favor/coupon-stocks"): (
        (
            "available_begin_time",
            "available_end_time",
            "belong_merchant",
            "coupon_use_rule",
            "no_cash",
            "out_request_no",
            "stock_name",
            "stock_type",
            "stock_use_rule",
        ),
        (),
    ),
    ("POST", "/v3/marketing/favor/media/image-upload"): ((), ()),
    ("GET", "/v3/marketing/favor/stocks"): ((), ("offset", "limit", "stock_creator_mchid")),
    ("GET", "/v3/marketing/favor/stocks/{stock_id}"): ((), ("stock_creator_mchid",)),
    ("GET", "/v3/marketing/favor/stocks/{stock_id}/items"): ((), ("stock_creator_mchid", "offset", "limit")),
    ("GET", "/v3/marketing/favor/stocks/{stock_id}/merchants"): ((), ("offset", "limit", "stock_creator_mchid")),
    ("POST", "/v3/marketing/favor/stocks/{stock_id}/modify-goods-id"): (("stock_creator_mchid",), ()),
    ("POST", "/v3/marketing/favor/stocks/{stock_id}/pause"): (("stock_creator_mchid",), ()),
    ("GET", "/v3/marketing/favor/stocks/{stock_id}/refund-flow-by-day"): ((), ("bill_date",)),
    ("GET", "/v3/marketing/favor/stocks/{stock_id}/refund-flow"): ((), ()),
    ("POST", "/v3/marketing/favor/stocks/{stock_id}/restart"): (("stock_creator_mchid",), ()),
    ("POST", "/v3/marketing/favor/stocks/{stock_id}/start"): (("stock_creator_mchid",), ()),
    ("GET", "/v3/marketing/favor/stocks/{stock_id}/use-flow-by-day"): ((), ("bill_date",)),
    ("GET", "/v3/marketing/favor/stocks/{stock_id}/use-flow"): ((), ()),
    ("GET", "/v3/marketing/favor/users/{openid}/coupons"): ((), ("appid",)),
    ("POST", "/v3/marketing/favor/users/{openid}/coupons"): (
        ("appid", "out_request_no", "stock_creator_mchid", "stock_id"),
        (),
    ),
    ("GET", "/v3/marketing/favor/users/{openid}/coupons/{coupon_id}"): ((), ("appid",)),
    ("POST", "/v3/marketing/partner/product-coupon/image-generation-tasks"): (
        ("brand_id", "image_generation_type", "task_id"),
        (),
    ),
    ("GET", "/v3/marketing/partner/product-coupon/image-generation-tasks/{task_id}"): (
        (),
        ("brand_id", "image_generation_type"),
    ),
    ("POST", "/v3/marketing/partner/product-coupon/media/upload-image"): ((), ()),
    ("GET", "/v3/marketing/partner/product-coupon/notify-configs"): ((), ()),
    ("POST", "/v3/marketing/partner/product-coupon/notify-configs"): (("notify_url",), ()),
    ("POST", "/v3/marketing/partner/product-coupon/product-coupons"): (
        ("brand_id", "display_info", "out_request_no", "scope", "stock", "type", "usage_mode"),
        (),
    ),
    ("GET", "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}"): ((), ("brand_id",)),
    ("PATCH", "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}"): (
        ("brand_id", "display_info", "out_request_no", "scope", "type", "usage_mode"),
        (),
    ),
    ("POST", "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/deactivate"): (
        ("brand_id", "deactivate_reason", "out_request_no"),
        (),
    ),
    ("POST", "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stock-bundles"): (
        ("brand_id", "out_request_no", "stock_bundle"),
        (),
    ),
    (
        "PATCH",
        "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stock-bundles/{stock_bundle_id}",
    ): (("brand_id", "out_request_no"), ()),
    (
        "POST",
        "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stock-bundles/{stock_bundle_id}/associate-stores",
    ): (("brand_id", "store_list"), ()),
    (
        "POST",
        "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stock-bundles/{stock_bundle_id}/disassociate-stores",
    ): (("brand_id", "store_list"), ()),
    (
        "POST",
        "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stock-bundles/{stock_bundle_id}/update-budget",
    ): (("brand_id", "out_request_no", "update_mode"), ()),
    ("GET", "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stocks"): ((), ("brand_id",)),
    ("POST", "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stocks"): (
        ("brand_id", "out_request_no", "scope", "stock", "type", "usage_mode"),
        (),
    ),
    ("GET", "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stocks/{stock_id}"): (
        (),
        ("brand_id",),
    ),
    ("PATCH", "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stocks/{stock_id}"): (
        ("brand_id", "out_request_no"),
        (),
    ),
    (
        "POST",
        "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stocks/{stock_id}/associate-stores",
    ): (("brand_id", "store_list"), ()),
    (
        "GET",
        "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stocks/{stock_id}/associated-stores",
    ): ((), ("brand_id",)),
    ("POST", "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stocks/{stock_id}/deactivate"): (
        ("brand_id", "deactivate_reason", "out_request_no"),
        (),
    ),
    (
        "POST",
        "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stocks/{stock_id}/disassociate-stores",
    ): (("brand_id", "store_list"), ()),
    (
        "POST",
        "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stocks/{stock_id}/update-budget",
    ): (("brand_id", "out_request_no", "update_mode"), ()),
    (
        "POST",
        "/v3/marketing/partner/product-coupon/product-coupons/{product_coupon_id}/stocks/{stock_id}/upload-coupon-codes",
    ): (("brand_id", "code_list", "out_request_no"), ()),
    ("POST", "/v3/marketing/partner/product-coupon/users/{openid}/coupon-bundles"): (
        ("appid", "brand_id", "product_coupon_id", "send_request_no", "stock_bundle_id"),
        (),
    ),
    ("POST", "/v3/marketing/partner/product-coupon/users/{openid}/coupon-bundles/{user_coupon_bundle_id}/deactivate"): (
        ("appid", "brand_id", "deactivate_reason", "out_request_no", "product_coupon_id", "stock_bundle_id"),
        (),
    ),
    ("GET", "/v3/marketing/partner/product-coupon/users/{openid}/coupons"): ((), ("appid", "brand_id")),
    ("POST", "/v3/marketing/partner/product-coupon/users/{openid}/coupons"): (
        ("appid", "brand_id", "product_coupon_id", "send_request_no", "stock_id"),
        (),
    ),
    ("GET", "/v3/marketing/partner/product-coupon/users/{openid}/coupons/{coupon_code}"): (
        (),
        ("brand_id", "product_coupon_id", "stock_id", "appid"),
    ),
    ("POST", "/v3/marketing/partner/product-coupon/users/{openid}/coupons/{coupon_code}/confirm"): (
        ("appid", "brand_id", "out_request_no", "product_coupon_id", "stock_id"),
        (),
    ),
    ("POST", "/v3/marketing/partner/product-coupon/users/{openid}/coupons/{coupon_code}/deactivate"): (
        ("appid", "brand_id", "deactivate_reason", "out_request_no", "product_coupon_id", "stock_id"),
        (),
    ),
    ("POST", "/v3/marketing/partner/product-coupon/users/{openid}/coupons/{coupon_code}/return"): (
        ("appid", "brand_id", "out_request_no", "product_coupon_id", "stock_id", "use_time"),
        (),
    ),
    ("POST", "/v3/marketing/partner/product-coupon/users/{openid}/coupons/{coupon_code}/use"): (
        ("appid", "associated_order_info", "brand_id", "out_request_no", "product_coupon_id", "stock_id", "use_time"),
        (),
    ),
    ("POST", "/v3/marketing/partner/product-coupon/users/{openid}/pre-send-coupon-bundle"): (
        ("appid", "brand_id", "product_coupon_id", "send_request_no", "stock_bundle_id"),
        (),
    ),
    ("POST", "/v3/marketing/partner/product-coupon/users/{openid}/pre-send-coupon"): (
        ("appid", "brand_id", "product_coupon_id", "send_request_no", "stock_id"),
        (),
    ),
    ("POST", "/v3/marketing/favor/stocks/{stock_id}/stop"): ((), ()),
}
