"""The hot path's generated constructors and copies of Request/Response match attrs' own."""

from __future__ import annotations

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

from wxpay_async._request import (
    Request,
    Response,
    _copy_request,
    _copy_response,
    make_request,
    make_response,
    verified,
    with_header,
)


def _values(obj: object) -> dict[str, object]:
    return {a.name: getattr(obj, a.name) for a in attrs.fields(type(obj))}  # type: ignore[arg-type]


def test_make_and_copy_match_attrs() -> None:
    headers = CIMultiDictProxy(CIMultiDict({"Accept": "application/json"}))
    fields = {
        "method": "POST",
        "base_url": "https://api.mch.weixin.qq.com",
        "target": "/v3/a?b=1",
        "headers": headers,
        "content": b"{}",
        "json": {},
        "signed_payload": None,
        "idempotency_field": "out_request_no",
        "idempotency_key": "N1",
        "timeout": 3.0,
        "sign": True,
        "verify": False,
        "extensions": {"x": 1},
        "max_response_bytes": 99,
    }
    assert set(fields) == {a.name for a in attrs.fields(Request)}  # a new field must be added here too
    made, built = make_request(**fields), Request(**fields)  # type: ignore[arg-type]
    assert _values(made) == _values(built) and made == built and repr(made) == repr(built)
    assert _values(_copy_request(built)) == _values(built)
    signed = with_header(built, "Authorization", "secret")
    assert signed.headers["Authorization"] == "secret" and "Authorization" not in built.headers
    assert {k: v for k, v in _values(signed).items() if k != "headers"} == {
        k: v for k, v in _values(built).items() if k != "headers"
    }

    answer = {"status": 200, "headers": headers, "content": b"{}", "request": built, "verified": False}
    made_response, built_response = make_response(**answer), Response(**answer)  # type: ignore[arg-type]
    assert _values(made_response) == _values(built_response) and made_response == built_response
    assert _values(_copy_response(built_response)) == _values(built_response)
    assert verified(built_response).verified and not built_response.verified
