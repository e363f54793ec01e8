"""Image uploads shared by the cash-coupon and product-coupon families: check ``meta`` + ``file``, keep the file.

The moved code (from ``_favor.py``) cites no source of its own.
"""

from __future__ import annotations

import base64
import hashlib
import json

from ._call import Call
from ._errors import param_error
from ._validate import require_str

MEDIA = "media"


def store_image(call: Call, max_bytes: int = 2 * 1024 * 1024) -> str:
    """Check a ``meta`` + ``file`` upload (sha256 of the file) and keep it; returns its URL."""
    meta_part, file_part = call.parts.get("meta"), call.parts.get("file")
    if meta_part is None:
        raise param_error("meta", "multipart part 'meta' is required", location="multipart")
    if file_part is None:
        raise param_error("file", "multipart part 'file' is required", location="multipart")
    try:
        meta = json.loads(meta_part.data)
    except ValueError:
        raise param_error("meta", "must be a JSON object", location="multipart") from None
    if not isinstance(meta, dict):
        raise param_error("meta", "must be a JSON object", location="multipart")
    filename = require_str(meta, "filename")
    sha256 = require_str(meta, "sha256")
    actual = hashlib.sha256(file_part.data).hexdigest()
    if actual.lower() != sha256.lower():
        raise param_error("sha256", f"does not match the file (file sha256 is {actual})", sha256)
    if len(file_part.data) > max_bytes:
        raise param_error("file", f"must be at most {max_bytes} bytes", len(file_part.data))
    if not filename.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")):
        raise param_error("filename", "must be a JPG, PNG or BMP image", filename)
    media_id = actual[:32]
    call.emu.store.put(
        MEDIA,
        media_id,
        {
            "filename": filename,
            "sha256": actual,
            "size": len(file_part.data),
            "content_type": file_part.content_type,
            "data_b64": base64.b64encode(file_part.data).decode("ascii"),
        },
    )
    call.emu.media_bytes[media_id] = file_part.data
    return f"{call.origin}/_emulator/media/{media_id}"
