"""OpenTelemetry spans and metrics (in-memory exporters), and WXPAY_LOG without code (subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from wxpay_async import Client
from wxpay_async.emulator import create_running_stock, run_emulator
from wxpay_async.errors import InternalServerError
from wxpay_async.middleware import NO_RETRY, RetryPolicy

pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk is in the test extra; not installed here")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from wxpay_async.middleware.otel import OpenTelemetryMiddleware

APPID = "wx233544546545989"


def _metrics(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


async def test_spans_and_metrics_per_attempt() -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    otel = OpenTelemetryMiddleware(tracer_provider=tracer_provider, meter_provider=meter_provider)
    retry = RetryPolicy(backoff_base=0.01, backoff_max=0.02)
    async with run_emulator() as emu, Client(**emu.client_kwargs(), middleware=[otel], retry=retry) as wx:
        stock_id = await create_running_stock(wx, max_coupons=3)
        emu.push_faults({"kind": "system_error", "path_prefix": "/v3/marketing/favor/users/"})
        sent = await wx.favor.send_coupon("u1", stock_id=stock_id, appid=APPID, stock_creator_mchid=wx.mchid)
        emu.push_faults({"kind": "rate_limit", "path_prefix": "/v3/marketing/favor/stocks/"})
        with pytest.raises(Exception):  # noqa: B017 - RateLimitError, without retry
            await wx.favor.get_stock(stock_id, stock_creator_mchid=wx.mchid, retry=NO_RETRY)
        emu.push_faults({"kind": "system_error", "path_prefix": "/v3/marketing/favor/stocks/"})
        with pytest.raises(InternalServerError):
            await wx.favor.get_stock(stock_id, stock_creator_mchid=wx.mchid, retry=NO_RETRY)
        await wx.request(
            "GET",
            "/v3/marketing/favor/stocks/{s}",
            path_params={"s": stock_id},
            query={"stock_creator_mchid": wx.mchid},
        )

    spans = exporter.get_finished_spans()
    sends = [s for s in spans if s.name == "wxpay favor.send_coupon"]
    assert [s.attributes["wxpay.attempt"] for s in sends] == [1, 2]
    first, second = sends
    assert first.attributes["http.response.status_code"] == 500
    assert first.attributes["wxpay.error_code"] == "SYSTEM_ERROR"
    assert first.status.status_code.name == "ERROR"
    assert second.attributes["http.response.status_code"] == 200
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["wxpay.request_number"] == sent.out_request_no == first.attributes["wxpay.request_number"]
    assert second.attributes["wxpay.request_id"] == sent.request_id
    assert second.kind.name == "CLIENT"
    assert any(s.name == "wxpay request GET" for s in spans)
    for span in spans:  # nothing secret, no bodies, no paths
        text = repr(dict(span.attributes or {})) + repr(span.events)
        assert "WECHATPAY2" not in text and "Authorization" not in text and "u1" not in text
        assert "signature" not in text.lower() and "stocks/" not in text

    points = _metrics(reader)
    calls = {p.attributes["wxpay.operation"]: p.value for p in points["wxpay.client.calls"]}
    assert calls["favor.send_coupon"] == 1 and calls["favor.get_stock"] == 2
    retries = {p.attributes["wxpay.operation"]: p.value for p in points["wxpay.client.retries"]}
    assert retries == {"favor.send_coupon": 1}
    limited = {p.attributes["wxpay.operation"]: p.value for p in points["wxpay.client.rate_limited"]}
    assert limited == {"favor.get_stock": 1}
    durations = points["wxpay.client.attempt.duration"]
    assert sum(p.count for p in durations) == len(spans)


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "WXPAY_LOG"} | env
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, env=full_env
    )


PROGRAM = """
import asyncio
from wxpay_async import Client
from wxpay_async.emulator import create_running_stock, run_emulator

async def main():
    async with run_emulator() as emu, Client(**emu.client_kwargs()) as wx:
        await create_running_stock(wx, max_coupons=1)

asyncio.run(main())
"""


@pytest.mark.parametrize("level", ["debug", "info", ""])
def test_wxpay_log_turns_on_logging_without_code(level: str) -> None:
    result = _run(PROGRAM, {"WXPAY_LOG": level} if level else {})
    assert result.returncode == 0, result.stderr
    if level == "debug":
        assert "DEBUG wxpay_async.http: POST /v3/marketing/favor/coupon-stocks -> 200" in result.stderr
        assert "Request-ID" in result.stderr
    elif level == "info":
        assert "DEBUG" not in result.stderr
    else:
        assert "wxpay_async" not in result.stderr
    assert "WECHATPAY2" not in result.stderr and "Authorization" not in result.stderr


def test_wxpay_log_unknown_value_is_reported() -> None:
    result = _run("import wxpay_async", {"WXPAY_LOG": "loud"})
    assert result.returncode == 0 and "WXPAY_LOG='loud' ignored" in result.stderr
