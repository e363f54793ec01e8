"""pytest fixtures for code that uses wxpay_async; pytest loads this plugin by itself.

* ``wxpay_mock``: a started :class:`~wxpay_async.testing.WeChatPayMock` (aiohttp only);
  ``wxpay_mock.client()`` is a Client bound to it.
* ``wxpay_emulator``: the built-in emulator listening on 127.0.0.1 (any transport; async).
* ``wxpay_client``: a started :class:`~wxpay_async.Client` bound to ``wxpay_emulator`` (async).
* ``wxpay_mode``: ``"public_key"`` (default) or ``"certificate"``, used by all three; override the
  fixture or ``@pytest.mark.parametrize("wxpay_mode", ["public_key", "certificate"])``.
* ``wxpay_identity``: ``"merchant"`` (default) or ``"brand"`` (品牌直连: mock and client sign as the brand).
* ``wxpay_emulator_options``: keyword arguments for ``run_emulator`` (default none).
* ``wxpay_keys``: the test keys (merchant, platform certificate, public key), made once a session.

Every name starts with ``wxpay_`` so none collides with a project's own fixtures. The async
fixtures need pytest-asyncio (``pip install 'wxpay-async[testing]'``); they work in its strict
and auto modes. The mock needs aioresponses.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs
import pytest

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the testing extra brings it
    pytest_asyncio = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from .._client import Client
    from ..emulator import EmulatorKeys, RunningEmulator
    from ._mock import WeChatPayMock


def _async_fixture(func: Callable[..., Any]) -> Any:
    """``pytest_asyncio.fixture`` (strict and auto mode alike), or one that says what is missing."""
    if pytest_asyncio is not None:
        return pytest_asyncio.fixture(func)

    @functools.wraps(func)
    def unavailable(*args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        pytest.fail(f"{func.__name__} needs pytest-asyncio: pip install 'wxpay-async[testing]'", pytrace=False)

    return pytest.fixture(unavailable)


@pytest.fixture(scope="session")
def wxpay_keys() -> EmulatorKeys:
    """Merchant key, APIv3 key, a platform certificate and a platform public key; generated once."""
    from ..emulator import EmulatorKeys

    return EmulatorKeys.generate()


@pytest.fixture
def wxpay_mode() -> str:
    """How platform keys are delivered: ``"public_key"`` (``PUB_KEY_ID_``) or ``"certificate"``."""
    return "public_key"


@pytest.fixture
def wxpay_identity() -> str:
    """Who the test client is: ``"merchant"`` or ``"brand"`` (a brand that connects directly, 品牌直连)."""
    return "merchant"


@pytest.fixture
def wxpay_mock(wxpay_keys: EmulatorKeys, wxpay_mode: str, wxpay_identity: str) -> Iterator[WeChatPayMock]:
    """A started WeChatPayMock: aiohttp requests answered, signed, and recorded in ``.calls``."""
    from ._mock import WeChatPayMock

    with WeChatPayMock(mode=wxpay_mode, keys=wxpay_keys, identity=wxpay_identity) as mock:  # type: ignore[arg-type]
        yield mock


@pytest.fixture
def wxpay_emulator_options() -> dict[str, Any]:
    """Keyword arguments for ``run_emulator`` (``notify_retry_interval``, ``send_rate``, ``clock``...)."""
    return {}


@_async_fixture
async def wxpay_emulator(
    wxpay_keys: EmulatorKeys, wxpay_mode: str, wxpay_emulator_options: dict[str, Any]
) -> AsyncIterator[RunningEmulator]:
    """The built-in emulator on 127.0.0.1 (a free port), fresh state for each test."""
    from ..emulator import PlatformKey, run_emulator

    # Same key material, its own platform list (a rotation in one test stays in that test).
    keys = attrs.evolve(wxpay_keys, platform=[PlatformKey(pair=p.pair) for p in wxpay_keys.platform[:1]])
    options = {"mode": wxpay_mode, **wxpay_emulator_options}
    async with run_emulator(keys=keys, **options) as running:
        yield running


@_async_fixture
async def wxpay_client(wxpay_emulator: RunningEmulator, wxpay_mode: str, wxpay_identity: str) -> AsyncIterator[Client]:
    """A started Client bound to ``wxpay_emulator`` (closed after the test); a brand's with ``wxpay_identity="brand"``."""
    from .._client import Client

    kwargs = (
        wxpay_emulator.brand_client_kwargs()
        if wxpay_identity == "brand"
        else wxpay_emulator.client_kwargs(mode=wxpay_mode)
    )
    async with Client(**kwargs) as client:
        yield client
