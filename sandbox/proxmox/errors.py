"""The one exception every layer raises for a non-200 answer."""

from __future__ import annotations


class ApiError(Exception):
    """HTTP `status` and `message` (its first line becomes the reason phrase, as in pveproxy);
    `errors` holds the per-parameter messages of a 400."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


def param_error(errors: dict[str, str]) -> ApiError:
    return ApiError(400, "Parameter verification failed.", errors)


class ConnectionReset(Exception):
    """An injected fault: the connection is dropped without an answer."""
