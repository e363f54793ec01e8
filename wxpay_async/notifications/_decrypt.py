"""Decrypting a notification's ``resource`` (AEAD_AES_256_GCM with the APIv3 key)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..crypto import aead_decrypt
from ..errors import DecryptionError
from ._errors import MalformedNotificationError


def decrypt_resource(resource: Mapping[str, Any], apiv3_key: str) -> dict[str, Any]:
    """Decrypt a notification's ``resource`` object (AEAD_AES_256_GCM) into a dict."""
    algorithm = resource.get("algorithm")
    if algorithm != "AEAD_AES_256_GCM":
        raise DecryptionError(f"unsupported resource algorithm {algorithm!r}")
    try:
        plaintext = aead_decrypt(
            apiv3_key, str(resource["nonce"]), str(resource.get("associated_data") or ""), str(resource["ciphertext"])
        )
    except KeyError as exc:
        raise MalformedNotificationError(f"resource lacks {exc.args[0]}") from None
    try:
        data = json.loads(plaintext)
    except ValueError:
        raise DecryptionError("decrypted resource is not JSON") from None
    if not isinstance(data, dict):
        raise DecryptionError("decrypted resource is not a JSON object")
    return data
