"""Every program in examples/ runs against the emulator (as ``python examples/X.py --emulator`` does)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NEEDS = {"fastapi_coupons": ("fastapi", "uvicorn", "httpx")}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name",
    [
        "aiohttp_notifications",
        "batch_worker",
        "brand_product_coupons",
        "fastapi_coupons",
        "merchant_coupons",
        "multi_merchant",
    ],
)
async def test_example_runs_against_the_emulator(name: str) -> None:
    for package in NEEDS.get(name, ()):
        pytest.importorskip(package, reason=f"examples/{name}.py needs {package} (test extra)")
    module = _load(name)
    assert await asyncio.wait_for(module.main(use_emulator=True), 60) == 0
