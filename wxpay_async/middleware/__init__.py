"""The per-call pipeline: idempotency → retry → user middleware → logging → signing → verifying → transport.

The Client runs idempotency in ``request()``/``send()`` and the last four steps as one function
(``Client._exchange``); the classes here remain for chains built by hand.
"""

from ._base import Handler, Middleware, build_chain
from .idempotency import REQUEST_NUMBER_PATTERN, IdempotencyMiddleware, new_request_number
from .logging import LoggingMiddleware
from .retry import NO_RETRY, RetryListener, RetryMiddleware, RetryPolicy, observe_retries, parse_retry_after
from .signing import SigningMiddleware
from .verifying import KeySource, StaticKeySource, VerifyingMiddleware

__all__ = [
    "NO_RETRY",
    "REQUEST_NUMBER_PATTERN",
    "Handler",
    "IdempotencyMiddleware",
    "KeySource",
    "LoggingMiddleware",
    "Middleware",
    "RetryListener",
    "RetryMiddleware",
    "RetryPolicy",
    "SigningMiddleware",
    "StaticKeySource",
    "VerifyingMiddleware",
    "build_chain",
    "new_request_number",
    "observe_retries",
    "parse_retry_after",
]
