"""One deployment is one trace across all five services (OpenTelemetry, W3C traceparent in headers)."""

import asyncio
from collections import defaultdict

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fedi.stack import SERVICES, Stack
from runtime import telemetry
from runtime.nats_server import free_port
from services.panel.cli import create_operator
from tests.e2e.conftest import mastodon_and_pixelfed

pytestmark = pytest.mark.e2e


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
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
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
