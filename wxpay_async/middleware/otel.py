"""OpenTelemetry spans and metrics for every WeChat Pay call (``otel`` extra: ``opentelemetry-api``).

    from wxpay_async.middleware.otel import OpenTelemetryMiddleware
    wx = Client(..., middleware=[OpenTelemetryMiddleware()])   # global tracer and meter providers

User middleware runs once per HTTP attempt (inside the retry layer), so there is one CLIENT span
per attempt, named ``wxpay <operation>`` (``wxpay favor.send_coupon``), with:

- ``wxpay.operation``, ``http.request.method``, ``server.address``
- ``wxpay.attempt`` (1, 2, ...) and ``http.request.resend_count`` on retries
- ``wxpay.request_number`` (``out_request_no``... of calls that have one)
- ``http.response.status_code``, ``wxpay.error_code`` (WeChat Pay ``code``), ``wxpay.request_id``
- ``error.type`` when the attempt failed (the exception class or the HTTP status), and
  ``wxpay.transient`` on a failed answer (``errors.is_transient``: the retry layer's rule)

Never recorded: the Authorization header, signatures, keys, bodies, paths or queries (which carry
openids). Metrics (meter ``wxpay_async``):

- ``wxpay.client.calls`` (counter): calls, counted at their first attempt
- ``wxpay.client.attempt.duration`` (histogram, seconds): each attempt, with its outcome
- ``wxpay.client.retries`` (counter): attempts after the first
- ``wxpay.client.rate_limited`` (counter): answers that asked to slow down (``errors.is_rate_limited``:
  429 / ``FREQUENCY_LIMITED``...), each followed by a retry-layer wait when the call may be repeated
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._context import current_operation
from .._request import Request, Response
from .._version import __version__
from ..errors import is_rate_limited, is_transient
from ._base import Handler

__all__ = ["OpenTelemetryMiddleware"]

_ATTEMPT_KEY = "wxpay.attempt"


class OpenTelemetryMiddleware:
    """A span per attempt and call metrics; pass providers to use others than the global ones."""

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._tracer = trace.get_tracer("wxpay_async", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("wxpay_async", __version__, meter_provider=meter_provider)
        self._calls = meter.create_counter("wxpay.client.calls", unit="{call}", description="WeChat Pay calls")
        self._duration = meter.create_histogram(
            "wxpay.client.attempt.duration", unit="s", description="Duration of each HTTP attempt"
        )
        self._retries = meter.create_counter(
            "wxpay.client.retries", unit="{attempt}", description="Attempts after the first"
        )
        self._rate_limited = meter.create_counter(
            "wxpay.client.rate_limited", unit="{answer}", description="Answers asking to slow down (429)"
        )

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        extensions = request.extensions
        attempt = 1
        if isinstance(extensions, dict):  # one dict per call, shared by its attempts
            attempt = int(extensions.get(_ATTEMPT_KEY, 0)) + 1
            extensions[_ATTEMPT_KEY] = attempt
        operation = str(extensions.get("operation") or current_operation.get() or f"request {request.method}")
        labels: dict[str, Any] = {"wxpay.operation": operation}
        if attempt == 1:
            self._calls.add(1, labels)
        else:
            self._retries.add(1, labels)
        attributes: dict[str, Any] = {
            "wxpay.operation": operation,
            "http.request.method": request.method,
            "server.address": urlsplit(request.base_url).hostname or "",
            "wxpay.attempt": attempt,
        }
        if attempt > 1:
            attributes["http.request.resend_count"] = attempt - 1
        if request.idempotency_key:
            attributes["wxpay.request_number"] = request.idempotency_key
        start = time.perf_counter()
        with self._tracer.start_as_current_span(
            f"wxpay {operation}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,  # exception texts are not ours to export
            set_status_on_exception=False,
        ) as span:
            try:
                response = await call_next(request)
            except BaseException as exc:
                error = type(exc).__name__
                span.set_attribute("error.type", error)
                span.set_status(Status(StatusCode.ERROR, error))
                self._duration.record(time.perf_counter() - start, {**labels, "error.type": error})
                raise
            code = response.error_code()
            span.set_attribute("http.response.status_code", response.status)
            if response.request_id:
                span.set_attribute("wxpay.request_id", response.request_id)
            outcome: dict[str, Any] = {**labels, "http.response.status_code": response.status}
            if code:
                span.set_attribute("wxpay.error_code", code)
                outcome["wxpay.error_code"] = code
            if not response.is_success:
                span.set_attribute("error.type", str(response.status))
                span.set_attribute("wxpay.transient", is_transient(response.status, code))
                span.set_status(Status(StatusCode.ERROR, f"HTTP {response.status} {code or ''}".strip()))
            if is_rate_limited(response.status, code):
                self._rate_limited.add(1, labels)
            self._duration.record(time.perf_counter() - start, outcome)
            return response
