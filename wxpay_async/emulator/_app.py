"""The aiohttp application: one middleware speaks the protocol around every ``/v3/`` handler.

Per API request: read the raw body → pick a fault → verify ``Authorization`` over the raw target
and body (the ``meta`` part for uploads) → check required fields → run the handler → sign the
answer (errors included) with ``Request-ID`` — except flow-file downloads, which WeChat Pay does
not sign either.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import _brand_product_coupon, _favor, _merchant_coupon, _product_coupon
from ._admin import EMULATOR_KEY, add_admin_routes, admin_errors
from ._auth import certificates_payload, verify_request
from ._call import Call, Handler, Route, parse_multipart, request_state
from ._emulator import Emulator
from ._errors import ApiError, param_error
from ._faults import Fault
from ._schema import REQUIRED
from ._validate import check_wire_rules

logger = logging.getLogger("wxpay_async.emulator")

ADMIN_PREFIX = "/_emulator/"
CERTIFICATES_PATH = "/v3/certificates"
ApiHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def get_certificates(call: Call) -> Any:
    return certificates_payload(call.emu, call.emu.merchants[call.mchid].apiv3_key)


ROUTES: list[Route] = [
    ("GET", CERTIFICATES_PATH, get_certificates),
    *_favor.ROUTES,
    *_product_coupon.ROUTES,
    *_merchant_coupon.ROUTES,
    *_brand_product_coupon.ROUTES,
]


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _error_response(exc: ApiError) -> web.Response:
    return web.Response(
        status=exc.status, body=_json_bytes(exc.body()), content_type="application/json", headers=exc.headers
    )


def _check_required(template: str, method: str, data: dict[str, Any], query: Any) -> None:
    body_fields, query_fields = REQUIRED.get((method, template), ((), ()))
    for field in query_fields:
        if not query.get(field):
            raise param_error(field, "is required", location="query")
    for field in body_fields:
        if data.get(field) in (None, ""):
            raise param_error(field, "is required")


def _view(handler: Handler, method: str, template: str) -> ApiHandler:
    async def view(request: web.Request) -> web.StreamResponse:
        emu = request.app[EMULATOR_KEY]
        state = request_state(request)
        body, parts = state.raw_body, state.parts
        data: dict[str, Any] = {}
        if body and not parts:
            try:
                loaded = json.loads(body)
            except ValueError:
                raise param_error("body", "is not valid JSON") from None
            if not isinstance(loaded, dict):
                raise param_error("body", "must be a JSON object")
            data = loaded
        _check_required(template, method, data, request.query)
        check_wire_rules(method, template, request.match_info, request.query, data)
        call = Call(
            request=request,
            emu=emu,
            mchid=state.mchid,
            body=body,
            data=data,
            query=request.query,
            params=dict(request.match_info),
            parts=parts,
        )
        result = await handler(call)
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204)
        return web.Response(body=_json_bytes(result), content_type="application/json")

    view.__name__ = getattr(handler, "__name__", "view")
    return view


def _rate_limit_code(path: str) -> str:
    """The official 429 code of the API family: product coupons' send error table says
    RATELIMIT_EXCEEDED (product-coupon-send-to-user.txt); cash coupons' says FREQUENCY_LIMIT_EXCEED
    (as quoted by our issue tracker; the page could not be read here)."""
    if path.startswith((_product_coupon.BASE, _brand_product_coupon.BRAND_BASE)):
        return _product_coupon.RATE_LIMIT_CODE
    if path.startswith(_merchant_coupon.BASE):
        return _merchant_coupon.RATE_LIMIT_CODE
    return _favor.RATE_LIMIT_CODE


def _drop(request: web.Request) -> None:
    """Close the connection without an answer; the client sees a disconnect."""
    if request.transport is not None:
        request.transport.close()
    raise asyncio.CancelledError


async def _sleep_unless_gone(request: web.Request, seconds: float) -> None:
    """Sleep, but stop early once the client hung up (so shutdown is not held by a "timeout")."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if request.transport is None or request.transport.is_closing():
            return
        await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))


@web.middleware
async def protocol(request: web.Request, handler: ApiHandler) -> web.StreamResponse:
    if request.path.startswith(ADMIN_PREFIX):
        response: web.StreamResponse = await admin_errors(request, handler)
        return response
    emu = request.app[EMULATOR_KEY]
    request_id = uuid.uuid4().hex.upper()
    body = await request.read()
    state = request_state(request)
    state.raw_body = body
    fault: Fault | None = (
        emu.faults.pick(request.method, request.path) if request.path.startswith(("/v3/", "/brand/")) else None
    )
    kind = fault.kind if fault is not None else None
    if fault is not None and kind == "slow":
        await asyncio.sleep(fault.delay if fault.delay is not None else 1.0)
    elif fault is not None and kind == "timeout":
        await _sleep_unless_gone(request, fault.delay if fault.delay is not None else emu.config.timeout_fault_delay)
        _drop(request)
    elif kind == "drop_before":
        _drop(request)

    download = request.path == _favor.DOWNLOAD_PATH
    try:
        signed_body = body
        if request.content_type == "multipart/form-data":
            parts = parse_multipart(request.headers.get("Content-Type", ""), body)
            state.parts = parts
            signed_body = parts["meta"].data if "meta" in parts else b""
        state.mchid = verify_request(emu, request.method, request.raw_path, request.headers, signed_body)
        if fault is not None and kind == "rate_limit":
            raise ApiError(
                fault.status or 429,
                fault.code or _rate_limit_code(request.path),
                fault.message or "请求过于频繁，请稍后使用原参数重试",
                headers={"Retry-After": "1"},
            )
        if fault is not None and kind == "system_error":
            raise ApiError(fault.status or 500, fault.code or "SYSTEM_ERROR", fault.message or "系统异常，请稍后重试")
        response = await handler(request)
    except ApiError as exc:
        response = _error_response(exc)
    except web.HTTPException as exc:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status, "INVALID_REQUEST")
        response = _error_response(ApiError(exc.status, code, f"{request.method} {request.path}: {exc.reason}"))
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("emulator handler failed for %s %s", request.method, request.path)
        response = _error_response(ApiError(500, "SYSTEM_ERROR", "emulator internal error"))

    if kind == "drop_after":
        _drop(request)
    response.headers["Request-ID"] = request_id
    ok = 200 <= response.status < 300
    if not (download and ok):
        content = response.body if isinstance(response, web.Response) else b""
        payload = content if isinstance(content, bytes) else b""
        response.headers.update(
            await emu.signer.headers_async(
                payload,
                requested_serial=request.headers.get("Wechatpay-Serial"),
                for_certificates=request.path == CERTIFICATES_PATH,
                fault=fault,
            )
        )
    if ok and state.ledger_key is not None:
        kind_, mchid, number = state.ledger_key
        emu.ledger.count(kind_, mchid, number, "accepted")
    return response


def create_app(emulator: Emulator | None = None, **options: Any) -> web.Application:
    """An ``aiohttp.web.Application`` serving ``emulator`` (a new one from ``options`` when None)."""
    emu = emulator or Emulator(**options)
    app = web.Application(middlewares=[protocol], client_max_size=8 * 1024 * 1024)
    app[EMULATOR_KEY] = emu
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, _view(handler, method, path))
    add_admin_routes(app)

    async def close_notifier(_: web.Application) -> None:
        await emu.notifier.close()
        emu.signer.close()

    app.on_cleanup.append(close_notifier)
    return app
