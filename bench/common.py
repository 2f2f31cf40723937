"""What the benchmarks share: an operator's configuration, and one deployment through the panel's API."""

import asyncio
import time

import httpx

from fedi.stack import Stack
from services.panel.cli import create_operator
from services.panel.settings import Settings as PanelSettings


def configuration(domain: str) -> dict:
    return {
        "domain": domain,
        "initialUser": {"username": "alice", "displayName": "Alice", "email": f"alice@{domain}"},
        "mastodon": {"enable": True},
        "pixelfed": {"enable": True},
    }


def through_control_plane(stack: Stack, operator: str) -> float:
    token = asyncio.run(create_operator(operator, PanelSettings(data_dir=stack.home / "panel")))
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.panel_url, headers=auth, timeout=30) as api:
        started = time.perf_counter()
        deployment = api.post("/api/v1/configuration", json=configuration(f"{operator}.example")).json()["deployment_id"]
        while (view := api.get(f"/api/v1/deployments/{deployment}").json())["state"] not in ("succeeded", "failed"):
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    if view["state"] != "succeeded":
        raise SystemExit(f"deployment failed: {view['reason']}")
    return elapsed
