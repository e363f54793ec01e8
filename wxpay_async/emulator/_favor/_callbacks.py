"""The merchant's cash-coupon callback URL (``/callbacks``): set and get.

The moved code cites no source of its own (see the package docstring for the family's).
"""

from __future__ import annotations

from typing import Any

from .._call import Call
from .._clock import rfc3339
from .._errors import ApiError, param_error
from .._validate import require_str
from ._common import CALLBACKS


async def set_callback(call: Call) -> Any:
    mchid = require_str(call.data, "mchid")
    url = call.emu.check_notify_url(call.data.get("notify_url"))
    switch = call.data.get("switch", True)
    if not isinstance(switch, bool):
        raise param_error("switch", "must be true or false", switch)
    doc = {"mchid": mchid, "notify_url": url, "switch": switch, "update_time": rfc3339(call.emu.now())}
    call.emu.store.put(CALLBACKS, mchid, doc)
    return {"update_time": doc["update_time"], "notify_url": url}


async def get_callback(call: Call) -> Any:
    mchid = require_str(call.query, "mchid", location="query")
    doc = call.emu.store.get(CALLBACKS, mchid)
    if doc is None:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", "未设置消息通知地址: no callback URL set")
    return {"mchid": mchid, "notify_url": doc["notify_url"]}
