"""Start a throwaway redis-server on 127.0.0.1 for tests (skipped when Redis is not installed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from wxpay_async.testing.redis_server import _free_port as _free_port  # shared with the tests
from wxpay_async.testing.redis_server import redis_server_in


@contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (CI installs Debian's redis-server)")
    with redis_server_in(tmp) as url:
        yield url
