"""The nats-server's own message tracing (`Nats-Trace-Dest`), turned on for one operator's messages
(setting `server_trace_operators`) or for one replayed message (`fedi dlq replay --trace`).

The server reports each traced message's hops (ingress from which client, the stream that stored
it, egress to which subscriptions) to `server-trace.<correlation id>`; a stream keeps those reports
for a day, and `fedi trace --server` prints them.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime

import nats
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

SERVER_TRACES = "FEDI_SERVER_TRACES"
TRACE_PREFIX = "server-trace"
TRACE_DEST = "Nats-Trace-Dest"
DAY = 24 * 3600


def trace_dest(correlation_id: str) -> str:
    return f"{TRACE_PREFIX}.{correlation_id}"


def traced_operators(setting: str) -> frozenset[str]:
    """`acme, globex` -> those operators; `*` -> everyone; empty -> no one."""
    return frozenset(part.strip() for part in setting.split(",") if part.strip())


def wants_trace(operators: frozenset[str], operator_id: str) -> bool:
    return "*" in operators or operator_id in operators


async def ensure_trace_stream(js: JetStreamContext) -> None:
    try:
        await js.stream_info(SERVER_TRACES)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=SERVER_TRACES, subjects=[f"{TRACE_PREFIX}.>"], storage=StorageType.FILE, max_age=DAY))


@dataclass(frozen=True)
class Hop:
    kind: str
    """ingress, stored, egress"""
    at: datetime
    where: str


@dataclass(frozen=True)
class ServerTrace:
    subject: str
    hops: tuple[Hop, ...]


KINDS = {"in": "ingress", "js": "stored", "eg": "egress"}


def _timestamp(text: str) -> datetime:
    """The server's RFC 3339 times carry nanoseconds; Python keeps microseconds."""
    return datetime.fromisoformat(re.sub(r"(\.\d{1,6})\d*", r"\1", text).replace("Z", "+00:00"))


def parse(report: dict) -> ServerTrace:
    hops, subject = [], "?"
    for event in report.get("events", []):
        kind = KINDS.get(event.get("type"))
        if kind is None:
            continue
        at = _timestamp(event["ts"])
        if kind == "ingress":
            subject = event.get("subj", subject)
            where = f"from client {event.get('cid')}{' (' + event['name'] + ')' if event.get('name') else ''}"
        elif kind == "stored":
            where = f"in stream {event.get('stream')} as {event.get('subject')}"
        else:
            where = f"to client {event.get('cid')}{' (' + event['name'] + ')' if event.get('name') else ''} on {event.get('sub')}"
        hops.append(Hop(kind, at, where))
    return ServerTrace(subject, tuple(sorted(hops, key=lambda hop: hop.at)))


async def collect(nats_url: str, correlation_id: str, options: dict | None = None) -> list[ServerTrace]:
    """The server's reports for that correlation id, oldest first."""
    connection = await nats.connect(nats_url, **(options or {}))
    found = []
    try:
        js = connection.jetstream()
        try:
            info = await js.stream_info(SERVER_TRACES)
        except NotFoundError:
            return []
        if info.state.messages == 0:
            return []
        subscription = await js.subscribe(trace_dest(correlation_id), stream=SERVER_TRACES, ordered_consumer=True)
        while True:
            try:
                message = await subscription.next_msg(timeout=1.0)
            except TimeoutError:
                break
            found.append(parse(json.loads(message.data)))
            if message.metadata.sequence.stream >= info.state.last_seq:
                break
    finally:
        await connection.close()
    return found


def render(traces: list[ServerTrace]) -> list[str]:
    lines = []
    for trace in traces:
        lines.append(trace.subject)
        start = trace.hops[0].at if trace.hops else None
        for hop in trace.hops:
            lines.append(f"    {(hop.at - start).total_seconds() * 1e6:8.0f} µs  {hop.kind:<8} {hop.where}")
    return lines
