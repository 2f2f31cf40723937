"""The provider's pages show what each operator's last succeeded deployment holds of the provider's
resources (virtual machines with their cores, memory and disk, buckets, DNS records), beside the
storage they use, counted from the plans the panel hears of."""

import re

from contracts.events import DeploymentFailed, DeploymentSucceeded, PlanCreated
from contracts.resources import AccountResource, AccountSpec, BucketResource, BucketSpec, DnsRecordSpec, DnsResource, VmResource, VmSpec
from services.panel.domain.resource_use import holdings_words
from tests.unit.test_panel_harness import configuration_form, panel, words  # noqa: F401



def vm(service: str, cores: int, memory_mib: int, disk_gib: int) -> VmResource:
    return VmResource(id=f"acme/{service}/vm", service=service,
                      spec=VmSpec(name=f"acme-{service}", cores=cores, memory_mib=memory_mib, disk_gib=disk_gib, tags=()))


def bucket(service: str) -> BucketResource:
    return BucketResource(id=f"acme/{service}/bucket", service=service, spec=BucketSpec(name=f"fedi-acme-{service}"))


def record(service: str) -> DnsResource:
    return DnsResource(id=f"acme/{service}/dns", service=service,
                       spec=DnsRecordSpec(zone="acme.example.", name=f"{service}.acme.example.", type="A"))


MASTODON_AND_PIXELFED = (
    vm("mastodon", 2, 4096, 40), bucket("mastodon"), record("mastodon"),
    AccountResource(id="acme/mastodon/account", service="mastodon", spec=AccountSpec(username="alice", email="a@acme.example", display_name="A")),
    vm("pixelfed", 4, 8192, 100), bucket("pixelfed"), record("pixelfed"),
    DnsResource(id="acme/_/dns/mx", service="_", spec=DnsRecordSpec(zone="acme.example.", name="acme.example.", type="MX")),
)
HELD = "2 VMs (6 cores, 12.0 GiB memory, 140 GiB disk) · 2 buckets · 3 DNS records"


async def deploy(panel, browser, resources, outcome: str = "succeeded", succeeded_first: bool = False) -> str:
    await browser.configure(configuration_form(**{"pixelfed.enable": "on"}))
    deployment_id = (await browser.deploy_reviewed()).headers["location"].rsplit("/", 1)[1]
    submitted = (await panel.outbox())[-1]
    plan = submitted.caused(PlanCreated, "configurator", deployment_id=deployment_id, revision=submitted.revision, domain="acme.example",
                            resources=resources, changes=())
    if outcome == "succeeded":
        done = plan.caused(DeploymentSucceeded, "orchestrator", deployment_id=deployment_id, revision=submitted.revision, duration_seconds=1, urls={})
    else:
        done = plan.caused(DeploymentFailed, "orchestrator", deployment_id=deployment_id, revision=submitted.revision, failed_step=None, reason="x")
    await panel.apply(*((done, plan) if succeeded_first else (plan, done)))
    return deployment_id


async def test_the_operator_list_and_page_show_what_the_last_succeeded_deployment_holds_next_to_storage_use(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    await deploy(panel, ann, MASTODON_AND_PIXELFED)
    admin = await panel.logged_in("staff@provider.example", "", role="provider-admin")

    listing = words((await admin.get("/admin/operators")).text)
    one = words((await admin.get("/admin/operators/acme")).text)

    assert "Resources held Storage used" in listing
    assert f"acme ann@acme.example succeeded revision 1, 100 % 1 {HELD} 0 bytes" in listing
    assert f"Resources held {HELD} What the last deployment that succeeded holds" in one
    assert one.index("Resources held") < one.index("Storage"), "next to the storage use"


async def test_a_later_failed_deployment_does_not_change_what_is_held_and_a_later_success_does(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    await deploy(panel, ann, MASTODON_AND_PIXELFED)
    await deploy(panel, ann, (*MASTODON_AND_PIXELFED, vm("peertube", 8, 16384, 500)), outcome="failed")
    admin = await panel.logged_in("staff@provider.example", "", role="provider-admin")
    assert HELD in words((await admin.get("/admin/operators")).text)

    await deploy(panel, ann, MASTODON_AND_PIXELFED[:4], succeeded_first=True)

    assert "1 VM (2 cores, 4.0 GiB memory, 40 GiB disk) · 1 bucket · 1 DNS record" in words((await admin.get("/admin/operators/acme")).text)


async def test_the_admin_api_gives_the_same_counts(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    await deploy(panel, ann, MASTODON_AND_PIXELFED)
    admin = await panel.logged_in("staff@provider.example", "", role="provider-admin")
    token = re.search(r'id="token" class="secret">([^<]+)<', (await admin.submit("/account/token", "/account/token", {})).text).group(1)
    api = await panel.api(token)

    expected = {"vms": 2, "cores": 6, "memory_mib": 12288, "disk_gib": 140, "buckets": 2, "dns_records": 3}
    assert [row["holds"] for row in (await api.get("/api/v1/admin/operators")).json()] == [expected]
    assert (await api.get("/api/v1/admin/operators/acme")).json()["holds"] == expected


def test_an_operator_with_nothing_deployed_holds_nothing_in_words():
    assert holdings_words(None) == "nothing deployed yet"
    assert holdings_words({}) == "not counted (deployed before the panel counted resources)"
    assert holdings_words({"vms": 0, "buckets": 1, "dns_records": 0}) == "0 VMs · 1 bucket · 0 DNS records"
