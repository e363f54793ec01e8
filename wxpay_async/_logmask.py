"""Paths as they may appear in a log line: a user's openid is personal data, so it is masked.

WeChat Pay puts the openid in the path (``/v3/marketing/favor/users/{openid}/coupons``, every
``/users/{openid}/...`` of the product-coupon API) and some calls take ``openid`` or ``unionid``
in the query. Only the first four characters stay, enough to tell two users apart while
debugging, not enough to name one.
"""

from __future__ import annotations

import re

_USER_SEGMENT = re.compile(r"(/users/)([^/?#]+)")
_USER_QUERY = re.compile(r"([?&](?:openid|unionid)=)([^&#]*)")


def mask(value: str) -> str:
    """``oUpF8uMuAJO_M2pxb1Q9zNjWeS6o`` -> ``oUpF***``."""
    return value[:4] + "***" if len(value) > 4 else "***"


def loggable_target(target: str) -> str:
    """``target`` (path and query) with every openid and unionid masked."""
    if "/users/" in target:
        target = _USER_SEGMENT.sub(lambda m: m.group(1) + mask(m.group(2)), target)
    if "id=" in target:
        target = _USER_QUERY.sub(lambda m: m.group(1) + mask(m.group(2)), target)
    return target
