"""Garage's API errors: the same codes, statuses and message prefixes as `garage_api_common`."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered to the client; the admin API renders it as JSON, the S3 API as XML."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(msg: str) -> ApiError:
    return ApiError(400, "InvalidRequest", f"Bad request: {msg}")


def forbidden(msg: str) -> ApiError:
    return ApiError(403, "AccessDenied", f"Forbidden: {msg}")


def no_such_bucket(name: str) -> ApiError:
    return ApiError(404, "NoSuchBucket", f"Bucket not found: {name}")


def no_such_access_key(key_id: str) -> ApiError:
    return ApiError(404, "NoSuchAccessKey", f"Access key not found: {key_id}")


def bucket_already_exists() -> ApiError:
    return ApiError(409, "BucketAlreadyExists", "Bucket already exists")


def bucket_not_empty() -> ApiError:
    return ApiError(409, "BucketNotEmpty", "Tried to delete a non-empty bucket")


def internal(msg: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error: {msg}")


def unavailable(msg: str) -> ApiError:
    # Garage answers 503 ServiceUnavailable for timeouts and quorum errors.
    return ApiError(503, "ServiceUnavailable", f"Internal error: {msg}")


INVALID_BUCKET_NAME_MESSAGE = (
    "Invalid bucket name. See AWS documentation for constraints on S3 bucket names:\n"
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
)
