"""One verified API call as handlers see it, and the route table type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web

if TYPE_CHECKING:
    from ._emulator import Emulator


@attrs.frozen(kw_only=True)
class Part:
    """One multipart/form-data part, byte-exact."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


@attrs.define(kw_only=True)
class RequestState:
    """What the protocol middleware learnt about a request, for the handler and back."""

    raw_body: bytes = b""
    parts: dict[str, Part] = attrs.field(factory=dict)
    mchid: str = ""
    ledger_key: tuple[str, str, str] | None = None


def _request_key(name: str, kind: type) -> Any:
    factory = getattr(web, "RequestKey", None)  # aiohttp >= 3.12; plain strings before
    return factory(name, kind) if factory is not None else name


STATE_KEY: Any = _request_key("wxpay_emulator_state", RequestState)


def request_state(request: web.Request) -> RequestState:
    state = request.get(STATE_KEY)
    if state is None:
        state = RequestState()
        request[STATE_KEY] = state
    assert isinstance(state, RequestState)
    return state


@attrs.define(kw_only=True)
class Call:
    request: web.Request
    emu: Emulator
    mchid: str
    body: bytes
    data: dict[str, Any]
    query: Mapping[str, str]
    params: Mapping[str, str]
    parts: Mapping[str, Part]

    @property
    def origin(self) -> str:
        return str(self.request.url.origin())

    def count_accepted(self, kind: str, request_no: str) -> None:
        """Count this send in the ledger's ``accepted`` once its success answer is handed out."""
        request_state(self.request).ledger_key = (kind, self.mchid, request_no)

    def count_send(
        self,
        kind: str,
        request_no: str,
        issued: Iterable[dict[str, Any]] = (),
        notify: Callable[[Call, dict[str, Any]], None] | None = None,
    ) -> None:
        """A send's answer is ready (first or replayed): count it ``processed`` in the ledger now,
        and ``accepted`` once its success answer is handed out (:meth:`count_accepted`); then
        ``notify`` each coupon the send ``issued`` (none when the answer was replayed)."""
        self.emu.ledger.count(kind, self.mchid, request_no, "processed")
        self.count_accepted(kind, request_no)
        if notify is not None:
            for coupon in issued:
                notify(self, coupon)


#: A handler returns a JSON-able payload (200), None (204) or a ready response (downloads).
Handler = Callable[[Call], Awaitable[Any]]
Route = tuple[str, str, Handler]


def parse_multipart(content_type: str, body: bytes) -> dict[str, Part]:
    """Split a multipart/form-data body without re-encoding anything (the sha256 must match)."""
    boundary = None
    for item in content_type.split(";")[1:]:
        key, _, value = item.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        return {}
    delimiter = b"--" + boundary.encode("latin-1")
    parts: dict[str, Part] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        params: dict[str, str] = {}
        for item in disposition.split(";")[1:]:
            key, _, value = item.strip().partition("=")
            params[key.lower()] = value.strip().strip('"')
        if "name" in params:
            parts[params["name"]] = Part(
                name=params["name"],
                data=data,
                filename=params.get("filename"),
                content_type=headers.get("content-type"),
            )
    return parts
