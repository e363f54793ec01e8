"""Fault injection: by probability (seeded ``random.Random``) or by a script of the next N requests.

Kinds (``Fault.kind``):

``rate_limit``         429 before processing, ``code`` or the API family's official rate-limit code:
                       RATELIMIT_EXCEEDED under ``/v3/marketing/partner/product-coupon`` (product-coupon
                       send error table), FREQUENCY_LIMIT_EXCEED elsewhere (cash-coupon send error table,
                       as quoted by our issue tracker)
``system_error``       500 SYSTEM_ERROR, before processing
``slow``               wait ``delay`` seconds, then answer normally
``drop_before``        close the connection without processing the request
``drop_after``         process the request, then close the connection without answering
``timeout``            wait ``delay`` seconds (default: long), then close without processing
``bad_signature``      answer with a signature that does not verify
``signtest``           answer with a ``WECHATPAY/SIGNTEST/`` probe signature
``skew``               answer with ``Wechatpay-Timestamp`` shifted by ``skew`` seconds
``rotate_certificate`` add a platform certificate, usable at once, and sign this answer with it
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

FAULT_KINDS = (
    "rate_limit",
    "system_error",
    "slow",
    "drop_before",
    "drop_after",
    "timeout",
    "bad_signature",
    "signtest",
    "skew",
    "rotate_certificate",
)
DEFAULT_TIMEOUT_DELAY = 3600.0
DEFAULT_SKEW = 600.0


@attrs.define(kw_only=True)
class Fault:
    """One fault; ``method``/``path_prefix`` restrict which requests it applies to."""

    kind: str = attrs.field(validator=attrs.validators.in_(FAULT_KINDS))
    method: str | None = None
    path_prefix: str | None = None
    delay: float | None = None
    skew: float | None = None
    status: int | None = None
    code: str | None = None
    message: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        known = {a.name for a in attrs.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}


@attrs.define(kw_only=True)
class RateRule:
    """``probability`` of ``fault`` for each request matching the fault's filter."""

    fault: Fault
    probability: float


class FaultInjector:
    """Decides the fault (if any) for each API request; the history records what was injected."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.script: deque[Fault] = deque()
        self.rates: list[RateRule] = []
        self.history: list[dict[str, Any]] = []

    def seed(self, seed: int | None) -> None:
        self.rng = random.Random(seed)

    def push(self, faults: Iterable[Fault]) -> None:
        self.script.extend(faults)

    def set_rates(self, rules: Iterable[RateRule]) -> None:
        self.rates = list(rules)

    def clear(self) -> None:
        self.script.clear()
        self.rates = []

    def pick(self, method: str, path: str) -> Fault | None:
        """The next scripted fault matching this request, else one drawn by rate, else None."""
        chosen: Fault | None = None
        for index, fault in enumerate(self.script):
            if fault.matches(method, path):
                del self.script[index]
                chosen = fault
                break
        if chosen is None:
            for rule in self.rates:
                # Draw for every matching rule so a seed gives the same sequence whatever matched.
                if rule.fault.matches(method, path) and self.rng.random() < rule.probability and chosen is None:
                    chosen = rule.fault
        if chosen is not None:
            self.history.append({"kind": chosen.kind, "method": method, "path": path})
        return chosen

    def describe(self) -> dict[str, Any]:
        return {
            "script": [f.to_dict() for f in self.script],
            "rates": [{"probability": r.probability, **r.fault.to_dict()} for r in self.rates],
            "injected": len(self.history),
        }
