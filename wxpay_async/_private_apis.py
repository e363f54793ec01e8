"""Every place wxpay_async relies on what a dependency does not promise, in one file.

The rule (CONTRIBUTING.md): no private API of a dependency. An exception is allowed only where
a measured gain needs it; it then lives behind one function here, falls back to the public way
when the dependency changes, and ``tests/test_private_apis.py`` fails loudly on such a change
(so the fallback is never taken silently in CI). :data:`PRIVATE_APIS` lists each one with its
measurement; the list and the code below must agree (the test checks that too).

Measured together (``benchmarks/bench_hotpath.py fake``, median of 3 interleaved runs, µs per
call): with both fallbacks forced, typed ``send_coupon`` 30.1 vs 26.7, typed ``get_stock`` 24.6
vs 22.7, ``request()`` ``send_coupon`` 15.4 vs 13.1, ``request()`` ``get_stock`` 13.7 vs 11.7:
12–18 % slower, well past the 5 % the hot path may move.

Removed (issue 19 part 3), with what replaced them:

- aiohttp ``client._RequestContextManager`` (a type annotation): a local Protocol,
  ``transports._aiohttp.PendingResponse``, of what ``ClientSession.request()`` publicly does.
- aiohttp ``Application._handle`` (``InProcessTransport``): ``app.router.resolve()`` and the app's
  ``middlewares``, chained as aiohttp documents new-style middlewares.
- the StreamReader stand-in's ``_reading_paused`` (``InProcessTransport``): aiohttp's own
  ``base_protocol.BaseProtocol`` is handed to ``StreamReader``.
- ``ThreadPoolExecutor._max_workers`` (``BatchSigner``): an explicit ``slots=`` (default: one per
  core, the size of the pool the Client makes).
"""

from __future__ import annotations

import json
import json.encoder
import types
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs

_T = TypeVar("_T")


@attrs.frozen(kw_only=True)
class PrivateAPI:
    """One reliance on a dependency's unpromised behaviour."""

    dependency: str
    what: str
    where: str
    why: str
    #: What runs when the dependency no longer has it.
    fallback: str


PRIVATE_APIS: Final[tuple[PrivateAPI, ...]] = (
    PrivateAPI(
        dependency="CPython json",
        what="json.encoder.c_make_encoder (the C encoder factory; not in the json docs)",
        where="wxpay_async._private_apis.json_encoder (it is _request.encode_json)",
        why="1.26 µs instead of 1.61 µs per request body (JSONEncoder.encode's Python layers), "
        "~0.35 µs of the ~12 µs the SDK spends per request() call (bench_hotpath.py fake)",
        fallback="json.JSONEncoder(ensure_ascii=False, separators=(',', ':')).encode",
    ),
    PrivateAPI(
        dependency="attrs",
        what="a slots=True attrs class keeps each field in a __slots__ member descriptor, set "
        "through the descriptor's __set__ by functions generated once per class with exec",
        where="wxpay_async._private_apis.slot_copier (Request/Response copies and constructors in _request)",
        why="a copy in 0.65 µs instead of 1.2–2.4 µs (a setattr loop, attrs.evolve); 3–4 copies or "
        "constructions per call, ~1.5–2 µs of a 12–25 µs call (bench_hotpath.py fake)",
        fallback="object.__setattr__ per field (attrs' documented way to set a frozen field)",
    ),
    PrivateAPI(
        dependency="aioresponses (testing extra only)",
        what="aioresponses._request_mock(orig_self, method, url, *args, **kwargs), overridden",
        where="wxpay_async.testing._mock._Responses._request_mock",
        why="the only point where the URL is seen as the SDK sent (and signed) it: aioresponses "
        "hands callbacks a URL with its query re-sorted, and the mock checks each Authorization "
        "against the exact target; no public hook exists",
        fallback="none: WeChatPayMock refuses to start and names the aioresponses version",
    ),
    PrivateAPI(
        dependency="aiohttp (testing extra only)",
        what="the keyword arguments of ClientResponse.__init__, which aioresponses calls",
        where="wxpay_async.testing._compat.response_class_for",
        why="aiohttp 3.14 added a required stream_writer that aioresponses 0.7.9 does not pass "
        "(pnuckowski/aioresponses#289); read from the signature, off when not needed",
        fallback="aioresponses' own response class",
    ),
)


# -- json ----------------------------------------------------------------------------------------
_PUBLIC_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_C_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)


def json_encoder(refuse: Callable[[Exception], Exception]) -> Callable[[Any], bytes]:
    """Compact UTF-8 JSON (non-ASCII kept, NaN/Infinity refused), as ``json.dumps(v, ensure_ascii=False,
    separators=(",", ":"), allow_nan=False).encode()``; what it cannot encode raises ``refuse(exc)``.

    With the C accelerator: what ``JSONEncoder.encode`` runs in the end, without its Python layers;
    a fresh markers dict per call keeps the circular-reference check and makes calls from other
    threads safe. Without it (another interpreter, a changed CPython): the public encoder. The
    error mapping is inside, so a body is encoded in one Python call (a wrapper cost ~0.1 µs).
    """
    make = _C_MAKE_ENCODER
    default, escape = _PUBLIC_ENCODER.default, json.encoder.encode_basestring
    public = _PUBLIC_ENCODER.encode
    if make is None:

        def encode_public(value: Any) -> bytes:
            try:
                return public(value).encode("utf-8")
            except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
                raise refuse(exc) from None

        return encode_public

    def encode(value: Any) -> bytes:
        try:
            return "".join(make({}, default, escape, None, ":", ",", False, False, False)(value, 0)).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            raise refuse(exc) from None

    return encode


# -- attrs slots ---------------------------------------------------------------------------------
def slot_copier(cls: type[_T]) -> tuple[frozenset[str], Callable[[_T], _T], Callable[..., _T]]:
    """The field names of a frozen attrs class, a function copying an instance, and a constructor
    taking every field by keyword (no defaults, no converters: values as stored).

    For a ``slots=True`` class the two functions are generated once (``exec``): straight runs of
    stores through each slot's own descriptor, which is what ``attrs.evolve``/``__init__`` cost
    several times over. A field that is not a slot (attrs changed how it builds classes) gets the
    public store, ``object.__setattr__``, and ``tests/test_private_apis.py`` says so.
    """
    names = tuple(a.name for a in attrs.fields(cls))  # type: ignore[arg-type]
    namespace: dict[str, Any] = {"_new": object.__new__, "cls": cls}
    for name in names:
        slot = cls.__dict__.get(name)
        if isinstance(slot, types.MemberDescriptorType):
            namespace[f"_set_{name}"] = slot.__set__
        else:
            namespace[f"_set_{name}"] = lambda obj, value, _name=name: object.__setattr__(obj, _name, value)
    copy_body = "".join(f"    _set_{name}(new, obj.{name})\n" for name in names)
    make_body = "".join(f"    _set_{name}(new, {name})\n" for name in names)
    exec(
        f"def copy(obj):\n    new = _new(cls)\n{copy_body}    return new\n"
        f"def make(*, {', '.join(names)}):\n    new = _new(cls)\n{make_body}    return new\n",
        namespace,
    )
    return frozenset(names), namespace["copy"], namespace["make"]


def slotted_fields(cls: type) -> list[str]:
    """The fields of attrs class ``cls`` that are slot member descriptors (what :func:`slot_copier` needs)."""
    return [a.name for a in attrs.fields(cls) if isinstance(cls.__dict__.get(a.name), types.MemberDescriptorType)]
