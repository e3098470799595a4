"""Errors that become HTTP answers: each carries its status and a snake_case code. No Starlette here."""

from __future__ import annotations


class LocatorError(Exception):
    """Rendered as `{"error": code, "detail": detail}` with `status`."""

    status = 500
    code = "internal_error"

    def __init__(self, detail: str, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        if code is not None:
            self.code = code


class BadRequest(LocatorError):
    status = 400
    code = "bad_request"


class Unauthorized(LocatorError):
    status = 401
    code = "unauthorized"


class Forbidden(LocatorError):
    status = 403
    code = "forbidden"


class NotFound(LocatorError):
    status = 404
    code = "not_found"


class UriTooLong(LocatorError):
    status = 414
    code = "uri_too_long"


class ServiceUnavailable(LocatorError):
    status = 503
    code = "unavailable"
