"""A stand-in for Garage 2.x: its admin API v2 and an S3 endpoint enforcing its keys and quotas."""

from .sandbox import GarageSandbox

__all__ = ["GarageSandbox"]
