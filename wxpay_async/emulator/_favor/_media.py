"""The cash-coupon image upload (``/media/image-upload``), answering ``media_url``.

The moved code cites no source of its own; the upload check itself is ``.._media.store_image``.
"""

from __future__ import annotations

from typing import Any

from .._call import Call
from .._media import store_image


async def upload_image(call: Call) -> Any:
    return {"media_url": store_image(call)}
