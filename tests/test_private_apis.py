"""No private API of a dependency, except the measured ones listed in wxpay_async/_private_apis.py.

Each listed reliance has a check here that fails loudly when the dependency changes (rather than
the SDK quietly taking its slower fallback), and the removed ones stay removed.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import json.encoder
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web

from wxpay_async import _private_apis
from wxpay_async._private_apis import PRIVATE_APIS, json_encoder, slot_copier, slotted_fields
from wxpay_async._request import Request, Response, encode_json
from wxpay_async.crypto import rsa_verify
from wxpay_async.devkeys import generate_key_pair
from wxpay_async.errors import ConfigurationError
from wxpay_async.middleware._batch_signer import BatchSigner, default_slots
from wxpay_async.transports import InProcessTransport

PACKAGE = Path(__file__).resolve().parent.parent / "wxpay_async"

#: Private names of dependencies the SDK must not touch (issue 19 part 3).
REMOVED = {
    "_RequestContextManager": "aiohttp's request context manager type",
    "_handle": "aiohttp Application._handle",
    "_reading_paused": "a StreamReader protocol's private flag",
    "_max_workers": "ThreadPoolExecutor's private size",
}


def sources() -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}


def names_used(text: str) -> set[str]:
    """Attribute and variable names the code uses (docstrings and comments do not count)."""
    tree = ast.parse(text)
    return {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} | {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
    }


def test_removed_private_apis_stay_removed() -> None:
    for path, text in sources().items():
        used = names_used(text)
        for name, what in REMOVED.items():
            assert name not in used, f"{path} uses {what} ({name}): use the public API"


def test_exec_and_c_make_encoder_live_only_in_the_private_apis_file() -> None:
    """Every listed reliance is behind one function: outside _private_apis.py nobody uses them."""
    for path, text in sources().items():
        if path == "_private_apis.py":
            continue
        assert "c_make_encoder" not in text, path
        calls = [
            n
            for n in ast.walk(ast.parse(text))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("exec", "eval")
        ]
        assert not calls, f"{path} calls exec/eval"


def test_the_list_names_every_reliance_once() -> None:
    text = (PACKAGE / "_private_apis.py").read_text(encoding="utf-8")
    wheres = [api.where for api in PRIVATE_APIS]
    assert len(set(wheres)) == len(wheres)
    for function in ("json_encoder", "slot_copier"):
        assert any(function in where for where in wheres) and f"def {function}(" in text
    assert any("_request_mock" in api.what for api in PRIVATE_APIS)
    assert all(api.why and api.fallback for api in PRIVATE_APIS)


# -- json.encoder.c_make_encoder ----------------------------------------------------------------
def test_cpython_still_has_the_c_encoder_we_call() -> None:
    make = getattr(json.encoder, "c_make_encoder", None)
    assert make is not None, "json.encoder.c_make_encoder is gone: encode_json now takes the public (slower) encoder"
    # The positional arguments JSONEncoder.iterencode passes it (CPython Lib/json/encoder.py).
    source = inspect.getsource(json.encoder.JSONEncoder.iterencode)
    assert re.search(r"c_make_encoder\(\s*markers, self\.default, _encoder, self\.indent,", source), (
        "JSONEncoder.iterencode calls c_make_encoder differently now: check json_encoder()"
    )


@pytest.mark.parametrize(
    "value",
    [
        {"stock_id": "9856000", "name": "满100减10", "n": 1, "f": 1.5, "ok": True, "none": None},
        {"nested": {"list": [1, "二", {"k": []}]}, "quote": 'a"b\\c\n'},
        [],
        "\u2028 line separator",
    ],
)
def test_json_encoder_matches_json_dumps(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert json_encoder(_Refused)(value) == expected.encode("utf-8")
    assert encode_json(value) == expected.encode("utf-8")


def test_json_encoder_keeps_the_circular_reference_check(monkeypatch: pytest.MonkeyPatch) -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(_Refused, match="Circular reference"):
        json_encoder(_Refused)(loop)
    monkeypatch.setattr(_private_apis, "_C_MAKE_ENCODER", None)  # the fallback is the public encoder
    assert json_encoder(_Refused)({"a": "é"}) == '{"a":"é"}'.encode()
    with pytest.raises(_Refused, match="Circular reference"):
        json_encoder(_Refused)(loop)
    with pytest.raises(_Refused, match="float"):
        json_encoder(_Refused)({"a": float("nan")})


class _Refused(Exception):
    """What the tests' encoders raise for a value JSON cannot hold (the SDK passes ValidationError)."""


# -- attrs slots ----------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [Request, Response])
def test_attrs_still_keeps_fields_in_slots(cls: type) -> None:
    names = [a.name for a in attrs.fields(cls)]
    assert slotted_fields(cls) == names, (
        f"attrs no longer keeps every {cls.__name__} field in a __slots__ descriptor: slot_copier now "
        "takes its slower object.__setattr__ path"
    )


def test_slot_copier_copies_every_field() -> None:
    @attrs.frozen(kw_only=True)
    class Sample:
        a: int
        b: str = "x"
        c: list[int] = attrs.field(factory=list)

    names, copy, make = slot_copier(Sample)
    original = Sample(a=1, b="y", c=[2])
    copied = copy(original)
    assert names == {"a", "b", "c"} and copied == original and copied is not original
    assert copied.c is original.c  # a shallow copy, like attrs.evolve
    assert make(a=3, b="z", c=[]) == Sample(a=3, b="z", c=[])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        copied.a = 2  # type: ignore[misc]


# -- aioresponses._request_mock -------------------------------------------------------------------
def test_aioresponses_still_has_the_hook_the_mock_overrides() -> None:
    aioresponses = pytest.importorskip("aioresponses")
    from wxpay_async.testing._mock import REQUEST_HOOK_PARAMETERS, check_request_hook

    params = tuple(inspect.signature(aioresponses.aioresponses._request_mock).parameters)
    assert params[:4] == REQUEST_HOOK_PARAMETERS, f"aioresponses' _request_mock changed: {params}"
    check_request_hook()

    class Changed:
        async def _request_mock(self, method: str, url: str) -> None: ...

    with pytest.raises(ConfigurationError, match="_request_mock"):
        check_request_hook(Changed)


# -- ThreadPoolExecutor: an explicit size ----------------------------------------------------------
class _OpaqueExecutor(ThreadPoolExecutor):
    """A thread pool whose private size attribute is gone, as a future Python may do."""

    def __getattribute__(self, name: str) -> Any:
        if name == "_max_workers" and inspect.stack()[1].filename.endswith("_batch_signer.py"):
            raise AttributeError(name)
        return super().__getattribute__(name)


async def test_batch_signer_takes_an_explicit_size() -> None:
    pair = generate_key_pair("slots")
    with _OpaqueExecutor(max_workers=2) as executor:
        default = BatchSigner(executor)
        sized = BatchSigner(executor, slots=2)
        messages = [f"m{i}".encode() for i in range(20)]
        for signer in (default, sized):
            signatures = await asyncio.gather(*(signer.sign(pair.private_key, m) for m in messages))
            assert all(rsa_verify(pair.public_key, m, s) for m, s in zip(messages, signatures, strict=True))
    assert default._slots == default_slots() and sized._slots == 2
    with pytest.raises(ConfigurationError):
        BatchSigner(ThreadPoolExecutor(1), slots=0)


# -- InProcessTransport: public routing -------------------------------------------------------------
async def test_inprocess_transport_runs_routing_and_middlewares_publicly() -> None:
    seen: list[str] = []

    @web.middleware
    async def outer(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append("outer")
        response: web.StreamResponse = await handler(request)
        response.headers["X-Outer"] = "1"
        return response

    @web.middleware
    async def inner(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append("inner")
        result: web.StreamResponse = await handler(request)
        return result

    async def echo(request: web.Request) -> web.Response:
        seen.append("handler")
        body = await request.read()
        return web.json_response({"openid": request.match_info["openid"], "q": request.query_string, "len": len(body)})

    app = web.Application(middlewares=[outer, inner])
    app.router.add_post("/v3/users/{openid}/coupons", echo)
    transport = InProcessTransport(app)
    try:
        request = Request(method="POST", base_url="http://in", target="/v3/users/o%2F1/coupons?b=2&a=1", content=b"{}")
        answer = await transport.send(request)
        assert answer.status == 200 and answer.headers["X-Outer"] == "1"
        assert json.loads(answer.content) == {"openid": "o/1", "q": "b=2&a=1", "len": 2}
        assert seen == ["outer", "inner", "handler"]
        missing = await transport.send(Request(method="GET", base_url="http://in", target="/nowhere"))
        assert missing.status == 404
        wrong = await transport.send(Request(method="GET", base_url="http://in", target="/v3/users/o/coupons"))
        assert wrong.status == 405
    finally:
        await transport.aclose()
