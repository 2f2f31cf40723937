"""How the orchestrator counts errors of the systems it drives (fedi_backend_errors): by backend, by
kind, and whether it retries them; anything that is not a backend's error is not counted."""

import asyncio

import pytest
from proxmoxer.core import ResourceException
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout

from runtime.telemetry import Metrics
from services.orchestrator.adapters.dns import DnsError
from services.orchestrator.adapters.proxmox import ProxmoxError, TaskTimeout, classify
from services.orchestrator.retry import Backoff, BackendErrors


def counted(*errors: BaseException) -> dict[tuple[str, str, str], float]:
    metrics = Metrics("orchestrator")
    recorder = BackendErrors(metrics)
    for error in errors:
        recorder.record(error)
    return {
        (s.labels["backend"], s.labels["kind"], s.labels["transient"]): s.value
        for family in metrics.registry.collect() if family.name == "fedi_backend_errors"
        for s in family.samples if s.name.endswith("_total")
    }


def proxmox(status: int, content: str) -> ProxmoxError:
    return classify(ResourceException(status, "error", content), "cloning VM 101")


def test_proxmox_errors_are_counted_by_what_went_wrong_and_whether_they_are_retried():
    assert counted(
        proxmox(500, "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout"),
        proxmox(596, "Connection timed out"),
        proxmox(500, "VM 101 does not exist"),
        classify(RequestsConnectionError("Connection aborted: ConnectionResetError(104)"), "listing VMs"),
        classify(RequestsConnectionError("[Errno 111] Connection refused"), "listing VMs"),
        classify(ReadTimeout("read timed out"), "listing VMs"),
        TaskTimeout("cloning VM 101: task still running after 600s"),
        ProxmoxError("VM 101 stayed locked for 600s", transient=True),
        ProxmoxError("the disk cannot shrink", transient=False),
    ) == {
        ("proxmox", "lock_timeout", "true"): 2,
        ("proxmox", "http_596", "true"): 1,
        ("proxmox", "http_500", "false"): 1,
        ("proxmox", "reset", "true"): 1,
        ("proxmox", "unreachable", "true"): 1,
        ("proxmox", "timeout", "true"): 1,
        ("proxmox", "task_timeout", "true"): 1,
        ("proxmox", "permanent", "false"): 1,
    }


def test_powerdns_errors_are_counted_by_status_and_an_error_of_no_backend_is_not_counted():
    assert counted(DnsError(None, "unreachable"), DnsError(503, "busy"), DnsError(422, "invalid"), ValueError("a bug")) == {
        ("dns", "unreachable", "true"): 1,
        ("dns", "http_503", "true"): 1,
        ("dns", "http_422", "false"): 1,
    }


def test_the_backoff_tells_of_each_error_it_retries_and_leaves_the_last_to_its_caller():
    told: list[str] = []
    failures = iter([proxmox(596, "Connection timed out"), proxmox(596, "Connection timed out"), proxmox(500, "VM 1 does not exist")])

    async def call():
        raise next(failures)

    backoff = Backoff(base=0.001, cap=0.001, deadline=5, on_error=lambda exc: told.append(exc.kind))
    with pytest.raises(ProxmoxError) as last:
        asyncio.run(backoff.run(call))
    assert last.value.kind == "http_500" and told == ["http_596", "http_596"]
