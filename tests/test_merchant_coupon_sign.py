"""The APIv2 HMAC-SHA256 ``sign`` of merchant-coupon sends outside the API (mini-program plugin, H5 page)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from wxpay_async.errors import ValidationError
from wxpay_async.merchant_coupon_sign import h5_send_params, miniprogram_send_params, v2_hmac_sha256, v2_sign_source

#: https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3 (APIv2 安全规范, the worked example):
#: sign=hash_hmac("sha256",stringSignTemp,key).toUpperCase()="6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
V2_PAGE_PARAMS = {
    "appid": "wxd930ea5d5a258f4f",
    "mch_id": "10000100",
    "device_info": "1000",
    "body": "test",
    "nonce_str": "ibuaiVcKdpRxkhJA",
}
V2_PAGE_KEY = "192006250b4c09247ec02edce69f6a2d"
V2_PAGE_SIGN = "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"

#: The plugin page's sign sources (https://pay.weixin.qq.com/doc/v3/merchant/4012285674, 签名 注意 1-2),
#: each with the coupons it describes; "xxxxx" is the page's placeholder for the key.
PLUGIN_EXAMPLES = [
    (
        [{"stock_id": "1234567", "out_request_no": "abc123"}],
        "out_request_no0=abc123&send_coupon_merchant=10016226&stock_id0=1234567&key=xxxxx",
    ),
    (
        [{"stock_id": "1234567", "out_request_no": "abc123"}, {"stock_id": "2345678", "out_request_no": "123abc"}],
        "out_request_no0=abc123&out_request_no1=123abc&send_coupon_merchant=10016226&stock_id0=1234567"
        "&stock_id1=2345678&key=xxxxx",
    ),
    (
        [{"stock_id": "1234567", "out_request_no": "abc123", "coupon_code": "asdsada"}],
        "coupon_code0=asdsada&out_request_no0=abc123&send_coupon_merchant=10016226&stock_id0=1234567&key=xxxxx",
    ),
    (
        [
            {"stock_id": "1234567", "out_request_no": "abc123", "coupon_code": "asdsada"},
            {"stock_id": "2345678", "out_request_no": "123abc", "coupon_code": "asdsada"},
        ],
        "coupon_code0=asdsada&coupon_code1=asdsada&out_request_no0=abc123&out_request_no1=123abc"
        "&send_coupon_merchant=10016226&stock_id0=1234567&stock_id1=2345678&key=xxxxx",
    ),
]
KEY = "exposed_your_key_here_have_risks"  # wechatpay-php README_APIv2.md's placeholder APIv2 key


def hmac_upper(message: str, key: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest().upper()


def test_known_answer_of_the_apiv2_signing_page() -> None:
    assert v2_hmac_sha256(V2_PAGE_PARAMS, V2_PAGE_KEY) == V2_PAGE_SIGN
    assert v2_hmac_sha256({**V2_PAGE_PARAMS, "sign": "old", "empty": ""}, V2_PAGE_KEY) == V2_PAGE_SIGN
    assert v2_hmac_sha256(V2_PAGE_PARAMS, V2_PAGE_KEY.upper()) != V2_PAGE_SIGN


@pytest.mark.parametrize(("coupons", "source"), PLUGIN_EXAMPLES)
def test_plugin_sign_follows_the_pages_sign_sources(coupons: list[dict[str, str]], source: str) -> None:
    out = miniprogram_send_params(coupons, send_coupon_merchant="10016226", apiv2_key=KEY)
    assert out["sign"] == hmac_upper(source.replace("key=xxxxx", f"key={KEY}"), KEY)
    assert out["send_coupon_params"] == coupons and out["send_coupon_merchant"] == "10016226"


def test_h5_sign_of_the_php_readme_example() -> None:
    # wechatpay-php README_APIv2.md, 商家券-H5发券APIv2密钥签名: these parameters, ksort'ed.
    out = h5_send_params(
        stock_id="12111100000001",
        out_request_no="20191204550002",
        send_coupon_merchant="10016226",
        open_id="oVvBvwEurkeUJpBzX90-6MfCHbec",
        coupon_code="75345199",
        apiv2_key=KEY,
    )
    source = (
        "coupon_code=75345199&open_id=oVvBvwEurkeUJpBzX90-6MfCHbec&out_request_no=20191204550002"
        "&send_coupon_merchant=10016226&stock_id=12111100000001"
    )
    assert v2_sign_source(out) == source
    assert out["sign"] == hmac_upper(f"{source}&key={KEY}", KEY)


def test_errors_name_the_field_and_never_the_key() -> None:
    with pytest.raises(ValidationError) as bad:
        miniprogram_send_params(
            [{"stock_id": "1", "out_request_no": "has space"}], send_coupon_merchant="1", apiv2_key=KEY
        )
    assert bad.value.field == "send_coupon_params[0].out_request_no" and KEY not in str(bad.value)
    with pytest.raises(ValidationError) as no_key:
        h5_send_params(stock_id="1", out_request_no="n1", send_coupon_merchant="1", open_id="o", apiv2_key="")
    assert no_key.value.field == "apiv2_key"
    with pytest.raises(ValidationError):
        miniprogram_send_params([], send_coupon_merchant="1", apiv2_key=KEY)
