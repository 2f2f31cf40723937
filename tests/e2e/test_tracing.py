"""One deployment is one trace across all five services (OpenTelemetry, W3C traceparent in headers)."""

import asyncio
from collections import defaultdict

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.catalogue import durable_name
from fedi.stack import SERVICES, Stack
from runtime import telemetry
from runtime.event_chain import collect
from runtime.nats_server import free_port
from runtime.uow import DELIVERY
from services.panel.cli import create_operator
from tests.e2e.conftest import mastodon_and_pixelfed

pytestmark = pytest.mark.e2e


async def stop(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def settings_of(service: str, env: dict[str, str], monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    module = __import__(f"services.{service}.settings", fromlist=["Settings"])
    return module.Settings()


async def test_a_deployment_is_one_trace_across_all_five_services(tmp_path, monkeypatch):
    exporter = InMemorySpanExporter()
    monkeypatch.setattr(telemetry, "extra_span_processors", [SimpleSpanProcessor(exporter)])
    stack = Stack(tmp_path / "stack", panel_port=free_port(), services=()).start()
    tasks = []
    try:
        for service in SERVICES:
            main = __import__(f"services.{service}.bootstrap", fromlist=["main"]).main
            tasks.append(asyncio.create_task(main(settings_of(service, stack.service_env(service), monkeypatch))))
        token = await create_operator("acme", settings_of("panel", stack.service_env("panel"), monkeypatch))
        async with httpx.AsyncClient(base_url=stack.panel_url, headers={"Authorization": f"Bearer {token}"}) as api:
            for _ in range(100):
                try:
                    submitted = await api.post("/api/v1/configuration", json=mastodon_and_pixelfed())
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.1)
            deployment = submitted.json()["deployment_id"]
            for _ in range(600):
                view = (await api.get(f"/api/v1/deployments/{deployment}")).json()
                if view["state"] in ("succeeded", "failed"):
                    break
                await asyncio.sleep(0.1)
        assert view["state"] == "succeeded", view
        await stop(tasks)  # every message of the deployment is in the stream, and every span is finished
        messages = await collect(stack.nats.url, deployment, stack.admin_options())
    finally:
        await stop(tasks)
        stack.stop()

    spans = exporter.get_finished_spans()
    ours = [s for s in spans if s.attributes.get("fedi.correlation_id") == deployment]
    assert ours, "handled messages carry the deployment's correlation id as a span attribute"
    trace_ids = {s.context.trace_id for s in ours}
    assert len(trace_ids) == 1, "every handled message of the deployment belongs to one trace"
    services_in_trace = {s.resource.attributes["service.name"] for s in spans if s.context.trace_id in trace_ids}
    assert services_in_trace == set(SERVICES)
    by_service = defaultdict(set)
    for span in spans:
        if span.context.trace_id in trace_ids:
            by_service[span.resource.attributes["service.name"]].add(span.name)
    assert any("publish" in name for name in by_service["panel"]), by_service["panel"]
    assert all("fedi.stream_sequence" in s.attributes and "fedi.deliveries" in s.attributes for s in ours)
    each_handled_span_names_the_cause_of_its_message(ours, messages)
    each_delivery_is_counted_in_its_own_span(ours, messages)


def each_handled_span_names_the_cause_of_its_message(spans, messages) -> None:
    """The span's stream sequence finds the message it handled; its causation id is that message's,
    the event id of an earlier message of the same deployment (only the submission has no cause)."""
    stored = {item.sequence: item for item in messages}
    event_ids = {str(item.message.event_id): item for item in messages}
    for span in spans:
        handled = stored.get(span.attributes["fedi.stream_sequence"])
        assert handled is not None and handled.subject == span.attributes["messaging.destination_publish.name"], span.attributes
        assert span.attributes["messaging.message.id"] == str(handled.message.event_id), "the span names the message it handled"
        causation = span.attributes.get("fedi.causation_id")
        assert causation == handled.message.causation_id, (span.name, span.resource.attributes["service.name"])
        if causation is not None:
            assert causation in event_ids and event_ids[causation].sequence < handled.sequence, (span.name, causation)
    assert {s.name for s in spans if "fedi.causation_id" not in s.attributes} == {"config.submitted process"}


def each_delivery_is_counted_in_its_own_span(spans, messages) -> None:
    """Deliveries 1..n of a message to a consumer have a span each (n > 1 when it was redelivered), and
    the delivery a handler succeeded on, noted on what it published, is one its spans counted."""
    counted = defaultdict(set)
    for span in spans:
        counted[span.attributes["fedi.consumer"], span.attributes["fedi.stream_sequence"]].add(span.attributes["fedi.deliveries"])
    assert all(counts == set(range(1, max(counts) + 1)) for counts in counted.values()), counted
    event_ids = {str(item.message.event_id): item for item in messages}
    for item in messages:
        if DELIVERY in item.headers:
            cause = event_ids[item.message.causation_id]
            consumer = durable_name(item.message.producer, cause.subject)
            assert int(item.headers[DELIVERY]) in counted[consumer, cause.sequence], (item.subject, consumer)
