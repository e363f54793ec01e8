"""The per-call pipeline: idempotency → retry → user middleware → logging → signing → verifying → transport.

Each step is written once, here. The Client runs the same steps without a coroutine per class:
``Client.build_request`` fills the request number with :meth:`IdempotencyMiddleware.number_for`
(the retry layer, outermost, gives every error the number via ``idempotency.tagged``), and
``Client._exchange`` calls :meth:`SigningMiddleware.sign_now`/``sign``,
:meth:`VerifyingMiddleware.prepare`/``check_now``/``check`` and the logging functions of
:mod:`.logging` - the very methods these classes run in a chain built by hand.
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
