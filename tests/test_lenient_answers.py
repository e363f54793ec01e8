"""Any valid JSON structures into any answer model: a 2xx answer never fails because of its shape.

Hypothesis feeds every generated answer model arbitrary JSON, both random and shaped like the
model (right keys, wrong or odd values: numbers as strings, lists for objects, nulls); the
converter must return an instance whose ``raw`` is what it was given.
"""

from __future__ import annotations

import inspect
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wxpay_async._converter import converter
from wxpay_async.models import certificates, favor, product_coupon

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
ANSWERS = sorted(
    {
        cls
        for module in (favor, product_coupon, certificates)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if attrs.has(cls) and "raw" in attrs.fields_dict(cls)
    },
    key=lambda c: c.__name__,
)


def shaped(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    """The model's own keys with arbitrary JSON values (and a few odd scalars that look right)."""
    names = [a.name for a in attrs.fields(cls) if a.name not in ("extra", "raw")]
    odd = st.sampled_from(["10", "12.5", "true", "false", "", "2025-01-01T00:00:00+08:00", "not a time"])
    return st.dictionaries(st.sampled_from(names), JSON | odd, max_size=len(names)) if names else st.just({})


@pytest.mark.parametrize("cls", ANSWERS, ids=lambda c: c.__name__)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_json_reads_into_any_answer_model(cls: type, data: st.DataObject) -> None:
    value = data.draw(st.one_of(JSON, shaped(cls)))
    model = converter.structure(value, cls)
    assert isinstance(model, cls)
    assert model.raw is value
