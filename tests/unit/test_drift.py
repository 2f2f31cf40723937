"""Drift detection: the recorded state against snapshots of what the backends hold (no I/O)."""

from dataclasses import replace

import pytest

from fedi.drift import DriftReport, render
from services.orchestrator.domain.drift import (
    Held,
    HeldBucket,
    HeldKey,
    HeldVm,
    Recorded,
    find_drift,
    zone_of,
)
from services.orchestrator.domain.records import RRSet, quote_txt, record_content

ZONE = "acme.example."


def tags_of(operator: str) -> tuple[str, ...]:
    return ("fedi", f"fedi-op-{operator}", "fedi-svc-mastodon")


TAGS = tags_of("acme")


def vm_record(vmid=101, name="acme-mastodon", operator="acme", cores=2, memory=2048) -> Recorded:
    return Recorded(
        f"{operator}/mastodon/vm", operator, "vm",
        outputs={"node": "pve1", "vmid": vmid, "address": "10.0.0.5", "name": name},
        spec={"name": name, "cores": cores, "memory_mib": memory, "disk_gib": 20, "tags": tags_of(operator)},
    )


def held_vm(vmid=101, name="acme-mastodon", cores=2, memory=2048, status="running", tags=TAGS) -> HeldVm:
    return HeldVm(vmid, "pve1", name, status, frozenset(tags), cores, memory)


def bucket_record(operator="acme", key="GKacme") -> Recorded:
    return Recorded(
        f"{operator}/mastodon/bucket", operator, "bucket",
        outputs={"bucket": f"fedi-{operator}-mastodon", "endpoint": "http://s3", "region": "garage",
                 "access_key_id": key, "secret_ref": "secret://storage/x"},
        spec={"name": f"fedi-{operator}-mastodon", "quota_bytes": 1024, "quota_objects": None},
    )


def held_bucket(alias="fedi-acme-mastodon", key="GKacme", access=(True, True), quota=1024) -> HeldBucket:
    return HeldBucket("b1", alias, quota, None, {key: access})


def dns_record(name="mastodon.acme.example.", rtype="A", content=("192.0.2.5",), ttl=300, zone=ZONE) -> Recorded:
    outputs = {"name": name, "type": rtype, "content": list(content), "ttl": ttl} | ({"zone": zone} if zone else {})
    return Recorded(f"acme/mastodon/dns-{rtype.lower()}", "acme", "dns", outputs=outputs)


SOA = RRSet(ZONE, "SOA", 3600, ("ns1.acme.example. hostmaster.acme.example. 1 10800 3600 604800 3600",))


def held(vms=(held_vm(),), buckets=(held_bucket(),), keys=(HeldKey("GKacme", "fedi-acme-mastodon"),),
         rrsets=(RRSet("mastodon.acme.example.", "A", 300, ("192.0.2.5",)), SOA), unreadable=None) -> Held:
    return Held(tuple(vms), tuple(buckets), tuple(keys), {ZONE: tuple(rrsets)}, unreadable or {})


RECORDED = [vm_record(), bucket_record(), dns_record()]


def messages(differences) -> list[str]:
    return [f"{d.kind}: {d.message}" for d in differences]


def test_nothing_differs_when_the_backends_hold_what_was_recorded():
    assert find_drift(RECORDED, held()) == []


def test_a_vm_deleted_by_hand_is_reported_missing():
    (difference,) = find_drift(RECORDED, held(vms=()))

    assert (difference.backend, difference.kind, difference.subject) == ("proxmox", "missing", "acme/mastodon/vm")
    assert difference.message == "VM 101 (acme-mastodon) no longer exists on Proxmox (deleted by hand?)"
    assert difference.operator_id == "acme"


def test_cores_and_memory_changed_by_hand_are_reported_with_both_values():
    assert messages(find_drift(RECORDED, held(vms=[held_vm(cores=4, memory=4096)]))) == [
        "changed: VM 101 (acme-mastodon) has 4 cores; recorded 2",
        "changed: VM 101 (acme-mastodon) has 4096 MiB of memory; recorded 2048 MiB",
    ]


def test_sizes_recorded_in_the_outputs_win_over_the_spec():
    record = replace(vm_record(), outputs={**vm_record().outputs, "cores": 4})

    assert messages(find_drift([record], held(vms=[held_vm(cores=4)], buckets=(), keys=()))) == []


def test_a_stopped_vm_and_lost_tags_are_reported():
    assert messages(find_drift(RECORDED, held(vms=[held_vm(status="stopped", tags=("fedi", "fedi-op-acme"))]))) == [
        "changed: VM 101 (acme-mastodon) is stopped; it should be running",
        "changed: VM 101 (acme-mastodon) lost its tags fedi-svc-mastodon",
    ]


def test_a_vm_found_under_another_id_is_reported_as_moved_not_as_an_orphan():
    assert messages(find_drift(RECORDED, held(vms=[held_vm(vmid=107)]))) == [
        "changed: VM acme-mastodon is now VM 107 on pve1; recorded VM 101",
    ]


def test_an_id_reused_by_another_vm_does_not_hide_that_ours_is_gone():
    differences = find_drift(RECORDED, held(vms=[held_vm(name="someone-else", tags=())]))

    assert messages(differences) == ["missing: VM 101 (acme-mastodon) no longer exists on Proxmox (deleted by hand?)"]


def test_a_vm_with_our_tags_that_nothing_recorded_is_an_orphan_of_its_operator():
    stray = held_vm(vmid=120, name="acme-peertube", tags=("fedi", "fedi-op-acme", "fedi-svc-peertube"))
    foreign = held_vm(vmid=130, name="ci-runner", tags=("ci",))

    (difference,) = find_drift(RECORDED, held(vms=[held_vm(), stray, foreign]))

    assert (difference.kind, difference.subject, difference.operator_id) == ("orphan", "VM 120", "acme")
    assert difference.message == "VM 120 (acme-peertube) on pve1 carries our tags but nothing recorded it"


def test_a_replaced_vm_kept_with_its_disk_is_reported_as_its_operators_kept_data_not_as_an_orphan():
    replaced = held_vm(vmid=120, name="acme-mastodon-replaced", status="stopped", tags=("fedi", "fedi-kept", "fedi-op-acme", "fedi-replaced"))
    unknown = held_vm(vmid=121, name="initech-mastodon-replaced", status="stopped", tags=("fedi", "fedi-kept", "fedi-op-initech", "fedi-replaced"))

    differences = find_drift(RECORDED, held(vms=[held_vm(), replaced, unknown]))

    assert [(d.kind, d.subject, d.operator_id) for d in differences] == [("kept", "VM 120", "acme"), ("orphan", "VM 121", "initech")]
    assert differences[0].message == ("VM 120 (acme-mastodon-replaced) on pve1 was replaced; its disk holds the service's earlier "
                                      "database: kept shut down until the operator's account is removed")
    assert report(differences[:1]).exit_code == 0, "data kept on purpose is no drift"
    assert report(differences).exit_code == 3


def test_a_missing_bucket_and_a_missing_key_are_reported():
    assert messages(find_drift(RECORDED, held(buckets=(), keys=()))) == [
        "missing: access key GKacme of bucket fedi-acme-mastodon is missing from storage",
        "missing: bucket fedi-acme-mastodon is missing from storage",
    ]


def test_a_key_that_lost_its_rights_and_a_changed_quota_are_reported():
    assert messages(find_drift(RECORDED, held(buckets=[held_bucket(access=(True, False), quota=None)]))) == [
        "changed: access key GKacme may no longer read and write bucket fedi-acme-mastodon",
        "changed: bucket fedi-acme-mastodon has a size quota of none; recorded 1024",
    ]


def test_buckets_and_keys_named_like_ours_that_nothing_recorded_are_orphans():
    keys = (HeldKey("GKacme", "fedi-acme-mastodon"), HeldKey("GKold", "fedi-acme-pixelfed"), HeldKey("GKx", "backup"))
    buckets = (held_bucket(), held_bucket(alias="fedi-acme-pixelfed", key="GKold"), held_bucket(alias="logs", key="GKx"))

    differences = find_drift(RECORDED, held(buckets=buckets, keys=keys))

    assert [(d.kind, d.subject, d.operator_id) for d in differences] == [
        ("orphan", "bucket fedi-acme-pixelfed", "acme"),
        ("orphan", "key fedi-acme-pixelfed", "acme"),
    ]


def test_a_changed_record_is_reported_with_what_it_holds_and_what_was_recorded():
    changed = RRSet("mastodon.acme.example.", "A", 60, ("203.0.113.9",))

    assert messages(find_drift(RECORDED, held(rrsets=[changed, SOA]))) == [
        "changed: A mastodon.acme.example. has TTL 60; recorded 300",
        "changed: A mastodon.acme.example. holds 203.0.113.9; recorded 192.0.2.5",
    ]


def test_a_missing_record_and_a_missing_zone_are_reported():
    assert messages(find_drift(RECORDED, held(rrsets=[SOA]))) == [
        "missing: A mastodon.acme.example. is missing from zone acme.example.",
    ]
    assert messages(find_drift(RECORDED, replace(held(), zones={}))) == [
        "missing: A mastodon.acme.example. is missing: its zone acme.example. is not on PowerDNS",
    ]


def test_records_compare_in_the_form_powerdns_prints_them():
    recorded = [
        dns_record("acme.example.", "TXT", ['v=spf1 -all', 'say "hé"']),
        dns_record("acme.example.", "MX", ["10 mail.acme.example"]),
        dns_record("acme.example.", "AAAA", ["2001:DB8:0::1"]),
        dns_record("www.acme.example", "CNAME", ["Acme.Example"], zone=None),
    ]
    rrsets = [
        SOA,
        RRSet(ZONE, "TXT", 300, ('"say \\"h\\195\\169\\""', '"v=spf1 -all"')),
        RRSet(ZONE, "MX", 300, ("10 mail.acme.example.",)),
        RRSet(ZONE, "AAAA", 300, ("2001:db8::1",)),
        RRSet("www.acme.example.", "CNAME", 300, ("acme.example.",)),
    ]

    assert find_drift(recorded, held(vms=(), buckets=(), keys=(), rrsets=rrsets)) == []


def test_records_in_our_zones_that_nothing_recorded_are_orphans_but_the_zone_apex_is_not():
    rrsets = [SOA, RRSet(ZONE, "NS", 3600, ("ns1.acme.example.",)), RRSet("mastodon.acme.example.", "A", 300, ("192.0.2.5",)),
              RRSet("old.acme.example.", "TXT", 300, ('"left over"',))]

    (difference,) = find_drift(RECORDED, held(rrsets=rrsets))

    assert (difference.kind, difference.subject, difference.operator_id) == ("orphan", "TXT old.acme.example.", "acme")
    assert difference.message == 'TXT old.acme.example. ("left over") is in zone acme.example. but nothing recorded it'


def test_one_operator_sees_only_its_own_drift_and_another_operators_resources_are_no_orphans():
    globex = [vm_record(vmid=102, name="globex-mastodon", operator="globex"), bucket_record("globex", "GKglobex")]
    vms = [held_vm(), held_vm(vmid=102, name="globex-mastodon", cores=8, tags=tags_of("globex"))]
    buckets = [held_bucket(), held_bucket(alias="fedi-globex-mastodon", key="GKglobex")]
    keys = [HeldKey("GKacme", "fedi-acme-mastodon"), HeldKey("GKglobex", "fedi-globex-mastodon")]

    assert find_drift(RECORDED + globex, held(vms=vms, buckets=buckets, keys=keys), operator="acme") == []
    (difference,) = find_drift(RECORDED + globex, held(vms=vms, buckets=buckets, keys=keys), operator="globex")
    assert difference.message == "VM 102 (globex-mastodon) has 8 cores; recorded 2"


def test_a_backend_that_could_not_be_read_reports_nothing_about_its_resources():
    snapshot = held(vms=(), buckets=(), keys=(), unreadable={"proxmox": "unreachable", "storage": "403"})

    assert find_drift(RECORDED, snapshot) == []


def test_a_resource_still_being_made_is_not_compared_and_is_no_orphan():
    in_flight = replace(vm_record(vmid=120, name="acme-peertube"), resource_id="acme/peertube/vm", state="partial")
    stray = held_vm(vmid=120, name="acme-peertube", cores=1, status="stopped")

    assert find_drift([*RECORDED, in_flight], held(vms=[held_vm(), stray])) == []


def test_kinds_no_backend_here_holds_are_not_compared():
    account = Recorded("acme/mastodon/account", "acme", "account", {"username": "alice", "secret_ref": "secret://x"})

    assert find_drift([*RECORDED, account], held()) == []


@pytest.mark.parametrize(
    ("name", "zone"),
    [("mastodon.acme.example.", "acme.example."), ("acme.example", "acme.example."),
     ("x.eu.acme.example.", "eu.acme.example."), ("notacme.example.", None)],
)
def test_a_name_belongs_to_the_longest_zone_it_lies_in(name, zone):
    assert zone_of(name, ["acme.example.", "eu.acme.example."]) == zone


@pytest.mark.parametrize(
    ("rtype", "content", "written"),
    [
        ("A", " 192.0.2.1 ", "192.0.2.1"),
        ("AAAA", "2001:DB8:0:0::1", "2001:db8::1"),
        ("A", "not-an-address", "not-an-address"),
        ("CNAME", "Target.Example.org", "target.example.org."),
        ("MX", "10 mail.example.org", "10 mail.example.org."),
        ("MX", "mail.example.org", "mail.example.org"),
        ("TXT", "v=spf1 -all", '"v=spf1 -all"'),
        ("TXT", '"already quoted"', '"already quoted"'),
        ("TXT", 'a "b" \\ é', '"a \\"b\\" \\\\ \\195\\169"'),
    ],
)
def test_record_contents_are_written_the_way_powerdns_wants_them(rtype, content, written):
    assert record_content(rtype, content) == written


def test_long_txt_is_split_into_strings_of_at_most_255_bytes():
    assert quote_txt("x" * 600) == " ".join(['"' + "x" * 255 + '"', '"' + "x" * 255 + '"', '"' + "x" * 90 + '"'])
    assert quote_txt("") == '""'


# ---- the report `fedi drift` prints ------------------------------------------------------------


def report(differences=(), unchecked=None, not_compared=None, operator=None) -> DriftReport:
    return DriftReport(operator, 3, list(differences), unchecked or {}, not_compared or {})


def test_the_exit_code_is_3_on_drift_1_when_a_backend_could_not_be_read_and_0_otherwise():
    gone = find_drift(RECORDED, held(vms=()))

    assert report(gone).exit_code == 3
    assert report(gone, unchecked={"storage": "storage could not be read: 403"}).exit_code == 3
    assert report(unchecked={"storage": "storage could not be read: 403"}).exit_code == 1
    assert report(not_compared={"dns": "DNS records: no PowerDNS is configured"}).exit_code == 0
    assert report().exit_code == 0


def test_the_report_lists_each_operators_differences_under_its_name_and_counts_them():
    globex = vm_record(vmid=102, name="globex-mastodon", operator="globex")
    differences = find_drift([*RECORDED, globex], held(vms=(), buckets=(), keys=()))

    assert render(report(differences)) == [
        "acme:",
        "  missing  acme/mastodon/bucket  access key GKacme of bucket fedi-acme-mastodon is missing from storage",
        "  missing  acme/mastodon/bucket  bucket fedi-acme-mastodon is missing from storage",
        "  missing  acme/mastodon/vm      VM 101 (acme-mastodon) no longer exists on Proxmox (deleted by hand?)",
        "globex:",
        "  missing  globex/mastodon/vm    VM 102 (globex-mastodon) no longer exists on Proxmox (deleted by hand?)",
        "4 differences (3 recorded resources compared)",
    ]


def test_the_report_says_what_was_left_out_and_does_not_claim_it_matches():
    assert render(report()) == ["no drift: the 3 recorded resources match what the backends hold"]
    assert render(report(not_compared={"dns": "DNS records: no PowerDNS is configured"}, operator="acme")) == [
        "not compared: DNS records: no PowerDNS is configured",
        "no drift found in what was compared (3 recorded resources of acme)",
    ]
