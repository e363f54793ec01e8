# Names the documentation's Python fragments may use without defining them (tests/test_docs.py
# type-checks every block with ``from docs_context import *`` in front). Keep it small: a block
# that a reader can copy as it is defines what it uses itself.
from typing import Any

from aiohttp import web
from fastapi import FastAPI

from wxpay_async import Client
from wxpay_async.notifications import Notification

__all__ = [
    "app",
    "coupon_id",
    "credentials",
    "fastapi_app",
    "mchid",
    "on_notification",
    "openid",
    "process_once",
    "redis_url",
    "stock_id",
    "wx",
]

wx: Client  # a Client opened with ``async with``
mchid: str  # your merchant id (wx.mchid)
stock_id: str
coupon_id: str
openid: str
credentials: dict[str, Any]  # the Client(...) keyword arguments of one merchant
app: web.Application
fastapi_app: FastAPI
redis_url: str  # redis://host:6379/0

async def on_notification(notification: Notification) -> None: ...
def process_once(notification_id: str, model: Any) -> None: ...
