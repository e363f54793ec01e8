"""Test your code against WeChat Pay without WeChat Pay: ``pip install wxpay-async[testing]``.

* :class:`WeChatPayMock` answers aiohttp requests (through aioresponses) with signed answers
  the SDK verifies, checks each request's ``Authorization`` against the bytes sent, injects
  errors, ``Retry-After``, bad signatures, clock skew and ``SIGNTEST`` probes, and records calls.
  It covers the aiohttp transport only; the emulator (``wxpay_async.emulator``) covers any.
* :func:`build_notification` makes signed, encrypted notifications for handler tests.
* The pytest plugin (``wxpay_async.testing.pytest_plugin``, loaded automatically) provides the
  ``wxpay_mock``, ``wxpay_emulator`` and ``wxpay_client`` fixtures.

``WeChatPayMock`` needs aioresponses; importing this package does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._compat import missing_response_arguments, mock_response_class, response_class_for, response_shim_needed
from ._notifications import SignedNotification, build_notification, signature_headers, tampered_signature

if TYPE_CHECKING:
    from ._mock import FAST_RETRY, Call, WeChatPayMock

__all__ = [
    "FAST_RETRY",
    "Call",
    "SignedNotification",
    "WeChatPayMock",
    "build_notification",
    "missing_response_arguments",
    "mock_response_class",
    "response_class_for",
    "response_shim_needed",
    "signature_headers",
    "tampered_signature",
]

_NEEDS_AIORESPONSES = frozenset({"FAST_RETRY", "Call", "WeChatPayMock"})


def __getattr__(name: str) -> Any:
    if name in _NEEDS_AIORESPONSES:
        try:
            from . import _mock
        except ModuleNotFoundError as exc:
            if exc.name != "aioresponses":
                raise
            raise ImportError(
                f"wxpay_async.testing.{name} needs aioresponses: pip install 'wxpay-async[testing]'"
            ) from exc
        return getattr(_mock, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
