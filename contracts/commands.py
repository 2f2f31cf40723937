"""Commands: requests to another service, named in the imperative."""

from typing import Literal

from pydantic import Field

from . import subjects
from .envelope import Command


class BucketRequested(Command):
    """Create (or find) a bucket and an access key allowed on it only (orchestrator -> storage)."""

    type: Literal["bucket.requested"] = subjects.BUCKET_REQUESTED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    bucket: str = Field(description="Deterministic bucket name.")
    quota_bytes: int | None = None
    quota_objects: int | None = None


class AccountRequested(Command):
    """Create (or find) a service admin account (orchestrator -> identity)."""

    type: Literal["account.requested"] = subjects.ACCOUNT_REQUESTED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    service: str
    username: str
    email: str
    display_name: str
