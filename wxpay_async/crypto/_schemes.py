"""Authorization schemes: how an identity (merchant or brand) names itself in a signed request.

Both schemes sign the same message (``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``, SHA256
with RSA, base64) and differ only in the schema word and the parameter naming the caller:

- merchants: ``WECHATPAY2-SHA256-RSA2048 mchid="...",nonce_str="...",timestamp="...",serial_no="...",signature="..."``
  (developer guide, protocol.md §2);
- brands (品牌直连): ``WECHATPAY-BRAND-SHA256-RSA2048 brand_id="...",nonce_str="...",signature="...",timestamp="...",serial_no="..."``
  in the parameter order of the official brand utility ``WXPayBrandUtility.buildAuthorization``
  (wechatpay-apiv3/wechatpay-skills@15f40d070c503be7f02c3ebeb8dfb6b8274f3291:
  wechatpay-product-coupon/references/1-品牌/代码示例/Java/9-SDK工具类/WXPayBrandUtility.java; its Go
  twin ``wxpay_brand_utility.go`` writes the same parameters with ``signature`` last — the order is
  not significant, every parameter is named).
"""

from __future__ import annotations

import re

import attrs

from ._signing import AUTH_SCHEMA

_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
#: Where each parameter comes in :meth:`AuthScheme.header`'s arguments.
_POSITIONS = {"id": 0, "serial_no": 1, "timestamp": 2, "nonce_str": 3, "signature": 4}


@attrs.frozen
class AuthScheme:
    """One Authorization schema: its word, the parameter naming the caller, the parameter order."""

    name: str
    id_param: str
    order: tuple[str, ...]

    #: ``'<name> mchid="{0}",nonce_str="{3}",...'``: the header as one format string, built once
    #: (a dict and a join per signed request cost ~1 µs on the hot path).
    template: str = attrs.field(
        init=False,
        repr=False,
        default=attrs.Factory(
            lambda self: (
                f"{self.name} "
                + ",".join(f'{key}="{{{_POSITIONS[key if key != self.id_param else "id"]}}}"' for key in self.order)
            ),
            takes_self=True,
        ),
    )

    def header(self, identity_id: str, serial_no: str, timestamp: str, nonce: str, signature: str) -> str:
        return self.template.format(identity_id, serial_no, timestamp, nonce, signature)

    def parse(self, value: str) -> dict[str, str]:
        """The parameters of an Authorization header of this scheme (ValueError otherwise)."""
        schema, _, params = value.strip().partition(" ")
        if schema != self.name:
            raise ValueError(f"unsupported authorization schema {schema!r}")
        fields = dict(_AUTH_PARAM.findall(params))
        missing = {self.id_param, "nonce_str", "timestamp", "serial_no", "signature"} - fields.keys()
        if missing:
            raise ValueError(f"authorization lacks {', '.join(sorted(missing))}")
        return fields


MERCHANT_SCHEME = AuthScheme(AUTH_SCHEMA, "mchid", ("mchid", "nonce_str", "timestamp", "serial_no", "signature"))
BRAND_AUTH_SCHEMA = "WECHATPAY-BRAND-SHA256-RSA2048"
BRAND_SCHEME = AuthScheme(
    BRAND_AUTH_SCHEMA, "brand_id", ("brand_id", "nonce_str", "signature", "timestamp", "serial_no")
)
SCHEMES: dict[str, AuthScheme] = {s.name: s for s in (MERCHANT_SCHEME, BRAND_SCHEME)}


def parse_any_authorization(value: str) -> tuple[AuthScheme, dict[str, str]]:
    """The scheme of an Authorization header and its parameters (ValueError when unknown or incomplete)."""
    schema = value.strip().partition(" ")[0]
    scheme = SCHEMES.get(schema)
    if scheme is None:
        raise ValueError(f"unsupported authorization schema {schema!r}")
    return scheme, scheme.parse(value)
