"""The PowerDNS provider against a real pdns_server; what it writes is checked over DNS with dnspython."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dns.resolver
import httpx
import pytest

from runtime.nats_server import free_port
from sandbox.pdns import PdnsServer
from services.orchestrator.adapters.dns import DnsError, PowerDns, RRSet
from services.orchestrator.retry import Backoff

pytestmark = pytest.mark.integration

ZONE = "acme.example."
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(pdns):
    return pdns


@pytest.fixture
def client(server):
    with PowerDns(server.api_url, server.api_key) as client:
        client.ensure_zone(ZONE, nameservers=["ns1.acme.example."])
        yield client


def resolve(server: PdnsServer, name: str, rtype: str) -> list[str]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.lifetime = ["127.0.0.1"], server.dns_port, 3
    return sorted(rdata.to_text() for rdata in resolver.resolve(name, rtype))


def eventually(check: Callable[[], object], what: str, deadline: float = 10.0):
    until = time.monotonic() + deadline
    while True:
        try:
            result = check()
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.exception.Timeout):
            result = None
        if result:
            return result
        if time.monotonic() > until:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.02)


def answers(server: PdnsServer, name: str, rtype: str, expected: list[str]) -> None:
    eventually(lambda: resolve(server, name, rtype) == sorted(expected), f"{rtype} {name} answering {expected}")
    assert resolve(server, name, rtype) == sorted(expected)


def test_a_zone_is_created_once_and_creating_it_again_changes_nothing(server):
    with PowerDns(server.api_url, server.api_key) as client:
        assert client.ensure_zone("Acme.Example", nameservers=["ns1.acme.example"]) is True
        client.replace_rrset(ZONE, "www.acme.example.", "A", 300, ["192.0.2.1"])
        assert client.ensure_zone(ZONE) is False

        assert client.zones() == [ZONE]
        assert RRSet("www.acme.example.", "A", 300, ("192.0.2.1",)) in client.rrsets(ZONE)
        assert {r.type for r in client.rrsets(ZONE) if r.name == ZONE} == {"SOA", "NS"}


def test_records_of_every_kind_answer_over_dns(server, client):
    long_text = "v=DKIM1; k=rsa; p=" + "A" * 300
    client.replace_rrset(ZONE, "acme.example.", "A", 300, ["192.0.2.10", "192.0.2.11"])
    client.replace_rrset(ZONE, "acme.example.", "AAAA", 300, ["2001:DB8:0:0::1"])
    client.replace_rrset(ZONE, "www.acme.example.", "CNAME", 300, ["acme.example"])
    client.replace_rrset(ZONE, "acme.example.", "MX", 300, ["10 mail.acme.example", "20 backup.acme.example."])
    client.replace_rrset(ZONE, "acme.example.", "TXT", 300, ['v=spf1 a mx -all', 'say "hé"'])
    client.replace_rrset(ZONE, "mail._domainkey.acme.example.", "TXT", 600, [long_text])

    answers(server, "acme.example.", "A", ["192.0.2.10", "192.0.2.11"])
    answers(server, "acme.example.", "AAAA", ["2001:db8::1"])
    answers(server, "www.acme.example.", "CNAME", ["acme.example."])
    answers(server, "acme.example.", "MX", ["10 mail.acme.example.", "20 backup.acme.example."])
    txt = dns.resolver.Resolver(configure=False)
    txt.nameservers, txt.port = ["127.0.0.1"], server.dns_port
    spf = sorted(b"".join(r.strings).decode() for r in txt.resolve("acme.example.", "TXT"))
    assert spf == ['say "hé"', "v=spf1 a mx -all"]
    (dkim,) = txt.resolve("mail._domainkey.acme.example.", "TXT")
    assert [len(s) for s in dkim.strings] == [255, len(long_text) - 255]
    assert b"".join(dkim.strings).decode() == long_text


def test_what_was_written_reads_back_exactly_as_it_was_written(server, client):
    client.replace_rrset(ZONE, "acme.example.", "TXT", 300, ['say "hé"'])
    client.replace_rrset(ZONE, "acme.example.", "MX", 300, ["10 mail.acme.example"])

    held = {(r.name, r.type): r for r in client.rrsets(ZONE)}
    assert held["acme.example.", "TXT"] == RRSet("acme.example.", "TXT", 300, ('"say \\"h\\195\\169\\""',))
    assert held["acme.example.", "MX"].contents == ("10 mail.acme.example.",)


def test_replacing_a_record_set_leaves_only_the_new_contents(server, client):
    client.replace_rrset(ZONE, "social.acme.example.", "A", 300, ["192.0.2.1"])
    answers(server, "social.acme.example.", "A", ["192.0.2.1"])

    client.replace_rrset(ZONE, "social.acme.example.", "A", 120, ["192.0.2.2"])

    answers(server, "social.acme.example.", "A", ["192.0.2.2"])
    assert RRSet("social.acme.example.", "A", 120, ("192.0.2.2",)) in client.rrsets(ZONE)


def test_deleting_a_record_set_removes_it_from_the_answers(server, client):
    client.replace_rrset(ZONE, "social.acme.example.", "A", 300, ["192.0.2.1"])
    client.replace_rrset(ZONE, "acme.example.", "A", 300, ["192.0.2.9"])
    client.replace_rrset(ZONE, "acme.example.", "TXT", 300, ["keep me"])
    answers(server, "social.acme.example.", "A", ["192.0.2.1"])

    client.delete_rrset(ZONE, "social.acme.example.", "A")
    client.delete_rrset(ZONE, "acme.example.", "A")
    client.delete_rrset(ZONE, "acme.example.", "A")  # already gone: nothing to do
    client.delete_rrset("elsewhere.example.", "x.elsewhere.example.", "A")  # no such zone: nothing to do

    with pytest.raises(dns.resolver.NXDOMAIN):
        resolve(server, "social.acme.example.", "A")
    with pytest.raises(dns.resolver.NoAnswer):
        resolve(server, "acme.example.", "A")
    assert resolve(server, "acme.example.", "TXT") == ['"keep me"']


def test_a_deleted_zone_is_gone_and_deleting_it_again_changes_nothing(server, client):
    client.replace_rrset(ZONE, "acme.example.", "A", 300, ["192.0.2.9"])

    client.delete_zone(ZONE)
    client.delete_zone(ZONE)

    assert client.zones() == []
    with pytest.raises(DnsError) as caught:
        client.rrsets(ZONE)
    assert caught.value.status == 404 and not caught.value.transient


def test_a_wrong_api_key_is_refused_with_a_clear_error(server, client):
    with PowerDns(server.api_url, "not-the-key") as intruder, pytest.raises(DnsError) as caught:
        intruder.replace_rrset(ZONE, "acme.example.", "A", 300, ["192.0.2.66"])

    assert caught.value.status == 401 and not caught.value.transient
    assert "refused the API key" in str(caught.value)
    assert "not-the-key" not in str(caught.value) + repr(intruder)
    with pytest.raises(dns.resolver.NoAnswer):
        resolve(server, "acme.example.", "A")


@pytest.mark.parametrize(
    ("rtype", "content", "reason"),
    [("A", "not-an-address", "not-an-address"), ("MX", "mail.acme.example", "MX")],
)
def test_an_invalid_record_is_refused_with_powerdns_reason(server, client, rtype, content, reason):
    with pytest.raises(DnsError) as caught:
        client.replace_rrset(ZONE, "acme.example.", rtype, 300, [content])

    assert caught.value.status == 422 and not caught.value.transient
    assert "rejected it as invalid" in str(caught.value) and reason in str(caught.value)
    assert all(r.type != rtype for r in client.rrsets(ZONE))


def test_a_cname_beside_other_records_is_refused(server, client):
    client.replace_rrset(ZONE, "www.acme.example.", "A", 300, ["192.0.2.1"])

    with pytest.raises(DnsError) as caught:
        client.replace_rrset(ZONE, "www.acme.example.", "CNAME", 300, ["acme.example."])

    assert caught.value.status == 422 and "Conflicts" in str(caught.value)


def test_a_server_that_does_not_answer_is_a_transient_error():
    with PowerDns(f"http://127.0.0.1:{free_port()}", "key", timeout=2) as client, pytest.raises(DnsError) as caught:
        client.ensure_zone(ZONE)

    assert caught.value.status is None and caught.value.transient
    assert "unreachable" in str(caught.value)


class FailingFirst(httpx.BaseTransport):
    """In front of the real server: answers the first `failures` requests itself with `status`."""

    def __init__(self, failures: int, status: int) -> None:
        self.failures, self.status, self.requests = failures, status, 0
        self.server = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests <= self.failures:
            return httpx.Response(self.status, json={"error": "Backend temporarily unavailable"})
        return self.server.handle_request(request)

    def close(self) -> None:
        self.server.close()


def retried(call: Callable[[], object]):
    """The way the orchestrator runs a step's call: transient errors retried with backoff."""
    return asyncio.run(Backoff(base=0.01, cap=0.05, deadline=30).run(lambda: asyncio.to_thread(call)))


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_record_written_while_powerdns_answers_5xx_is_written_once_it_recovers(server, client, status):
    flaky = FailingFirst(failures=2, status=status)
    with PowerDns(server.api_url, server.api_key, transport=flaky) as through_faults:
        with pytest.raises(DnsError) as caught:
            through_faults.replace_rrset(ZONE, "social.acme.example.", "A", 300, ["192.0.2.1"])
        assert caught.value.status == status and caught.value.transient
        assert "Backend temporarily unavailable" in str(caught.value)

        retried(lambda: through_faults.replace_rrset(ZONE, "social.acme.example.", "A", 300, ["192.0.2.1"]))

    assert flaky.requests == 3
    answers(server, "social.acme.example.", "A", ["192.0.2.1"])


def test_a_refusal_is_not_retried(server, client):
    counting = FailingFirst(failures=0, status=503)
    with PowerDns(server.api_url, server.api_key, transport=counting) as through_counter, pytest.raises(DnsError) as caught:
        retried(lambda: through_counter.replace_rrset(ZONE, "acme.example.", "A", 300, ["not-an-address"]))

    assert caught.value.status == 422 and counting.requests == 1


def test_writing_the_same_record_set_again_changes_nothing(server, client):
    client.replace_rrset(ZONE, "social.acme.example.", "A", 300, ["192.0.2.2", "192.0.2.1"])
    before = client.rrsets(ZONE)

    client.replace_rrset(ZONE, "social.acme.example.", "A", 300, ["192.0.2.1", "192.0.2.2"])

    assert [r for r in client.rrsets(ZONE) if r.type != "SOA"] == [r for r in before if r.type != "SOA"]
    assert RRSet("social.acme.example.", "A", 300, ("192.0.2.1", "192.0.2.2")) in before
    answers(server, "social.acme.example.", "A", ["192.0.2.1", "192.0.2.2"])


def test_zones_and_records_survive_a_restart(server, client):
    client.replace_rrset(ZONE, "acme.example.", "A", 300, ["192.0.2.7"])

    server.stop()
    server.start()

    with PowerDns(server.api_url, server.api_key) as again:
        assert again.zones() == [ZONE]
        assert RRSet("acme.example.", "A", 300, ("192.0.2.7",)) in again.rrsets(ZONE)
    answers(server, "acme.example.", "A", ["192.0.2.7"])


def test_runs_in_the_foreground_and_stops_cleanly_on_sigterm(tmp_path, pdns_installed):
    api_port, dns_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.pdns", "--data-dir", str(tmp_path / "pdns"),
         "--api-port", str(api_port), "--dns-port", str(dns_port), "--api-key", "foreground-key"],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        def zones() -> list | None:
            try:
                with PowerDns(f"http://127.0.0.1:{api_port}", "foreground-key", timeout=1) as client:
                    client.ensure_zone(ZONE)
                    return client.zones()
            except DnsError:
                return None

        assert eventually(zones, "the foreground server answering its API") == [ZONE]

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{api_port}/api/v1/servers", timeout=1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
