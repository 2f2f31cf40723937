"""Tracing (OpenTelemetry, W3C traceparent in message headers) and metrics (Prometheus) for a
service's bus. Both are faststream middlewares plus a few attributes and metrics of our own."""

from dataclasses import dataclass, field

from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.prometheus import NatsPrometheusMiddleware
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

extra_span_processors: list[SpanProcessor] = []
"""Processors every service's tracer also feeds (tests add an in-memory exporter here)."""


def tracer_provider(service: str, otlp_endpoint: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    for processor in extra_span_processors:
        provider.add_span_processor(processor)
    return provider


@dataclass
class Metrics:
    """One service's Prometheus registry: faststream's message metrics plus ours."""

    service: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.handler_failures = Counter(
            "fedi_handler_failures", "Handler failures, by subject and error kind", ["subject", "error"], registry=self.registry
        )
        self.dead_letters = Counter(
            "fedi_dead_letters", "Messages parked on the dead-letter subject", ["subject"], registry=self.registry
        )
        self.consumer_pending = Gauge(
            "fedi_consumer_pending", "Messages not yet delivered to a durable consumer (lag)", ["consumer"], registry=self.registry
        )
        self.outbox_pending = Gauge("fedi_outbox_pending", "Messages waiting in the outbox", registry=self.registry)
        self.backend_errors = Counter(
            "fedi_backend_errors", "Errors from external systems, by backend, kind and whether they are retried",
            ["backend", "kind", "transient"], registry=self.registry,
        )
        self.step_seconds = Histogram(
            "fedi_step_seconds", "Duration of deployment steps, by kind (vm, vm-delete, ...) and outcome (done, unchanged, failed)",
            ["kind", "outcome"], registry=self.registry,
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
        )
        self.deployments = Gauge("fedi_deployments", "Deployments by state", ["state"], registry=self.registry)

    def middleware(self) -> NatsPrometheusMiddleware:
        return NatsPrometheusMiddleware(registry=self.registry, app_name=self.service, metrics_prefix="faststream")


def telemetry_middleware(provider: TracerProvider) -> NatsTelemetryMiddleware:
    return NatsTelemetryMiddleware(tracer_provider=provider)


def current_traceparent() -> str | None:
    """The traceparent of the span being handled right now, if any."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def annotate(**attributes) -> None:
    """Adds our ids (correlation, causation, stream sequence, deliveries) to the current span."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({f"fedi.{key}": value for key, value in attributes.items() if value is not None})


def failed(exc: BaseException) -> None:
    """Marks the current span as failed with the error (the bus catches a handler's error before the
    telemetry middleware could see it)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


class attached:
    """`with attached(headers):` makes the trace context stored in headers current (for the relay)."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def __enter__(self):
        self.token = otel_context.attach(propagate.extract(self.headers))

    def __exit__(self, *exc) -> None:
        otel_context.detach(self.token)
