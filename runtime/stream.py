"""The one stream: file storage, bounded by age and size, deduplicating by Nats-Msg-Id."""

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from contracts.catalogue import stream_subjects
from contracts.subjects import STREAM

DAY = 24 * 3600


def stream_config(max_age_days: int = 90, max_bytes: int = 4 * 1024**3) -> StreamConfig:
    return StreamConfig(
        name=STREAM,
        subjects=stream_subjects(),
        storage=StorageType.FILE,
        max_age=max_age_days * DAY,
        max_bytes=max_bytes,
        discard=DiscardPolicy.OLD,
        duplicate_window=120,
    )


async def ensure_stream(js: JetStreamContext) -> None:
    """Create the stream, or bring an existing one's subjects up to date."""
    config = stream_config()
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)
