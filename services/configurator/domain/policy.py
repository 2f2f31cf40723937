"""The hosting provider's policy: what each service gets."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VmSize:
    cores: int
    memory_mib: int
    disk_gib: int


@dataclass(frozen=True)
class Policy:
    sizes: dict[str, VmSize] = field(
        default_factory=lambda: {
            "mastodon": VmSize(cores=2, memory_mib=4096, disk_gib=40),
            "peertube": VmSize(cores=4, memory_mib=8192, disk_gib=60),
            "pixelfed": VmSize(cores=2, memory_mib=2048, disk_gib=40),
        }
    )
    bucket_quota_gib: dict[str, int] = field(
        default_factory=lambda: {"mastodon": 100, "peertube": 500, "pixelfed": 100}
    )
    """Services that store media in S3, with the bucket's size quota."""
