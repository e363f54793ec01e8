"""One request-number rule per family, read from the spec, used by idempotency, validation and the emulator."""

from __future__ import annotations

import pytest

from wxpay_async._request_numbers import FAMILIES, GENERATED, operation_rules, rule_for, strictest
from wxpay_async.emulator import EmulatorKeys
from wxpay_async.middleware import REQUEST_NUMBER_PATTERN, new_request_number
from wxpay_async.validation import REQUEST_NUMBER, check_request_number, validate_request

from .emulator_helpers import started


def test_each_family_rule_is_what_every_operation_of_the_spec_accepts() -> None:
    by_family: dict[str, list[object]] = {}
    for key, rule in operation_rules().items():
        by_family.setdefault(key.split(".", 1)[0], []).append(rule)
    assert set(by_family) == set(FAMILIES)
    for family, rules in by_family.items():
        expected = strictest(rules)  # type: ignore[arg-type]
        got = FAMILIES[family]
        assert (got.min_length, got.max_length, got.alphabet) == (
            expected.min_length,
            expected.max_length,
            expected.alphabet,
        ), family


def test_generated_numbers_fit_every_operation() -> None:
    for prefix in ("1900000001", "", "brand|*id-with_extra-long-prefix-0123456789", "商户"):
        number = new_request_number(prefix)
        assert GENERATED.matches(number) and REQUEST_NUMBER_PATTERN.match(number), number
        for key, rule in operation_rules().items():
            assert rule.matches(number), (key, number)
    # The mchid leads as far as the strictest family leaves room (merchant coupons: 32 characters).
    assert new_request_number("1900000001").startswith("1900000001"[: GENERATED.max_length - 30])


def test_validation_and_family_rules_agree() -> None:
    assert REQUEST_NUMBER.pattern == FAMILIES["favor"].pattern.pattern
    check_request_number("out_request_no", "a|b*c")
    for bad in ("", "x" * 129, "a b"):
        with pytest.raises(ValueError):
            check_request_number("out_request_no", bad)
    # The spec-driven check of a product-coupon call refuses what the family rule refuses.
    body = {"brand_id": "b", "product_coupon_id": "1", "stock_id": "2", "appid": "wx1", "send_request_no": "abc"}
    assert not rule_for("product_coupon.send_coupon", "send_request_no").matches("abc")
    with pytest.raises(ValueError, match="send_request_no"):
        validate_request("product_coupon.send_coupon", path={"openid": "o1"}, body=body)


@pytest.mark.parametrize(
    ("number", "accepted"),
    [("abcde", False), ("abcdef", True), ("abc|def", False), ("x" * 128, True), ("x" * 129, False)],
)
async def test_emulator_applies_the_operation_rule(number: str, accepted: bool) -> None:
    async with started(EmulatorKeys.generate()) as (_, client):
        reply = await client.post(
            "/v3/marketing/partner/product-coupon/users/o1/coupons",
            {"brand_id": "b", "product_coupon_id": "1", "stock_id": "2", "appid": "wx1", "send_request_no": number},
        )
    refused_for_number = reply.code == "PARAM_ERROR" and "send_request_no" in str(reply.json())
    assert refused_for_number is not accepted, reply.json()
