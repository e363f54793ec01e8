"""Nested request arguments are TypedDicts: mypy --strict and basedpyright refuse a wrong dict.

``stock_use_rule={"max_coupons": "100", "bogus": 1}`` used to type-check (the argument accepted any
``Mapping[str, Any]``). tests/typing_cases/nested_bad.py holds such mistakes and must fail both
checkers on exactly those lines; nested_ok.py is the same program written right and must pass both.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).resolve().parent / "typing_cases"
ROOT = CASES.parent.parent
#: nested_bad.py: the lines where a wrong nested argument starts (one error each).
BAD_LINES = {14, 22, 34}


def _mypy(file: Path) -> set[int]:
    api = pytest.importorskip("mypy.api", reason="mypy is in the test extra")
    out, _, status = api.run(["--strict", "--no-error-summary", "--show-error-codes", str(file)])
    lines = {int(line.split(":")[1]) for line in out.splitlines() if ": error:" in line}
    assert status == (1 if lines else 0), out
    return lines


def _basedpyright(file: Path, tmp_path: Path) -> set[int]:
    exe = Path(sys.executable).with_name("basedpyright")
    if not exe.exists():
        found = shutil.which("basedpyright")
        if found is None:
            pytest.skip("basedpyright is in the test extra; not installed here")
        exe = Path(found)
    shutil.copy(file, tmp_path / file.name)
    (tmp_path / "pyrightconfig.json").write_text(json.dumps({"typeCheckingMode": "standard", "pythonVersion": "3.11"}))
    proc = subprocess.run(
        [str(exe), "--outputjson", "--pythonpath", sys.executable, file.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(proc.stdout)
    return {d["range"]["start"]["line"] + 1 for d in report["generalDiagnostics"] if d["severity"] == "error"}


def test_mypy_refuses_wrong_nested_dicts() -> None:
    assert _mypy(CASES / "nested_bad.py") == BAD_LINES


def test_mypy_accepts_right_nested_dicts() -> None:
    assert _mypy(CASES / "nested_ok.py") == set()


def test_basedpyright_refuses_wrong_nested_dicts(tmp_path: Path) -> None:
    assert _basedpyright(CASES / "nested_bad.py", tmp_path) == BAD_LINES


def test_basedpyright_accepts_right_nested_dicts(tmp_path: Path) -> None:
    assert _basedpyright(CASES / "nested_ok.py", tmp_path) == set()


def test_every_nested_request_model_has_its_typeddict() -> None:
    from wxpay_async.models import favor, product_coupon

    for package in (favor, product_coupon):
        names = set(package.__all__)
        for name in names:
            if name.endswith("Param"):
                model = getattr(package, name[: -len("Param")])
                typed = getattr(package, name)
                assert set(typed.__annotations__) == {a.name for a in model.__attrs_attrs__}, name


def test_exchahge_is_documented_as_wechat_pays_spelling() -> None:
    from wxpay_async.resources.favor import FavorResource

    doc = FavorResource.create_stock.__doc__ or ""
    assert "EXCHAHGE" in doc and "WeChat Pay's own spelling" in doc
