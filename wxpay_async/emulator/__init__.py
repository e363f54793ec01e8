"""A local WeChat Pay: an ``aiohttp.web`` app that speaks the APIv3 protocol for real.

Requests are verified against the merchant's API certificate (``Authorization`` over the raw
target and body, ±300 s), every answer is signed with a platform certificate or the platform
public key, cash and product coupons keep real state, faults can be injected, notifications are
delivered signed and encrypted, and a ledger proves what was issued exactly once.

In tests::

    async with run_emulator(notify_retry_interval=0.1) as emu:      # 127.0.0.1, free port
        client = Client(**emu.client_kwargs())                        # or mode="certificate"
        emu.push_faults({"kind": "drop_after", "method": "POST",
                         "path_prefix": "/v3/marketing/favor/users/"})
        ...
        emu.use_coupon(coupon_id)            # user used it → COUPON.USE to the callback URL
        emu.ledger()["requests"]             # issued / processed / accepted per request number

Over HTTP (loopback only): ``/_emulator/config``, ``/_emulator/ledger``, ``/_emulator/faults``,
``/_emulator/coupons/{id}/use``, ``/_emulator/rotate-certificate``, ``/_emulator/clock``,
``/_emulator/rate-limit``, ``/_emulator/notifications`` (see ``_admin``). The CLI runs
``serve(host, port, keys_dir)``, which keeps keys and ``merchant.json`` in ``keys_dir``.
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
from ._samples import create_running_stock, sample_from_schema, sample_stock
from ._store import Store
from ._types import (
    ClientKwargs,
    CouponRefunded,
    CouponUsed,
    EmulatorCoupon,
    LedgerCoupon,
    LedgerRequest,
    LedgerSnapshot,
)

__all__ = [
    "FAULT_KINDS",
    "ApiError",
    "Call",
    "ClientKwargs",
    "CouponRefunded",
    "CouponUsed",
    "Emulator",
    "EmulatorConfig",
    "EmulatorCoupon",
    "EmulatorKeys",
    "Fault",
    "FaultInjector",
    "Ledger",
    "LedgerCoupon",
    "LedgerRequest",
    "LedgerSnapshot",
    "Merchant",
    "PlatformKey",
    "RateRule",
    "RunningEmulator",
    "SkewedClock",
    "Store",
    "create_app",
    "create_running_stock",
    "load_keys_dir",
    "rfc3339",
    "run_emulator",
    "sample_from_schema",
    "sample_stock",
    "serve",
    "write_keys_dir",
]
