"""`fedi up` as a person runs it: everything comes up, a deployment succeeds, Ctrl-C stops every
process cleanly (the services before the bus), and a second `fedi up` finds the state again."""

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from runtime.nats_server import free_port
from tests.e2e.conftest import mastodon_and_pixelfed, wait_until

pytestmark = pytest.mark.e2e

SERVICES = ("configurator", "storage", "identity", "orchestrator", "panel")


def start(home, port: int) -> subprocess.Popen:
    # Its own process group, like a shell's foreground job: Ctrl-C goes to the whole group.
    return subprocess.Popen(
        [sys.executable, "-m", "fedi", "up", "--home", str(home), "--panel-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("FEDI_")},
    )


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def ctrl_c(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=60)


def operator_token(home) -> str:
    created = subprocess.run([sys.executable, "-m", "fedi", "operator", "create", "acme", "--home", str(home)],
                             capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip().splitlines()[-1]


def test_ctrl_c_stops_every_process_cleanly_and_the_next_start_finds_the_deployment(tmp_path):
    home, port = tmp_path / "var", free_port()
    url = f"http://127.0.0.1:{port}"
    first = start(home, port)
    try:
        wait_until(lambda: healthy(url), 120, "the panel of fedi up")
        auth = {"Authorization": f"Bearer {operator_token(home)}"}
        audited = subprocess.run([sys.executable, "-m", "fedi", "audit", "--action", "operator.created", "--home", str(home)],
                                 capture_output=True, text=True, timeout=60)
        assert "operator.created acme" in audited.stdout, audited.stdout + audited.stderr
        deployment = httpx.post(f"{url}/api/v1/configuration", json=mastodon_and_pixelfed(), headers=auth, timeout=10).json()["deployment_id"]
        wait_until(lambda: httpx.get(f"{url}/api/v1/deployments/{deployment}", headers=auth).json()["state"] == "succeeded", 120,
                   "the deployment")
        ctrl_c(first)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    printed = first.stdout.read()
    assert first.returncode == 0, printed
    stack = json.loads((home / "stack.json").read_text())
    for name in ("panel", "nats", "proxmox_sandbox", "s3_sandbox", "metrics_orchestrator", "logs"):
        assert f"{name} " in printed and str(stack[name]) in printed, f"fedi up says where {name} is:\n{printed}"
    assert "fedi operator create NAME" in printed and printed.rstrip().endswith("stopped.")
    for service in SERVICES:
        events = [json.loads(line).get("event") for line in (home / "logs" / f"{service}.log").read_text().splitlines() if line.startswith("{")]
        assert events[-1] == "service stopped", f"{service} did not stop cleanly: {events[-3:]}"
        assert "bus error" not in events, f"{service} lost the bus while stopping"

    second = start(home, port)
    try:
        wait_until(lambda: healthy(url), 120, "the panel after the restart")
        view = httpx.get(f"{url}/api/v1/deployments/{deployment}", headers=auth, timeout=10).json()
        assert view["state"] == "succeeded" and view["percent"] == 100
        assert json.loads((home / "stack.json").read_text())["panel"] == url
    finally:
        ctrl_c(second)
