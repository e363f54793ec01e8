"""A compatibility shim between aioresponses and the installed aiohttp; off where not needed.

aioresponses builds its fake :class:`aiohttp.ClientResponse` itself, passing the keyword
arguments ``ClientResponse.__init__`` took when it was written. aiohttp 3.14 added a required
keyword-only ``stream_writer`` that aioresponses 0.7.9 does not pass
(``ClientResponse.__init__() missing 1 required keyword-only argument: 'stream_writer'``,
pnuckowski/aioresponses#289). The shim is a ``ClientResponse`` subclass that fills in exactly
the required arguments its caller left out; whether it is needed is read from
``ClientResponse.__init__``'s signature, so on an aiohttp that needs nothing (or an
aioresponses that passes everything) it stays off and aioresponses' own class is used.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache
from typing import Any

from aiohttp import ClientResponse

#: The keyword arguments aioresponses (0.7.x) passes when it builds a ClientResponse.
AIORESPONSES_PASSES = frozenset({"request_info", "writer", "continue100", "timer", "traces", "loop", "session"})


def missing_response_arguments(init: Callable[..., Any] | None = None) -> frozenset[str]:
    """Required keyword-only parameters of ``init`` (default ``ClientResponse.__init__``) aioresponses omits."""
    signature = inspect.signature(init if init is not None else ClientResponse.__init__)
    return (
        frozenset(
            p.name
            for p in signature.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
        )
        - AIORESPONSES_PASSES
    )


def response_shim_needed(init: Callable[..., Any] | None = None) -> bool:
    """True when aioresponses cannot build a response on this aiohttp without help."""
    return bool(missing_response_arguments(init))


class _SentStreamWriter:
    """Stands in for the request's stream writer of a response that was never sent."""

    output_size = 0
    buffer_size = 0


def _placeholder(name: str) -> Any:
    return _SentStreamWriter() if name == "stream_writer" else None


def response_class_for(init: Callable[..., Any] | None = None) -> type[ClientResponse] | None:
    """The shim class for a ``ClientResponse.__init__`` like ``init``, or None when none is needed."""
    missing = missing_response_arguments(init)
    if not missing:
        return None

    class CompatClientResponse(ClientResponse):
        """A ClientResponse aioresponses can build: the arguments it does not know are filled in."""

        def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
            for name in missing:
                kwargs.setdefault(name, _placeholder(name))
            super().__init__(method, url, **kwargs)

    return CompatClientResponse


@cache
def mock_response_class() -> type[ClientResponse] | None:
    """The ClientResponse class to give aioresponses on this aiohttp, or None (its default) when none is needed."""
    return response_class_for(None)
