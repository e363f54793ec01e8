"""Product-coupon images: uploads (through ``.._media``) and image-generation tasks.

The moved code cites no source of its own (see the package docstring for the family's).
"""

from __future__ import annotations

from typing import Any

from .._call import Call
from .._media import store_image
from .._validate import require_str
from ._common import TASKS, _brand, _enum, _not_found


async def upload_image(call: Call) -> Any:
    return {"image_url": store_image(call)}


async def create_image_task(call: Call) -> Any:
    body = call.data
    brand_id = _brand(call)
    task_id = require_str(body, "task_id", max_len=64)
    kind = _enum(body, "image_generation_type", ("COMBINE_IMAGE", "CUT_OUT"))
    key = f"{brand_id}|{task_id}"
    if call.emu.store.get(TASKS, key) is None:
        result_field = "combine_image_result" if kind == "COMBINE_IMAGE" else "cut_out_result"
        call.emu.store.put(
            TASKS,
            key,
            {
                "brand_id": brand_id,
                "task_id": task_id,
                "image_generation_type": kind,
                "task_state": "SUCCESS",
                result_field: {"image_url": f"{call.origin}/_emulator/media/generated-{task_id}"},
            },
        )
    return {"task_id": task_id, "brand_id": brand_id}


async def get_image_task(call: Call) -> Any:
    brand_id = _brand(call, query=True)
    task = call.emu.store.get(TASKS, f"{brand_id}|{call.params['task_id']}")
    if task is None or task["image_generation_type"] != call.query.get("image_generation_type"):
        raise _not_found(f"未找到图片生成任务: {call.params['task_id']}")
    return task
