"""Notifications typed by event (issue 17 part 10): the handler answers the event's subclass, whose
``model`` has the event's type for mypy --strict and basedpyright alike; an accessor read on another
event raises instead of inventing a resource full of None."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from wxpay_async.crypto import Verifier
from wxpay_async.devkeys import KeyPair
from wxpay_async.errors import WxPayError
from wxpay_async.notifications import (
    CouponUseNotification,
    CouponUseResource,
    Notification,
    NotificationEventError,
    NotificationHandler,
    ProductCouponReturnNotification,
    ProductCouponSendNotification,
    ProductCouponSendResource,
    ProductCouponUseNotification,
)

from .test_notifications import COUPON_USE, PRODUCT_SEND, notification

EVENTS: list[tuple[str, dict[str, Any], type[Notification]]] = [
    ("COUPON.USE", COUPON_USE, CouponUseNotification),
    ("PRODUCT_COUPON_SP.SEND", PRODUCT_SEND, ProductCouponSendNotification),
    ("PRODUCT_COUPON.SEND", PRODUCT_SEND, ProductCouponSendNotification),
    ("PRODUCT_COUPON.USE", PRODUCT_SEND, ProductCouponUseNotification),
    ("PRODUCT_COUPON.RETURN", PRODUCT_SEND, ProductCouponReturnNotification),
    ("MARKETING.SOMETHING_NEW", {"x": 1}, Notification),
]


@pytest.fixture
def handler(platform_keys: KeyPair, apiv3_key: str) -> NotificationHandler:
    return NotificationHandler(Verifier([platform_keys.certificate]), apiv3_key)


@pytest.mark.parametrize(("event", "resource", "cls"), EVENTS, ids=[e[0] for e in EVENTS])
def test_the_handler_answers_the_events_class(
    handler: NotificationHandler,
    platform_keys: KeyPair,
    apiv3_key: str,
    event: str,
    resource: dict[str, Any],
    cls: type[Notification],
) -> None:
    headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, resource, event=event)
    n = handler.parse(headers, body)
    assert type(n) is cls and n.event_type == event
    if cls is Notification:
        assert n.model == resource  # an event no source names: the dict


def test_an_accessor_of_another_event_raises(
    handler: NotificationHandler, platform_keys: KeyPair, apiv3_key: str
) -> None:
    headers, body = notification(
        platform_keys, platform_keys.serial, apiv3_key, PRODUCT_SEND, event="PRODUCT_COUPON_SP.SEND"
    )
    n = handler.parse(headers, body)
    assert isinstance(n.product_coupon_send, ProductCouponSendResource)
    # Before: a CouponUseResource with every field None. Now: a WxPayError naming both events.
    with pytest.raises(
        NotificationEventError, match=r"PRODUCT_COUPON_SP\.SEND event; CouponUseResource is the resource of COUPON\.USE"
    ) as raised:
        _ = n.coupon_use
    assert isinstance(raised.value, WxPayError)
    headers, body = notification(platform_keys, platform_keys.serial, apiv3_key, COUPON_USE)
    used = handler.parse(headers, body)
    assert isinstance(used.coupon_use, CouponUseResource) and used.coupon_use == used.model
    with pytest.raises(NotificationEventError):
        _ = used.product_coupon_send


PROGRAM = """
from wxpay_async.notifications import (
    CouponUseNotification,
    Notification,
    ProductCouponSendNotification,
    ProductCouponUseNotification,
)
from wxpay_async.pagination import OffsetPaginator, TokenPaginator
from wxpay_async import Client
from wxpay_async.models.favor import ListedStock
from wxpay_async.models.product_coupon import UserCoupon


async def on_notification(n: Notification) -> None:
    match n:
        case CouponUseNotification():
            reveal_type(n.model)
            print(n.model.coupon_id, n.event_type)
        case ProductCouponSendNotification():
            reveal_type(n.model)
            print(n.model.coupon_code)
        case _:
            pass
    if isinstance(n, ProductCouponUseNotification):
        print(n.model.coupon_code)
    print(n.model.coupon_id)  # ERROR 1: the base's model may be any event's resource
    if isinstance(n, ProductCouponSendNotification):
        print(n.model.coupon_id)  # ERROR 2: a send resource has no coupon_id


async def pages(wx: Client) -> None:
    stocks = wx.favor.list_stocks(stock_creator_mchid="1")
    page = await stocks
    reveal_type(page)
    print(page.offset, stocks.stop_reason)
    coupons: TokenPaginator[UserCoupon] = wx.product_coupon.list_user_coupons("o", appid="a", brand_id="b")
    first = await coupons
    print(first.next_page_token)
    print(page.next_page_token)  # ERROR 3: an offset page has no token
    offsets: OffsetPaginator[ListedStock] = stocks
    print(offsets)
"""


def write_program(tmp_path: Path) -> Path:
    program = tmp_path / "user_program.py"
    program.write_text(textwrap.dedent(PROGRAM), encoding="utf-8")
    return program


def test_mypy_strict_types_the_model_by_event(tmp_path: Path) -> None:
    mypy_api = pytest.importorskip("mypy.api", reason="mypy is in the test extra")
    program = write_program(tmp_path)
    out, _err, _status = mypy_api.run(
        ["--strict", "--no-incremental", "--follow-imports=silent", "--cache-dir", str(tmp_path / "c"), str(program)]
    )
    lines = [line for line in out.splitlines() if "user_program.py" in line]
    revealed = [line.split("Revealed type is ")[1] for line in lines if "Revealed type" in line]
    assert revealed == [
        '"wxpay_async.notifications._models.CouponUseResource"',
        '"wxpay_async.notifications._models.ProductCouponSendResource"',
        '"wxpay_async.pagination.OffsetPage[wxpay_async.models.favor._stock.Stock]"',
    ], out
    errors = {int(line.split(":")[1]) for line in lines if ": error:" in line}
    marked = {i for i, text in enumerate(PROGRAM.splitlines(), 1) if "# ERROR" in text}
    assert errors == marked, out


def test_basedpyright_types_the_model_by_event(tmp_path: Path) -> None:
    binary = shutil.which("basedpyright", path=str(Path(sys.executable).parent)) or shutil.which("basedpyright")
    if binary is None:
        pytest.skip("basedpyright is in the test extra; not installed here")
    program = write_program(tmp_path)
    config = tmp_path / "pyrightconfig.json"
    config.write_text('{"typeCheckingMode": "standard", "pythonVersion": "3.11"}', encoding="utf-8")
    run = subprocess.run(
        [binary, "--project", str(config), "--pythonpath", sys.executable, str(program)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in run.stdout.splitlines() if "user_program.py:" in line]
    revealed = [line.split('is "')[1].rstrip('"') for line in lines if "information: Type of" in line]
    assert revealed == ["CouponUseResource", "ProductCouponSendResource", "OffsetPage[Stock]"], run.stdout
    errors = {int(line.split("user_program.py:")[1].split(":")[0]) for line in lines if " - error:" in line}
    marked = {i for i, text in enumerate(PROGRAM.splitlines(), 1) if "# ERROR" in text}
    assert errors == marked, run.stdout
