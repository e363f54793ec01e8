"""Task-local facts about the call in progress, for middleware (OpenTelemetry, logging)."""

from __future__ import annotations

import contextvars

#: The typed operation being called (``"favor.get_stock"``); None for ``Client.request``.
current_operation: contextvars.ContextVar[str | None] = contextvars.ContextVar("wxpay_operation", default=None)
