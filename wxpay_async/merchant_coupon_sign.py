"""Signing merchant-coupon sends that happen outside the API: the mini-program plugin and the H5 page.

A merchant coupon (商家券) can reach a user without ``POST /v3/marketing/busifavor/coupons/send``:
the page shows WeChat Pay's send-coupon mini-program plugin (``<send-coupon>``) or opens the H5
coupon page, and the merchant's server hands it the parameters with a ``sign``. That ``sign`` follows
the **APIv2** rules, not APIv3's RSA:

1. take the parameters, without ``sign`` and without empty values;
2. for the mini-program plugin, flatten ``send_coupon_params`` with the index as a suffix
   (``stock_id0``, ``out_request_no0``, ``coupon_code0``, ``stock_id1``...) beside
   ``send_coupon_merchant``; the H5 page signs its flat parameters as they are;
3. sort by parameter name (ASCII), join as ``k=v`` with ``&``, append ``&key=<APIv2 key>``;
4. HMAC-SHA256 with the APIv2 key (not the APIv3 key), hex, upper case.

Sources: the plugin page (https://pay.weixin.qq.com/doc/v3/merchant/4012285674: "签名方式一定要用
HMAC-SHA256", "key需要使用apiv2的signkey", the sign-source examples such as
``out_request_no0=abc123&send_coupon_merchant=10016226&stock_id0=1234567&key=xxxxx``); the H5 page
(https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter9_4_1.shtml); wechatpay-apiv3/wechatpay-php
README_APIv2.md "商家券-小程序发券APIv2密钥签名" / "商家券-H5发券APIv2密钥签名" (the flattening, ``ksort``,
``Formatter::queryStringLike``, ``Hash::sign(ALGO_HMAC_SHA256)``) and src/Crypto/Hash.php (``&key=``
appended, ``strtoupper``); the APIv2 signing page's worked example
(https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3) is the known-answer test.

The APIv2 key never appears in an error, a repr or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ValidationError
from .validation import check_request_number

#: The H5 page's ``out_request_no``: "可包含英文字母、数字，不允许出现其他不合法符号", string[1,128]
#: (https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter9_4_1.shtml, read through its copy at
#: https://payapp.weixin.qq.com/wiki/doc/apiv3/apis/chapter9_4_1.shtml).
H5_REQUEST_NUMBER = re.compile(r"[0-9A-Za-z]{1,128}", re.ASCII)

__all__ = ["h5_send_params", "miniprogram_send_params", "v2_hmac_sha256", "v2_sign_source"]


def v2_sign_source(params: Mapping[str, Any]) -> str:
    """``k=v&...`` of the non-empty parameters but ``sign``, sorted by name (the key not yet appended)."""
    if not isinstance(params, Mapping):
        raise ValidationError("params", f"a mapping of parameter names to values, got {type(params).__name__}")
    if not all(isinstance(name, str) for name in params):
        raise ValidationError("params", "parameter names must be strings")
    pairs = []
    for name in sorted(params):
        value = params[name]
        if name == "sign" or value is None or value == "":
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append(f"{name}={value}")
    return "&".join(pairs)


def v2_hmac_sha256(params: Mapping[str, Any], apiv2_key: str) -> str:
    """The APIv2 ``sign`` (HMAC-SHA256): upper-case hex of HMAC(key, source + ``&key=`` + key)."""
    if not isinstance(apiv2_key, str) or not apiv2_key:
        raise ValidationError("apiv2_key", "the merchant's APIv2 key (API密钥) is required")
    message = f"{v2_sign_source(params)}&key={apiv2_key}"
    return hmac.new(apiv2_key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest().upper()


def _required(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(field, "required (a non-empty string)")
    return value


def miniprogram_send_params(
    coupons: Sequence[Mapping[str, str]], *, send_coupon_merchant: str, apiv2_key: str
) -> dict[str, Any]:
    """The ``<send-coupon>`` plugin's ``send_coupon_params``, ``send_coupon_merchant`` and ``sign``.

    ``coupons``: one mapping per coupon with ``stock_id`` and ``out_request_no`` (and ``coupon_code``
    for a stock whose codes the merchant assigns). Pass the answer to the page as it is.
    """
    if not coupons:
        raise ValidationError("send_coupon_params", "at least one coupon to send")
    merchant = _required("send_coupon_merchant", send_coupon_merchant)
    flat: dict[str, Any] = {"send_coupon_merchant": merchant}
    params: list[dict[str, str]] = []
    for index, coupon in enumerate(coupons):
        where = f"send_coupon_params[{index}]"
        unknown = set(coupon) - {"stock_id", "out_request_no", "coupon_code"}
        if unknown:
            raise ValidationError(where, f"unknown field(s) {', '.join(sorted(unknown))}")
        item = {"stock_id": _required(f"{where}.stock_id", coupon.get("stock_id"))}
        number = _required(f"{where}.out_request_no", coupon.get("out_request_no"))
        check_request_number(f"{where}.out_request_no", number)
        item["out_request_no"] = number
        if coupon.get("coupon_code"):
            item["coupon_code"] = _required(f"{where}.coupon_code", coupon.get("coupon_code"))
        params.append(item)
        flat.update({f"{name}{index}": value for name, value in item.items()})
    return {"send_coupon_params": params, "send_coupon_merchant": merchant, "sign": v2_hmac_sha256(flat, apiv2_key)}


def h5_send_params(
    *,
    stock_id: str,
    out_request_no: str,
    send_coupon_merchant: str,
    open_id: str,
    apiv2_key: str,
    coupon_code: str | None = None,
) -> dict[str, str]:
    """The H5 coupon page's parameters with their ``sign`` (the H5 page names the user ``open_id``).

    The H5 page's ``out_request_no`` is stricter than the API's: string[1,128] that "可包含英文字母、
    数字，不允许出现其他不合法符号" (letters and digits only; chapter9_4_1).
    """
    if not H5_REQUEST_NUMBER.fullmatch(_required("out_request_no", out_request_no)):
        raise ValidationError("out_request_no", "the H5 page takes 1-128 letters and digits (no _ - | *)")
    params = {
        "stock_id": _required("stock_id", stock_id),
        "out_request_no": out_request_no,
        "send_coupon_merchant": _required("send_coupon_merchant", send_coupon_merchant),
        "open_id": _required("open_id", open_id),
    }
    if coupon_code:
        params["coupon_code"] = _required("coupon_code", coupon_code)
    return {**params, "sign": v2_hmac_sha256(params, apiv2_key)}
