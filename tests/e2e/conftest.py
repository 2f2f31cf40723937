"""The whole stack as separate processes (nats-server, sandbox, five services), once per module."""

import asyncio
import contextlib
import json
import ssl
import time
import urllib.request
from collections.abc import Callable

import httpx
import pytest

from fedi.stack import Stack
from tests.conftest import blocking  # noqa: F401 (the e2e tests take it from here)
from runtime.nats_server import free_port
from services.panel.cli import create_operator
from services.panel.settings import Settings as PanelSettings


class Running:
    """A started stack plus the calls tests make against it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.api = httpx.Client(base_url=stack.panel_url, timeout=10)

    def operator(self, name: str) -> dict[str, str]:
        settings = PanelSettings(data_dir=self.stack.home / "panel")
        token = asyncio.run(create_operator(name, settings))
        return {"Authorization": f"Bearer {token}"}

    def submit(self, auth: dict, configuration: dict) -> httpx.Response:
        return self.api.post("/api/v1/configuration", json=configuration, headers=auth)

    def deployment(self, auth: dict, deployment_id: str) -> dict:
        response = self.api.get(f"/api/v1/deployments/{deployment_id}", headers=auth)
        response.raise_for_status()
        return response.json()

    def step_when(self, auth: dict, deployment_id: str, step_id: str, state: str, showing: str = "") -> dict:
        """The deployment's step once the panel shows it in that state with a detail (`showing` in it,
        when given): a step's own last progress event may reach the panel after the deployment's end,
        which shows every step done already, with the detail it had while running."""
        def seen() -> dict | None:
            step = self.deployment(auth, deployment_id)["steps"][step_id]
            return step if step["state"] == state and step["detail"] and showing in step["detail"] else None

        return wait_until(seen, 30, f"{step_id} {state} in the panel")

    def wait_for(self, auth: dict, deployment_id: str, states=("succeeded", "failed", "rejected"), timeout=90.0) -> dict:
        return wait_until(lambda: _in(self.deployment(auth, deployment_id), states), timeout, f"deployment {deployment_id} in {states}")

    def proxmox_inventory(self) -> list[dict]:
        context = ssl.create_default_context(cafile=str(self.stack.sandbox / "tls" / "cert.pem"))
        with urllib.request.urlopen(f"{self.stack.proxmox_url}/sandbox/inventory", context=context) as response:
            return json.load(response)

    def proxmox_control(self, path: str, body: dict, method: str = "POST") -> dict:
        context = ssl.create_default_context(cafile=str(self.stack.sandbox / "tls" / "cert.pem"))
        request = urllib.request.Request(
            f"{self.stack.proxmox_url}/sandbox/{path}", data=json.dumps(body).encode(), method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, context=context) as response:
            return json.load(response)

    @contextlib.contextmanager
    def proxmox_latency(self, **seconds: float):
        """Proxmox operations take that long inside the block (`guest_agent_boot` keeps a new VM booting
        until it is set back to 0), and no time again after it."""
        self.proxmox_control("latency", seconds)
        try:
            yield
        finally:
            self.proxmox_control("latency", dict.fromkeys(seconds, 0.0))

    @contextlib.contextmanager
    def stopped(self, service: str):
        """The service is down inside the block (what it consumes waits in its durable consumers), and
        started again after it."""
        self.stack.kill(service)
        try:
            yield
        finally:
            self.stack.start_service(service)

    def garage_inventory(self) -> dict:
        return httpx.get(f"{self.stack.garage_admin_url}/sandbox/inventory").json()

    def garage_fault(self, operation: str, kind: str = "http_500", count: int = 1, rate: float | None = None) -> None:
        fault = {"operation": operation, "kind": kind, "count": count, **({"rate": rate} if rate is not None else {})}
        httpx.post(f"{self.stack.garage_admin_url}/sandbox/faults", json=fault).raise_for_status()

    def clear_faults(self) -> dict[str, dict[str, int]]:
        """Stops the faults of both sandboxes; returns how many of each kind struck, per sandbox."""
        garage = httpx.delete(f"{self.stack.garage_admin_url}/sandbox/faults")
        garage.raise_for_status()
        return {"proxmox": self.proxmox_control("faults", {}, "DELETE")["taken"], "garage": garage.json()["taken"]}


def mastodon(operator: str) -> dict:
    """Mastodon alone on the operator's domain."""
    return mastodon_and_pixelfed(f"{operator}.example") | {"pixelfed": {"enable": False}}


def deploy_all(running, tokens: dict, configuration) -> dict[str, dict]:
    """Each operator submits its configuration at once; every deployment as it ended."""
    submitted = {}
    for operator, auth in tokens.items():
        response = running.submit(auth, configuration(operator))
        assert response.status_code == 202, response.text
        submitted[operator] = response.json()["deployment_id"]
    return {operator: running.wait_for(tokens[operator], deployment_id) for operator, deployment_id in submitted.items()}


def _in(view: dict, states) -> dict | None:
    return view if view["state"] in states else None


def wait_until(probe: Callable, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def running(tmp_path_factory) -> Running:
    stack = Stack(tmp_path_factory.mktemp("stack"), panel_port=free_port())
    try:
        stack.start()
        yield Running(stack)
    finally:
        stack.stop()


def mastodon_and_pixelfed(domain: str = "acme.example") -> dict:
    return {
        "domain": domain,
        "initialUser": {"username": "alice", "displayName": "Alice Example", "email": f"alice@{domain}"},
        "mastodon": {"enable": True},
        "pixelfed": {"enable": True},
    }
