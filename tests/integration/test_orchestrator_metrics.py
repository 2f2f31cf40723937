"""The orchestrator's Prometheus endpoint after deployments on the Proxmox sandbox: deployments by
state, each step's duration by kind and outcome, and every backend error by backend and kind,
injected Proxmox faults included, in the Prometheus text format."""

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.nats_server import free_port
from tests.integration.test_orchestrator_support import plan, resources, world  # noqa: F401

pytestmark = pytest.mark.integration


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    """(sample name, its labels) -> value, of the fedi_* series."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("fedi_")
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def labelled(samples: dict, name: str) -> dict[frozenset, float]:
    return {labels: v for (sample, labels), v in samples.items() if sample == name and v}


def test_the_metrics_show_deployments_by_state_step_durations_and_each_backend_error_by_kind(world):
    w = world
    port = free_port()
    w.proxmox.inject_fault("nextid", "lock_timeout", count=2)  # retried inside the Proxmox adapter
    w.proxmox.inject_fault("qmclone", "lock_timeout", count=1)  # the clone task fails: the step is retried
    w.proxmox.inject_fault("resources", "reset", count=1)
    w.proxmox.inject_fault("qmstart", "http_596", count=1)
    w.start(METRICS_PORT=str(port))
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first), timeout=90) == "succeeded", w.reason("acme-rev1")
    assert w.deploy(plan("acme", 2, first, before=first)) == "succeeded", "nothing to do the second time"
    shrunk = resources("acme", disk=10)
    assert w.deploy(plan("acme", 3, shrunk, before=first)) == "failed", "a disk cannot shrink"

    def counted():
        samples = scrape(port)
        return samples if value(samples, "fedi_deployments", state="failed") == 1 else None

    samples = w.wait(counted, 10, "the deployments gauge to count the failed deployment")

    states = ("queued", "running", "succeeded", "failed", "cancelled")
    assert {state: value(samples, "fedi_deployments", state=state) for state in states} == {
        "queued": 0, "running": 0, "succeeded": 2, "failed": 1, "cancelled": 0}

    kinds = {r["kind"] for r in first}
    for kind in kinds:
        assert value(samples, "fedi_step_seconds_count", kind=kind, outcome="done") == 1, kind
    assert value(samples, "fedi_step_seconds_count", kind="vm", outcome="failed") == 1
    untouched_by_the_shrink = {"sshkey", "bucket", "account", "mail"}  # the VM failed; its record and NixOS never started
    assert {kind: value(samples, "fedi_step_seconds_count", kind=kind, outcome="unchanged") for kind in kinds} == {
        kind: 1 + (kind in untouched_by_the_shrink) for kind in kinds}
    assert value(samples, "fedi_step_seconds_sum", kind="vm", outcome="done") > 0
    assert value(samples, "fedi_step_seconds_bucket", kind="vm", outcome="done", le="+Inf") == 1

    errors = {tuple(sorted(labels)): count for labels, count in labelled(samples, "fedi_backend_errors_total").items()}
    proxmox = lambda kind, transient="true": (("backend", "proxmox"), ("kind", kind), ("transient", transient))  # noqa: E731
    assert errors == {
        proxmox("lock_timeout"): 3,  # two nextid calls, one clone task
        proxmox("reset"): 1,
        proxmox("http_596"): 1,
        proxmox("permanent", "false"): 1,  # the disk that cannot shrink
    }
