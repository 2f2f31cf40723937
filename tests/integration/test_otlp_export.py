"""A service given FEDI_<SERVICE>_OTLP_ENDPOINT exports its spans there over OTLP/HTTP: the real
configurator, on a real password-protected nats-server, sending to a collector the test runs."""

import asyncio
import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from uuid import uuid4

import nats
import nats.js.errors
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from contracts import encode
from contracts.catalogue import SERVICES, durable_name
from contracts.events import ConfigSubmitted
from contracts.subjects import CONFIG_SUBMITTED, PLAN_CREATED, STREAM
from runtime.event_chain import collect
from runtime.nats_server import NatsServer
from runtime.permissions import server_config
from runtime.service import migrations_of, serve
from services.configurator import bootstrap as configurator
from services.configurator import handlers
from services.configurator.adapters.store import Base
from services.configurator.settings import Settings

pytestmark = pytest.mark.integration

TRACE_ID = "5c0ffee5c0ffee5c0ffee5c0ffee5c0f"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
PASSWORDS = {user: f"{user}-{uuid4().hex}" for user in ("admin", *SERVICES)}
DOMAIN = "private-7c1d.example"
CONFIGURATION = {
    "domain": DOMAIN,
    "initialUser": {"username": "alice", "displayName": "Alice Privatename", "email": f"alice@{DOMAIN}"},
    "mastodon": {"enable": True},
}
HANDLED = f"{CONFIG_SUBMITTED} process"
PUBLISHED = f"{PLAN_CREATED} publish"


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict
    failed: bool
    """Its status is an error (with the error as its description)."""
    description: str


class OtlpCollector(ThreadingHTTPServer):
    """Receives OTLP/HTTP trace exports on /v1/traces as a collector does, and keeps what came."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Export)
        self.bodies: list[bytes] = []
        self.spans: list[ReceivedSpan] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1/traces"

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = _attributes(resource_spans.resource.attributes)["service.name"]
            for scope_spans in resource_spans.scope_spans:
                self.spans += [
                    ReceivedSpan(
                        service, s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), _attributes(s.attributes),
                        s.status.code == Status.STATUS_CODE_ERROR, s.status.message,
                    )
                    for s in scope_spans.spans
                ]
        self.bodies.append(body)

    def named(self, name: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.name == name]


class _Export(BaseHTTPRequestHandler):
    server: OtlpCollector

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces":
            self.send_error(404)
            return
        self.server.receive(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(ExportTraceServiceResponse().SerializeToString())

    def log_message(self, *args) -> None:
        pass


def _attributes(key_values) -> dict:
    return {item.key: getattr(item.value, item.value.WhichOneof("value")) for item in key_values}


@pytest.fixture
def collector():
    server = OtlpCollector()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def locked_nats(tmp_path):
    config = tmp_path / "server.conf"
    config.write_text(server_config(PASSWORDS))
    server = NatsServer(tmp_path / "nats", config_file=config).start()
    yield server
    server.stop()


class TransientFaults:
    """Submissions whose first handling fails, as on a transient fault (the bus delivers them again)."""

    def __init__(self) -> None:
        self.failing: set[str] = set()

    def fail_first_delivery_of(self, correlation_id: str) -> None:
        self.failing.add(correlation_id)

    def around(self, plan_submission):
        async def first_delivery_fails(event, uow, **kwargs):
            if event.correlation_id in self.failing:
                self.failing.discard(event.correlation_id)
                raise ConnectionError("the database went away for a moment")
            await plan_submission(event, uow, **kwargs)

        return first_delivery_fails


@pytest.fixture
def transient_faults(monkeypatch) -> TransientFaults:
    faults = TransientFaults()
    monkeypatch.setattr(handlers, "plan_submission", faults.around(handlers.plan_submission))
    return faults


@pytest.fixture
async def exporting_configurator(locked_nats, collector, transient_faults, tmp_path, monkeypatch, eventually):
    """The configurator with its settings from FEDI_CONFIGURATOR_*, an OTLP endpoint among them."""
    env = {
        "NATS_URL": locked_nats.url,
        "NATS_USER": "configurator",
        "NATS_PASSWORD": PASSWORDS["configurator"],
        "DATA_DIR": str(tmp_path / "configurator"),
        "OTLP_ENDPOINT": collector.endpoint,
        "REDELIVERY_BACKOFF_SECONDS": "0.05",
    }
    for key, value in env.items():
        monkeypatch.setenv(f"FEDI_CONFIGURATOR_{key}", value)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # export every 50 ms, not every 5 s: the test waits less
    wired = []

    async def wire(bus, units):
        wired.append(bus)
        return await configurator.wire(bus, units, fleet_out=[])  # no campaign scheduler in the background

    service = asyncio.create_task(serve(Settings(), Base.metadata, migrations_of(configurator.__file__), wire))
    await eventually(lambda: consuming(locked_nats.url, service), "the configurator reading submissions")
    yield
    service.cancel()  # serve() stops what it started, its bus flushing its last spans while the collector listens
    await asyncio.gather(service, return_exceptions=True)
    for bus in wired:
        await asyncio.to_thread(bus.tracer_provider.shutdown)


async def consuming(nats_url: str, service: asyncio.Task) -> bool:
    if service.done():
        service.result()  # it failed to start: say why
    connection = await nats.connect(nats_url, **admin())
    try:
        await connection.jetstream().consumer_info(STREAM, durable_name("configurator", CONFIG_SUBMITTED))
        return True
    except nats.js.errors.NotFoundError:
        return False
    finally:
        await connection.close()


async def submit(nats_url: str, correlation_id: str) -> tuple[ConfigSubmitted, int]:
    """As the panel would: a submission with a traceparent header; returns it and its stream sequence."""
    submitted = ConfigSubmitted(
        correlation_id=correlation_id, causation_id=str(uuid4()), operator_id="acme", producer="panel",
        revision=1, configuration=CONFIGURATION,
    )
    connection = await nats.connect(nats_url, **admin())
    try:
        ack = await connection.jetstream().publish(
            CONFIG_SUBMITTED, encode(submitted), headers={"Nats-Msg-Id": str(submitted.event_id), "traceparent": TRACEPARENT}
        )
    finally:
        await connection.close()
    return submitted, ack.seq


def admin() -> dict:
    return {"user": "admin", "password": PASSWORDS["admin"]}


async def test_a_service_with_an_otlp_endpoint_exports_its_handle_and_publish_spans_with_our_ids(
    locked_nats, collector, exporting_configurator, eventually
):
    submitted, sequence = await submit(locked_nats.url, "dep-otlp")

    async def exported():
        return collector.named(HANDLED) and collector.named(PUBLISHED)

    await eventually(exported, "the configurator's handle and publish spans at the OTLP endpoint")
    [handled] = collector.named(HANDLED)
    [published] = collector.named(PUBLISHED)
    assert handled.service == published.service == "configurator"
    assert handled.trace_id == published.trace_id == TRACE_ID, "the trace goes on from the submission's traceparent"
    assert handled.attributes | {
        "fedi.correlation_id": "dep-otlp",
        "fedi.causation_id": submitted.causation_id,
        "fedi.stream_sequence": sequence,
        "fedi.deliveries": 1,
        "fedi.consumer": durable_name("configurator", CONFIG_SUBMITTED),
    } == handled.attributes
    by_id = {span.span_id: span for span in collector.spans}
    assert handled in ancestors(published, by_id), "the publish happened while handling the submission"

    [plan] = [m for m in await collect(locked_nats.url, "dep-otlp", admin()) if m.subject == PLAN_CREATED]
    assert plan.message.causation_id == str(submitted.event_id)
    _, trace_id, parent, _ = plan.headers["traceparent"].split("-")
    assert trace_id == TRACE_ID and parent in by_id, "plan.created carries the trace on to its consumers"


async def test_a_redelivered_message_is_exported_with_its_delivery_count(
    locked_nats, collector, transient_faults, exporting_configurator, eventually
):
    transient_faults.fail_first_delivery_of("dep-retried")
    submitted, sequence = await submit(locked_nats.url, "dep-retried")

    async def handled_twice():
        return len(collector.named(HANDLED)) == 2 and collector.named(PUBLISHED)

    await eventually(handled_twice, "both deliveries of the submission exported")
    handled = collector.named(HANDLED)
    assert sorted(span.attributes["fedi.deliveries"] for span in handled) == [1, 2]
    assert {span.attributes["fedi.stream_sequence"] for span in handled} == {sequence}
    assert {span.attributes["fedi.causation_id"] for span in handled} == {submitted.causation_id}
    assert {span.trace_id for span in handled} == {TRACE_ID}
    first, second = sorted(handled, key=lambda span: span.attributes["fedi.deliveries"])
    assert first.failed and "the database went away for a moment" in first.description, "the failed delivery shows as failed"
    assert not second.failed


async def test_exported_spans_carry_no_message_body_or_secret(locked_nats, collector, exporting_configurator, eventually):
    await submit(locked_nats.url, "dep-private")

    async def exported():
        return collector.named(PUBLISHED)

    await eventually(exported, "the spans exported")
    everything_exported = b"".join(collector.bodies)
    for private in (*PASSWORDS.values(), DOMAIN, "Alice Privatename", "initialUser"):
        assert private.encode() not in everything_exported, private


def ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    found = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        found.append(span)
    return found
