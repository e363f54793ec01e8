"""Unsigned admin endpoints under ``/_emulator/``, answered only to loopback clients.

Refused: a peer that is not loopback (or unknown), a ``Host`` that is not 127.0.0.1,
localhost or [::1] (DNS rebinding), a state-changing call without ``Content-Type:
application/json`` (cross-site forms), and, when a token is configured, a call without the
``X-Emulator-Admin-Token`` header.

GET  /_emulator/config                      settings, keys' public parts, certificates, faults
GET  /_emulator/ledger                      issued coupons and per-request-number counts
POST /_emulator/faults                      {"clear": true, "seed": 1, "rates": [{"kind", "probability", ...}],
                                             "push": [{"kind", "times", "method", "path_prefix", "delay", ...}]}
POST /_emulator/coupons/{coupon_id}/use     {"transaction_id", "order_amount", "consume_mchid"}: the user used a
                                             cash coupon → COUPON.USE notification
POST /_emulator/coupons/{coupon_id}/refund  {"refund_amount"}: the order was refunded → the refund flow
POST /_emulator/rotate-certificate          {"delay": seconds, "expire_old_in": seconds}
POST /_emulator/clock                       {"skew": seconds} shifts the emulator's clock
POST /_emulator/rate-limit                  {"rate": per second, "burst": n}
GET  /_emulator/notifications               delivery records (attempts, statuses)
GET  /_emulator/media/{media_id}            uploaded images

Every body is checked against :data:`ADMIN_BODIES`: an unknown key, a value of the wrong type or a
fault without ``kind`` answers 400 PARAM_ERROR naming it (a bare fault object sent to
``/_emulator/faults`` is refused, not silently ignored). docs/guides/emulator-admin.md documents each.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import json
import re
from typing import Any

from aiohttp import web

from ._emulator import Emulator
from ._errors import ApiError
from ._faults import FAULT_KINDS, Fault, RateRule
from ._favor import refund_coupon, use_coupon

EMULATOR_KEY: web.AppKey[Emulator] = web.AppKey("emulator", Emulator)
ADMIN_TOKEN_KEY: web.AppKey[str] = web.AppKey("admin_token", str)
ADMIN_TOKEN_HEADER = "X-Emulator-Admin-Token"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


async def _body(request: web.Request, shape: str) -> dict[str, Any]:
    """The request's JSON body, checked against ``ADMIN_BODIES[shape]`` (an empty body is ``{}``)."""
    raw = await request.read()
    if not raw:
        return check_admin_body(shape, {})
    try:
        data = json.loads(raw)
    except ValueError:
        raise admin_error("body", "is not valid JSON") from None
    return check_admin_body(shape, data)


_NUMBER = (int, float)
_FAULT_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "kind": (str, True),
    "method": (str, False),
    "path_prefix": (str, False),
    "delay": (_NUMBER, False),
    "skew": (_NUMBER, False),
    "status": (int, False),
    "code": (str, False),
    "message": (str, False),
}
#: Each admin body: field -> (accepted types, required). Lists of objects name their item shape.
ADMIN_BODIES: dict[str, dict[str, tuple[Any, bool]]] = {
    "faults": {
        "clear": (bool, False),
        "seed": ((int, type(None)), False),
        "rates": ("rate", False),
        "push": ("push", False),
    },
    "rate": {**_FAULT_FIELDS, "probability": (_NUMBER, True)},
    "push": {**_FAULT_FIELDS, "times": (int, False)},
    "use": {"transaction_id": (str, False), "order_amount": (int, False), "consume_mchid": (str, False)},
    "refund": {"refund_amount": (int, False)},
    "rotate-certificate": {"delay": ((*_NUMBER, type(None)), False), "expire_old_in": ((*_NUMBER, type(None)), False)},
    "clock": {"skew": (_NUMBER, False)},
    "rate-limit": {"rate": (_NUMBER, True), "burst": ((int, type(None)), False)},
}


def check_admin_body(shape: str, data: Any, where: str = "") -> dict[str, Any]:
    """``data`` when it is exactly a ``shape`` body (ADMIN_BODIES); else 400 PARAM_ERROR naming the field."""
    spec = ADMIN_BODIES[shape]
    label = where or "body"
    if not isinstance(data, dict):
        raise admin_error(label, "must be a JSON object")
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise admin_error(
            f"{where}.{unknown[0]}" if where else unknown[0],
            f"unknown field (allowed: {', '.join(spec)})",
        )
    for name, (kinds, required) in spec.items():
        field = f"{where}.{name}" if where else name
        if name not in data:
            if required:
                raise admin_error(field, "required")
            continue
        value = data[name]
        if isinstance(kinds, str):  # a list of ``kinds`` objects
            if not isinstance(value, list):
                raise admin_error(field, "must be a list of objects")
            for i, item in enumerate(value):
                check_admin_body(kinds, item, f"{field}[{i}]")
        elif not _is_a(value, kinds):
            raise admin_error(field, f"must be {_kind_names(kinds)}")
        elif name == "kind" and value not in FAULT_KINDS:
            raise admin_error(field, f"must be one of {', '.join(FAULT_KINDS)}")
        elif name == "probability" and not 0 <= value <= 1:
            raise admin_error(field, "must be between 0 and 1")
    return data


def _is_a(value: Any, kinds: type | tuple[type, ...]) -> bool:
    """isinstance, except that true/false is not a number (bool subclasses int)."""
    listed = kinds if isinstance(kinds, tuple) else (kinds,)
    return isinstance(value, listed) and (bool in listed or not isinstance(value, bool))


def _kind_names(kinds: type | tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
    listed = kinds if isinstance(kinds, tuple) else (kinds,)
    if int in listed and float in listed:
        listed = tuple(k for k in listed if k is not int)
    return " or ".join(names.get(k, k.__name__) for k in listed)


def admin_error(field: str, issue: str) -> ApiError:
    return ApiError(400, "PARAM_ERROR", f"{field}: {issue}", detail={"field": field, "issue": issue})


def apply_faults(emu: Emulator, data: dict[str, Any]) -> dict[str, Any]:
    """The ``POST /_emulator/faults`` body applied in-process (tests may call it directly)."""
    check_admin_body("faults", data)
    if not data:
        raise admin_error("body", "send at least one of clear, seed, rates, push")
    if data.get("clear"):
        emu.faults.clear()
    if "seed" in data:
        emu.faults.seed(data["seed"])
    if "rates" in data:
        rules = []
        for item in data["rates"]:
            spec = dict(item)
            probability = float(spec.pop("probability"))
            rules.append(RateRule(fault=Fault.from_dict(spec), probability=probability))
        emu.faults.set_rates(rules)
    if "push" in data:
        faults = []
        for item in data["push"]:
            spec = dict(item)
            times = int(spec.pop("times", 1))
            faults += [Fault.from_dict(spec) for _ in range(times)]
        emu.faults.push(faults)
    return emu.faults.describe()


async def get_config(request: web.Request) -> web.Response:
    return _json(request.app[EMULATOR_KEY].describe())


async def get_ledger(request: web.Request) -> web.Response:
    return _json(request.app[EMULATOR_KEY].ledger.snapshot())


async def post_faults(request: web.Request) -> web.Response:
    return _json(apply_faults(request.app[EMULATOR_KEY], await _body(request, "faults")))


async def post_use(request: web.Request) -> web.Response:
    data = await _body(request, "use")
    emu = request.app[EMULATOR_KEY]
    result = use_coupon(
        emu,
        request.match_info["coupon_id"],
        transaction_id=data.get("transaction_id"),
        order_amount=data.get("order_amount"),
        consume_mchid=data.get("consume_mchid"),
    )
    return _json(result)


async def post_refund(request: web.Request) -> web.Response:
    data = await _body(request, "refund")
    emu = request.app[EMULATOR_KEY]
    return _json(refund_coupon(emu, request.match_info["coupon_id"], refund_amount=data.get("refund_amount")))


async def post_rotate(request: web.Request) -> web.Response:
    data = await _body(request, "rotate-certificate")
    emu = request.app[EMULATOR_KEY]
    new = emu.rotate_certificate(data.get("delay"), expire_old_in=data.get("expire_old_in"))
    return _json({"serial_no": new.serial, "active_from": new.active_from})


async def post_clock(request: web.Request) -> web.Response:
    data = await _body(request, "clock")
    emu = request.app[EMULATOR_KEY]
    emu.clock.skew = float(data.get("skew", 0.0))
    return _json({"skew": emu.clock.skew, "now": emu.now()})


async def post_rate_limit(request: web.Request) -> web.Response:
    data = await _body(request, "rate-limit")
    emu = request.app[EMULATOR_KEY]
    emu.limiter.configure(float(data["rate"]), data.get("burst"))
    return _json({"rate": emu.limiter.rate, "burst": emu.limiter.burst})


async def get_notifications(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    return _json([{k: v for k, v in d.items() if k != "envelope"} for d in emu.notifier.deliveries])


async def get_media(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    media_id = request.match_info["media_id"]
    doc = emu.store.get("media", media_id) or {}
    data = emu.media_bytes.get(media_id)
    if data is None and "data_b64" in doc:
        data = base64.b64decode(doc["data_b64"])
    if data is None:
        raise web.HTTPNotFound()
    return web.Response(body=data, content_type=doc.get("content_type") or "application/octet-stream")


def is_loopback(request: web.Request) -> bool:
    """The peer is a loopback address; an unknown peer (no address) is not."""
    remote = request.remote
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return remote == "localhost"


_LOOPBACK_HOST = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?", re.ASCII | re.IGNORECASE)
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def loopback_host(request: web.Request) -> bool:
    """``Host`` names the loopback interface: a DNS-rebinding page's Host names its own domain."""
    host = request.headers.get("Host")
    return host is not None and _LOOPBACK_HOST.fullmatch(host.strip()) is not None


def _forbidden(message: str) -> web.Response:
    return _json({"code": "FORBIDDEN", "message": message}, 403)


def admin_refusal(request: web.Request) -> web.Response | None:
    """Why this admin request is refused (cross-site, rebinding, foreign peer, token), or None."""
    if not is_loopback(request):
        return _forbidden("the admin API answers loopback clients only")
    if not loopback_host(request):
        return _forbidden("the admin API needs Host 127.0.0.1, localhost or [::1] (DNS rebinding refused)")
    if request.method in _STATE_CHANGING and request.content_type != "application/json":
        # A cross-site form or no-cors fetch cannot send application/json without a preflight.
        return _json(
            {"code": "UNSUPPORTED_MEDIA_TYPE", "message": "admin calls need Content-Type: application/json"}, 415
        )
    token = request.app.get(ADMIN_TOKEN_KEY)
    if token:
        given = request.headers.get(ADMIN_TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8")):
            return _json(
                {"code": "UNAUTHORIZED", "message": f"the admin API needs the {ADMIN_TOKEN_HEADER} header"}, 401
            )
    return None


@web.middleware
async def admin_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Only for admin paths: loopback peers and Host only, JSON for changes, token if set; errors as JSON."""
    refusal = admin_refusal(request)
    if refusal is not None:
        return refusal
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as exc:
        return _json(exc.body(), exc.status)
    except (ValueError, KeyError, TypeError) as exc:
        return _json({"code": "PARAM_ERROR", "message": f"{type(exc).__name__}: {exc}"}, 400)


def add_admin_routes(app: web.Application, prefix: str = "/_emulator") -> None:
    app.router.add_get(f"{prefix}/config", get_config)
    app.router.add_get(f"{prefix}/ledger", get_ledger)
    app.router.add_post(f"{prefix}/faults", post_faults)
    app.router.add_post(f"{prefix}/coupons/{{coupon_id}}/use", post_use)
    app.router.add_post(f"{prefix}/coupons/{{coupon_id}}/refund", post_refund)
    app.router.add_post(f"{prefix}/rotate-certificate", post_rotate)
    app.router.add_post(f"{prefix}/clock", post_clock)
    app.router.add_post(f"{prefix}/rate-limit", post_rate_limit)
    app.router.add_get(f"{prefix}/notifications", get_notifications)
    app.router.add_get(f"{prefix}/media/{{media_id}}", get_media)
