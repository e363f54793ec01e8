"""A local WeChat Pay: an ``aiohttp.web`` app that speaks the APIv3 protocol for real.

Requests are verified against the merchant's API certificate, answers are signed with platform
certificates or the platform public key, cash and product coupons keep real state, faults can be
injected, and a ledger proves what was issued exactly once. See ``run_emulator`` and ``serve``.
"""

from ._app import create_app
from ._call import Call
from ._clock import SkewedClock, rfc3339
from ._emulator import Emulator, EmulatorConfig, Merchant
from ._errors import ApiError
from ._faults import FAULT_KINDS, Fault, FaultInjector, RateRule
from ._keys import EmulatorKeys, PlatformKey, load_keys_dir, write_keys_dir
from ._ledger import Ledger
from ._run import RunningEmulator, run_emulator, serve
from ._store import Store

__all__ = [
    "FAULT_KINDS",
    "ApiError",
    "Call",
    "Emulator",
    "EmulatorConfig",
    "EmulatorKeys",
    "Fault",
    "FaultInjector",
    "Ledger",
    "Merchant",
    "PlatformKey",
    "RateRule",
    "RunningEmulator",
    "SkewedClock",
    "Store",
    "create_app",
    "load_keys_dir",
    "rfc3339",
    "run_emulator",
    "serve",
    "write_keys_dir",
]
