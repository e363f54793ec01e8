"""The testing kit's types (issue 17 part 10): real at run time, and what both type checkers see.

``tests/typing_user/`` is a user's test module full of ``assert_type``; here it is checked by
``mypy --strict`` and by ``basedpyright`` (the checker IDE users see through Pylance/pyright),
and the TypedDicts are compared with what the emulator really returns.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from wxpay_async import Client
from wxpay_async.emulator import (
    CouponRefunded,
    CouponUsed,
    EmulatorCoupon,
    LedgerCoupon,
    LedgerRequest,
    RunningEmulator,
    create_running_stock,
    run_emulator,
)
from wxpay_async.emulator._types import ConsumeInformation, NormalCouponInformation

ROOT = Path(__file__).resolve().parent.parent
USER_FILES = [ROOT / "tests" / "typing_user", ROOT / "examples"]


def keys_match(value: dict[str, Any], shape: Any, where: str) -> None:
    """Every required key present, no key the TypedDict does not declare, nested TypedDicts too."""
    required, declared = set(shape.__required_keys__), set(shape.__required_keys__ | shape.__optional_keys__)
    assert required <= set(value), f"{where}: missing {required - set(value)}"
    assert set(value) <= declared, f"{where}: undeclared {set(value) - declared}"
    hints = get_type_hints(shape)
    for key, inner in value.items():
        hint = hints[key]
        if isinstance(inner, dict) and hasattr(hint, "__required_keys__"):
            keys_match(inner, hint, f"{where}.{key}")


async def test_the_typed_dicts_are_what_the_emulator_returns() -> None:
    async with run_emulator(send_rate=0) as emu, Client(**emu.client_kwargs()) as wx:
        stock_id = await create_running_stock(wx, max_coupons=5)
        sent = await wx.favor.send_coupon(
            "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", stock_id=stock_id, appid="wx233544546545989", stock_creator_mchid=wx.mchid
        )
        await _check(emu, sent.coupon_id)


async def _check(emu: RunningEmulator, coupon_id: str) -> None:
    ledger = emu.ledger()
    assert ledger["coupons"] and ledger["requests"]
    for coupon in ledger["coupons"]:
        keys_match(dict(coupon), LedgerCoupon, "ledger.coupons[]")
    for request in ledger["requests"]:
        keys_match(dict(request), LedgerRequest, "ledger.requests[]")
    used = emu.use_coupon(coupon_id)
    keys_match(dict(used), CouponUsed, "use_coupon()")
    assert "consume_information" in used["coupon"]
    refunded = emu.refund_coupon(coupon_id)
    keys_match(dict(refunded), CouponRefunded, "refund_coupon()")
    assert get_type_hints(EmulatorCoupon)["normal_coupon_information"] is NormalCouponInformation
    assert ConsumeInformation.__required_keys__ == set(used["coupon"]["consume_information"])


def test_mypy_strict_accepts_the_user_files(tmp_path: Path) -> None:
    mypy_api = pytest.importorskip("mypy.api", reason="mypy is in the test extra; not installed here")
    args = ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache")]
    out, _err, status = mypy_api.run([*args, *(str(p) for p in USER_FILES)])
    assert status == 0, out


def test_basedpyright_accepts_the_user_files() -> None:
    exe = shutil.which("basedpyright", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("basedpyright is in the test extra; not installed here")
    proc = subprocess.run(
        [exe, "--pythonpath", sys.executable, *(str(p) for p in USER_FILES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 errors" in proc.stdout, proc.stdout
