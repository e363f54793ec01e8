"""The official-examples corpus (tests/official/examples) as the oracle.

Each file is one example copied from an official source (WeChat Pay's API pages, the official
wechatpay-go / wechatpay-java / wechatpay-php repositories, the seeds), naming that source. None of
it comes from our spec or our emulator, so these tests check the SDK against WeChat Pay itself:

- an answer example is served *signed* by a real server on 127.0.0.1, read through the typed
  coroutine a user calls, and every value it carries must land in the model (or ``extra``);
- a request example is passed to the typed coroutine with validation on; it must pass and put
  exactly the example's JSON body (and query) on the wire;
- a notification example goes through the real handler (signature, AES-GCM, typed model).
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import keyword
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import attrs
import pytest
from aiohttp.test_utils import TestServer

from wxpay_async import Client
from wxpay_async._converter import parse_datetime
from wxpay_async.crypto import Verifier
from wxpay_async.devkeys import KeyPair
from wxpay_async.errors import ValidationError
from wxpay_async.notifications import NotificationHandler
from wxpay_async.validation import operations, validate_request

from .conftest import brand_client_kwargs, client_kwargs
from .fake_wechat import FakeWeChat, Reply
from .test_notifications import notification
from .test_resources import answered_model

CORPUS = Path(__file__).parent / "official" / "examples"
EXAMPLES = sorted(CORPUS.glob("*.json"))
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def load(path: Path) -> dict[str, Any]:
    example: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    assert example.get("source"), f"{path.name} names no source"
    assert example["kind"] in ("answer", "request", "notification"), path.name
    return example


def of_kind(kind: str) -> list[Any]:
    """The examples of one kind; one whose file says ``xfail`` (a known gap) must fail (strict)."""
    params = []
    for p in EXAMPLES:
        example = load(p)
        if example["kind"] == kind:
            marks = [pytest.mark.xfail(strict=True, reason=example["xfail"])] if example.get("xfail") else []
            params.append(pytest.param(p, id=p.stem, marks=marks))
    return params


def test_every_kind_has_examples() -> None:
    """A parametrized test over an empty list runs nothing and passes: each kind must have cases."""
    for kind in ("answer", "request", "notification"):
        assert of_kind(kind), f"no official {kind} example in {CORPUS}: its test would run zero cases"


@pytest.fixture
async def wx(fake: FakeWeChat, server: TestServer) -> AsyncIterator[Client]:
    async with Client(**client_kwargs(fake, server, mode="public_key")) as client:
        yield client


@pytest.fixture
async def lax(fake: FakeWeChat, server: TestServer) -> AsyncIterator[Client]:
    """For answers: the request is not under test, so dummy arguments need not pass validation."""
    async with Client(**client_kwargs(fake, server, mode="public_key", validate=False)) as client:
        yield client


@pytest.fixture
async def brand_wx(fake: FakeWeChat, server: TestServer) -> AsyncIterator[Client]:
    """For brand-direct examples (品牌直连): a brand identity."""
    async with Client(**brand_client_kwargs(fake, server)) as client:
        yield client


@pytest.fixture
async def brand_lax(fake: FakeWeChat, server: TestServer) -> AsyncIterator[Client]:
    async with Client(**brand_client_kwargs(fake, server, validate=False)) as client:
        yield client


def is_brand(example: dict[str, Any]) -> bool:
    return str(example["operation"]).startswith("brand_product_coupon.")


def method_of(client: Client, operation: str) -> tuple[dict[str, Any], Any]:
    group, name = operation.split(".")
    return operations()[operation], getattr(getattr(client, group), name)


def dummy(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    return {"integer": 1, "number": 1, "boolean": True, "object": {}, "array": []}.get(kind or "", "x1")


def dummy_call(op: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    args = ["x1" for _ in op["path_params"]]
    kwargs: dict[str, Any] = {}
    if op["kind"] == "upload":
        return args, {"file": PNG, "filename": "a.png"}
    paging = {"offset", "limit", "page_token", "page_size"} if op.get("pagination") else set()
    for p in op["query_params"]:
        if p["required"] and p["name"] not in paging:
            kwargs[p["name"]] = dummy(p["schema"])
    body = op.get("body") or {}
    for name in body.get("required") or ():
        if name != op.get("idempotency_field"):
            kwargs[name + "_" if keyword.iskeyword(name) else name] = dummy(body["properties"][name])
    return args, kwargs


def landed(expected: Any, got: Any, where: str, untyped: list[str] | None = None) -> None:
    """Every value of the official example is in the model, where it belongs (or in ``extra``).

    Fields that landed in ``extra`` (the SDK has no typed attribute for them) are collected in
    ``untyped``: an official field should be typed.
    """
    if isinstance(expected, dict):
        assert got is not None, f"{where}: the example has an object, the model has None"
        for key, value in expected.items():
            if value is None:
                continue
            if attrs.has(type(got)):
                names = {a.name for a in attrs.fields(type(got))}
                attr = key + "_" if keyword.iskeyword(key) else key
                inner = getattr(got, attr) if attr in names else got.extra.get(key, _MISSING)
                if attr not in names and untyped is not None:
                    untyped.append(f"{where}.{key}")
                    continue
            else:
                inner = got.get(key, _MISSING)
            assert inner is not _MISSING, f"{where}.{key}: not in the model nor in extra"
            landed(value, inner, f"{where}.{key}", untyped)
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), f"{where}: list lost items: {got!r:.200}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            landed(e, g, f"{where}[{i}]", untyped)
    elif isinstance(got, dt.datetime):
        assert parse_datetime(expected) == got, f"{where}: {expected!r} read as {got!r}"
    elif isinstance(got, bool) or isinstance(expected, bool):
        assert got == expected or str(expected).lower() == str(got).lower(), f"{where}: {expected!r} -> {got!r}"
    elif isinstance(got, int) and isinstance(expected, str):
        assert int(expected) == got, f"{where}: {expected!r} read as {got!r}"
    elif isinstance(got, str) and isinstance(expected, int | float):
        assert str(expected) == got, f"{where}: {expected!r} read as {got!r}"
    else:
        assert got == expected, f"{where}: {expected!r} read as {got!r}"


_MISSING = object()


def test_the_corpus_is_well_formed() -> None:
    assert EXAMPLES, "no official examples"
    known = set(operations()) | {"notification.coupon_use", "notification.product_coupon_send"}
    for path in EXAMPLES:
        example = load(path)
        assert example["operation"] in known, f"{path.name}: unknown operation {example['operation']}"
        assert path.name.startswith(f"{example['operation']}.{example['kind']}."), path.name
        assert re.match(r"^(https?://|[\w.-]+/[\w.-]+@[0-9a-f]{7,40}:|seeds/)", example["source"]), path.name


@pytest.mark.parametrize("path", of_kind("answer"))
async def test_official_answer_reads_into_the_model(
    path: Path, lax: Client, brand_lax: Client, fake: FakeWeChat
) -> None:
    example = load(path)
    if is_brand(example):
        lax = brand_lax
    op, method = method_of(lax, example["operation"])
    args, kwargs = dummy_call(op)
    fake.queue(Reply(body=example["body"], certificates=op["path"] == "/v3/certificates"))
    model = await answered_model(method(*args, **kwargs))
    untyped: list[str] = []
    landed(example["body"], model, example["operation"], untyped)
    assert model.raw == example["body"]
    assert untyped == example.get("untyped", []), "official fields the model does not type"


@pytest.mark.parametrize("path", of_kind("request"))
async def test_official_request_passes_and_goes_on_the_wire_unchanged(
    path: Path, wx: Client, lax: Client, brand_wx: Client, brand_lax: Client, fake: FakeWeChat
) -> None:
    """A complete example passes validation and goes on the wire as written.

    A *partial* example (the source page was cut) must pass every rule except the presence of the
    fields the cut removed; it is then sent with placeholders for those, and what it does carry must
    be on the wire unchanged. An example that *violates* a rule its own source states is refused
    with that field named.
    """
    example = load(path)
    if is_brand(example):  # brand paths take a brand identity
        wx, lax = brand_wx, brand_lax
    op, method = method_of(wx, example["operation"])
    if op["kind"] == "upload":
        pytest.skip("multipart upload: the example shows only the meta JSON")
    if example.get("placeholders"):
        pytest.skip("the source's placeholders (empty strings) cannot go on the wire")
    params = example.get("path_params") or {}
    args = [params[p["name"]] for p in op["path_params"]]
    # A URL carries text: a number in an example's query string is passed as the number it is.
    integers = {p["name"] for p in op["query_params"] if p["schema"].get("type") == "integer"}
    integers |= {"offset", "limit", "page_size"} if op.get("pagination") else set()
    query = {k: int(v) if k in integers and isinstance(v, str) else v for k, v in (example.get("query") or {}).items()}
    given = {k: v for k, v in {**query, **(example.get("body") or {})}.items()}
    kwargs = {(k + "_" if keyword.iskeyword(k) else k): v for k, v in given.items()}
    accepted = inspect.signature(method).parameters
    assert not set(kwargs) - set(accepted), f"official fields the SDK does not accept: {set(kwargs) - set(accepted)}"
    client = wx
    if example.get("violates"):
        with pytest.raises(ValidationError) as info:
            await _send(method, args, kwargs)
        assert info.value.field == example["violates"]["field"]
        return
    if example.get("partial"):
        try:
            validate_request(example["operation"], path=params, query=query, body=example.get("body"))
        except ValidationError as exc:
            assert exc.rule == "required", f"{exc.field}: {exc.rule}"
        _, fill = dummy_call(op)
        kwargs = {**{k: v for k, v in fill.items() if k not in kwargs}, **kwargs}
        client = lax
        _, method = method_of(client, example["operation"])
    fake.received.clear()
    fake.queue(Reply(body={}))
    await _send(method, args, kwargs)
    sent = fake.received[-1]
    target = urlsplit(sent.target)
    for name, value in params.items():
        assert quote(str(value), safe="") in target.path, f"path parameter {name} not in {target.path}"
    if example.get("body") is not None:
        wire = json.loads(sent.body)
        expected = example["body"]
        assert ({k: wire.get(k) for k in expected} if example.get("partial") else wire) == expected
    if example.get("query"):
        wire_query = dict(parse_qsl(target.query))
        for name, value in example["query"].items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            assert wire_query.get(name) == text, f"query {name}: {wire_query.get(name)!r} != {text!r}"


async def _send(method: Any, args: list[str], kwargs: dict[str, Any]) -> Any:
    result = method(*args, **kwargs)
    return await result


@pytest.mark.parametrize("path", of_kind("notification"))
def test_official_notification_parses(
    path: Path, platform_keys: KeyPair, public_key_pair: KeyPair, public_key_id: str, apiv3_key: str
) -> None:
    example = load(path)
    body = example["body"]
    envelope = body if "resource" in body else None
    resource = (example.get("resource") or body) if envelope is None else example.get("resource")
    if resource is None:
        pytest.skip("an envelope without its decrypted resource: checked for shape only")
    event = (envelope or {}).get("event_type") or {
        "notification.coupon_use": "COUPON.USE",
        "notification.product_coupon_send": "PRODUCT_COUPON_SP.SEND",
    }[example["operation"]]
    aad = ((envelope or {}).get("resource") or {}).get("associated_data", "coupon")
    headers, raw = notification(platform_keys, platform_keys.serial, apiv3_key, resource, event=event, aad=aad)
    handler = NotificationHandler(Verifier([platform_keys.certificate]), apiv3_key)
    parsed = handler.parse(headers, raw)
    assert parsed.event_type == event
    model = parsed.model  # the typed model the SDK registers for this event type
    assert attrs.has(type(model)), f"event type {event}: the SDK has no typed model for it (got {type(model)})"
    untyped: list[str] = []
    landed(resource, model, example["operation"], untyped)
    assert untyped == example.get("untyped", []), "official fields the model does not type"


def test_the_corpus_table_is_current() -> None:
    """tests/official/README.md lists every example by operation and source (scripts/corpus_table.py)."""
    script = Path(__file__).parent.parent / "scripts" / "corpus_table.py"
    assert subprocess.run([sys.executable, str(script), "--check"], check=False).returncode == 0
