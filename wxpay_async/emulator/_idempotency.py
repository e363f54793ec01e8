"""One home for the request-number rule of the emulator's POST/PATCH calls: a replay answers the first answer.

The same number with the same path parameters and body answers the stored first answer; with another body it
is 400 ALREADY_EXISTS (the product-coupon send-to-user page's error table,
/work/shared/seeds/product-coupon-send-to-user.txt: "ALREADY_EXISTS" for a reused request number).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ._auth import body_fingerprint
from ._call import Call
from ._errors import ApiError


def reused(field: str, number: str, message: str) -> ApiError:
    """400 ALREADY_EXISTS for a request number already used with another body, naming the field."""
    return ApiError(
        400,
        "ALREADY_EXISTS",
        message,
        detail={"field": field, "value": number, "issue": "reused with another body"},
    )


async def answer_once(
    call: Call, collection: str, key: str, field: str, number: str, run: Callable[[], Awaitable[Any]]
) -> Any:
    """Run ``run`` once per ``key`` of ``collection``; a replay answers the stored first answer."""
    fingerprint = body_fingerprint({"_params": dict(call.params), **call.data})
    previous = call.emu.store.get(collection, key)
    if previous is not None:
        if previous["fingerprint"] != fingerprint:
            raise reused(field, number, f"{field} 冲突: {number} was already used with different parameters")
        return previous["answer"]
    answer = await run()
    call.emu.store.put(collection, key, {"fingerprint": fingerprint, "answer": answer})
    return answer
