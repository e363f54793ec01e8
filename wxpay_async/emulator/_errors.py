"""The error answers WeChat Pay gives: status, ``code``, ``message`` and an optional ``detail``."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised by handlers; the app turns it into a signed JSON error response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        detail: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            out["detail"] = self.detail
        return out


def param_error(field: str, issue: str, value: Any = None, *, location: str = "body") -> ApiError:
    """400 PARAM_ERROR naming the offending field, as WeChat Pay does in ``detail``."""
    detail: dict[str, Any] = {"field": field, "issue": issue, "location": location}
    if value is not None:
        detail["value"] = value
    return ApiError(400, "PARAM_ERROR", f"{field}: {issue}", detail=detail)


def invalid_request(message: str, **detail: Any) -> ApiError:
    return ApiError(400, "INVALID_REQUEST", message, detail=detail or None)


def sign_error(message: str) -> ApiError:
    return ApiError(401, "SIGN_ERROR", message)
