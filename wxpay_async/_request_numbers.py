"""Request numbers (``out_request_no``, ``send_request_no``): one rule per family, read from the spec.

WeChat Pay deduplicates on the request number, and each family of operations has its own rule
for it; the endpoint spec (``spec/requests.json``, built from the official sources named in
``spec/corrections.json``) holds them. This module is the one place that reads them, for:

- the idempotency step, whose generated numbers fit :data:`GENERATED` (every family's rule);
- client-side validation (``validation.check_request_number``; the spec-driven checks read the
  same spec fields, and a test holds :data:`FAMILIES` equal to them);
- the emulator, which refuses what WeChat Pay refuses with :func:`rule_for`.

Cash coupons (``favor``): 1-128 characters of ``0-9 A-Z a-z _ - | *`` (wechatpay-go
``services/cashcoupons``, ``out_request_no`` string(128)). Product coupons: 6-40 characters of
``0-9 A-Z a-z _ -`` (pay.weixin.qq.com/doc/v3/partner/4015781290), except ``send_request_no`` of
single sends, 6-128 (pay.wechatpay.cn/doc/v3/partner/4015781605).
"""

from __future__ import annotations

import re
from functools import cache

import attrs


@attrs.frozen
class RequestNumberRule:
    """Length bounds and alphabet (a regex character-class body) of a request number."""

    min_length: int
    max_length: int
    alphabet: str
    #: The words a ValidationError gives (``x-rule`` of the spec when it has one).
    description: str

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compiled(self.alphabet, self.min_length, self.max_length)

    def matches(self, value: object) -> bool:
        return isinstance(value, str) and self.pattern.fullmatch(value) is not None


@cache
def _compiled(alphabet: str, low: int, high: int) -> re.Pattern[str]:
    return re.compile(f"^[{alphabet}]{{{low},{high}}}$", re.ASCII)


def _alphabet(pattern: str) -> str:
    """``^[0-9A-Za-z_\\-]+$`` → ``0-9A-Za-z_\\-`` (the spec's request-number patterns are all this shape)."""
    match = re.fullmatch(r"\^\[(.+)\]\+\$", pattern)
    if match is None:
        raise ValueError(f"request-number pattern {pattern!r} is not ^[...]+$")
    return match.group(1)


def _describe(low: int, high: int, alphabet: str) -> str:
    shown = " ".join("-" if token == "\\-" else token for token in re.findall(r"0-9|A-Z|a-z|\\-|.", alphabet))
    return f"request numbers are {low}-{high} characters of {shown}"


@cache
def operation_rules() -> dict[str, RequestNumberRule]:
    """The rule of every request-number field of the spec, by ``(group.name, field)``."""
    from .validation import request_rules  # the spec, loaded once (only when asked)

    rules: dict[str, RequestNumberRule] = {}
    for key, op in request_rules().items():
        for field, schema in ((op.get("body") or {}).get("properties") or {}).items():
            if field.endswith("request_no") and "pattern" in schema:
                alphabet = _alphabet(schema["pattern"])
                low, high = int(schema.get("minLength", 1)), int(schema["maxLength"])
                described = schema.get("x-rule") or _describe(low, high, alphabet)
                rules[f"{key}:{field}"] = RequestNumberRule(low, high, alphabet, described)
    return rules


def strictest(rules: list[RequestNumberRule]) -> RequestNumberRule:
    """What satisfies every rule given: the highest minimum, the lowest maximum, the shared alphabet."""
    low = max(r.min_length for r in rules)
    high = min(r.max_length for r in rules)
    # The alphabets differ only by | and * (cash coupons allow them, product coupons do not).
    alphabet = min({r.alphabet for r in rules}, key=len)
    return RequestNumberRule(low, high, alphabet, _describe(low, high, alphabet))


def rule_for(operation: str, field: str) -> RequestNumberRule:
    """The spec's rule for ``field`` of ``operation`` (``group.name``), else its family's."""
    rule = operation_rules().get(f"{operation}:{field}")
    if rule is not None:
        return rule
    return FAMILIES[operation.split(".", 1)[0]]


#: Cash coupons: 1-128 characters of 0-9 A-Z a-z _ - | * (tests check the spec says the same).
FAVOR = RequestNumberRule(1, 128, r"0-9A-Za-z_\-|*", "request numbers are 1-128 characters of 0-9 A-Z a-z _ - | *")
#: Product coupons: 6-40 characters of 0-9 A-Z a-z _ - (single sends' send_request_no: up to 128).
PRODUCT_COUPON = RequestNumberRule(
    6, 40, r"0-9A-Za-z_\-", "product-coupon request numbers are 6-40 characters of 0-9 A-Z a-z _ -"
)
#: Merchant coupons: what all their request numbers accept. ``use_request_no`` is the shortest,
#: string[1,32] (核销用户券, https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter9_2_3.shtml); the
#: others are string[1,128] (wechatpay-go services/merchantexclusivecoupon). Generated numbers fit it.
MERCHANT_COUPON = RequestNumberRule(
    1, 32, r"0-9A-Za-z_\-|*", "merchant-coupon request numbers are 1-32 characters of 0-9 A-Z a-z _ - | *"
)
#: The rule of each family: what every request-number field of its operations accepts. Brands that
#: connect directly send the partner operations' bodies (wechatpay-skills 1-品牌 samples): the same rule.
FAMILIES: dict[str, RequestNumberRule] = {
    "favor": FAVOR,
    "product_coupon": PRODUCT_COUPON,
    "brand_product_coupon": PRODUCT_COUPON,
    "merchant_coupon": MERCHANT_COUPON,
}
#: The numbers the SDK generates fit every family's rule.
GENERATED = strictest(list(FAMILIES.values()))
