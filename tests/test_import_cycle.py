"""The cycle _client → resources/_base → flows → _client is gone; download_flow takes a small protocol."""

from __future__ import annotations

import ast
import pathlib
from typing import Any

import pytest

import wxpay_async
from wxpay_async.errors import ConfigurationError
from wxpay_async.resources._base import Resource

PACKAGE = pathlib.Path(wxpay_async.__file__).parent


def _imported(relative: str) -> set[str]:
    """Every module a file imports, at any level (TYPE_CHECKING and function bodies included)."""
    tree = ast.parse((PACKAGE / relative).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("relative", ["flows.py", "resources/_base.py", "errors.py", "_request.py"])
def test_the_response_side_never_imports_the_client(relative: str) -> None:
    assert not {name for name in _imported(relative) if name.rsplit(".", 1)[-1] == "_client"}


def test_errors_import_nothing_above_them() -> None:
    assert {n for n in _imported("errors.py") if n.startswith(".")} <= {"._retry_after"}


async def test_download_flow_without_a_streaming_client_is_a_wxpay_error() -> None:
    class NoStreaming:
        converter: Any = None
        validate = False
        mchid = "1"

        async def request(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("not called")

    class Flow:
        url = "https://api.mch.weixin.qq.com/v3/billdownload/file?token=1"
        hash_value = "00"

    with pytest.raises(ConfigurationError, match="sign and stream"):
        await Resource(NoStreaming()).download_flow(Flow())
