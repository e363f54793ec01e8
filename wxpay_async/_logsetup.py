"""``WXPAY_LOG=debug|info``: the SDK's logging on without code.

Read once when ``wxpay_async`` is imported (call :func:`configure_from_env` again if a program
sets the variable later). Without the variable nothing is configured: applications own their logging.
The handler is added to the ``wxpay_async`` logger only, once; keys, signatures and bodies are
never logged by the SDK at any level.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_MARK = "_wxpay_log_env"


def configure_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Attach a stderr handler to the ``wxpay_async`` logger when ``WXPAY_LOG`` asks for one."""
    value = (os.environ if environ is None else environ).get("WXPAY_LOG", "").strip().lower()
    level = LEVELS.get(value)
    if level is None:
        if value:
            print(f"wxpay_async: WXPAY_LOG={value!r} ignored (use debug or info)", file=sys.stderr)
        return False
    logger = logging.getLogger("wxpay_async")
    logger.setLevel(level)
    if not any(getattr(h, _MARK, False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        setattr(handler, _MARK, True)
        logger.addHandler(handler)
    return True
