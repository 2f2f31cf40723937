"""The panel's read model of deployments: events arrive on separate consumers, in any order, and
the operator must still see the truth. Runs on a real SQLite file migrated like the panel's."""

from pathlib import Path

import pytest

import services.panel
from contracts.events import (
    ConfigRejected,
    ConfigSubmitted,
    DeploymentFailed,
    DeploymentProgress,
    DeploymentStarted,
    DeploymentSucceeded,
    PlanCreated,
)
from contracts.resources import AccountResource, AccountSpec, Change, Problem, VmResource, VmSpec
from runtime.db import Database
from runtime.uow import UnitsOfWork
from services.panel import projections
from services.panel.adapters.store import Base, DeploymentView

MIGRATIONS = Path(services.panel.__file__).parent / "migrations"
VM, ACCOUNT = "acme/mastodon/vm", "acme/mastodon/account"

SUBMITTED = ConfigSubmitted(
    correlation_id="dep-1", operator_id="acme", producer="panel", revision=1, configuration={"domain": "example.org"}
)


@pytest.fixture
async def panel(sqlite_url):
    database = Database(sqlite_url)
    await database.migrate(MIGRATIONS)
    yield UnitsOfWork(database, Base.metadata)
    await database.close()


async def apply(units: UnitsOfWork, *events) -> None:
    """Each event in its own transaction, as the panel's consumers handle them."""
    for event in events:
        async with units() as uow:
            await projections.HANDLERS[type(event)](event, uow)
            await uow.commit()


async def shown(units: UnitsOfWork, deployment_id: str = "dep-1") -> dict:
    async with units.database.session() as session:
        view = await session.get(DeploymentView, deployment_id)
        assert view is not None, f"no deployment {deployment_id} in the panel"
        return view.as_dict()


def progress(step: str, state: str, done: int, detail: str = "", eta: float | None = None) -> DeploymentProgress:
    kind = step.rsplit("/", 1)[-1]
    return SUBMITTED.caused(
        DeploymentProgress, "orchestrator", deployment_id="dep-1", step=step, step_kind=kind, state=state, done=done,
        total=2, detail=detail, eta_seconds=eta,
    )  # fmt: skip


def started(total: int = 2) -> DeploymentStarted:
    return SUBMITTED.caused(DeploymentStarted, "orchestrator", deployment_id="dep-1", revision=1, total_steps=total)


def succeeded() -> DeploymentSucceeded:
    return SUBMITTED.caused(
        DeploymentSucceeded, "orchestrator", deployment_id="dep-1", revision=1, duration_seconds=9.0,
        urls={"mastodon": "https://mastodon.example.org"},
    )  # fmt: skip


def failed() -> DeploymentFailed:
    return SUBMITTED.caused(DeploymentFailed, "orchestrator", deployment_id="dep-1", revision=1, failed_step=VM, reason="no capacity")


def planned() -> PlanCreated:
    resources = (
        VmResource(id=VM, service="mastodon", spec=VmSpec(name="acme-mastodon", cores=2, memory_mib=4096, disk_gib=40, tags=())),
        AccountResource(id=ACCOUNT, service="mastodon", spec=AccountSpec(username="alice", email="a@example.org", display_name="A")),
    )
    return SUBMITTED.caused(
        PlanCreated, "configurator", deployment_id="dep-1", revision=1, domain="example.org", resources=resources,
        changes=tuple(Change(resource_id=r.id, action="create", reason="new") for r in resources),
    )  # fmt: skip


async def test_a_deployment_in_order_ends_succeeded_with_all_steps_done_and_its_urls(panel):
    await apply(
        panel, planned(), started(), progress(VM, "running", 0), progress(VM, "done", 1),
        progress(ACCOUNT, "running", 1), progress(ACCOUNT, "done", 2), succeeded(),
    )  # fmt: skip

    view = await shown(panel)
    assert view["state"] == "succeeded"
    assert {step: info["state"] for step, info in view["steps"].items()} == {VM: "done", ACCOUNT: "done"}
    assert (view["done"], view["total"], view["percent"]) == (2, 2, 100)
    assert view["urls"] == {"mastodon": "https://mastodon.example.org"}
    assert [change["action"] for change in view["changes"]] == ["create", "create"]


async def test_a_step_reported_done_before_running_stays_done(panel):
    await apply(panel, progress(VM, "done", 1, detail="VM is up"), progress(VM, "running", 0, detail="cloning the template"))

    step = (await shown(panel))["steps"][VM]
    assert step["state"] == "done"
    assert step["detail"] == "VM is up"


async def test_a_failed_step_is_not_reported_as_running_again_by_a_late_event(panel):
    await apply(panel, progress(VM, "failed", 0, detail="no capacity"), progress(VM, "running", 0))

    assert (await shown(panel))["steps"][VM]["state"] == "failed"


async def test_a_deployment_that_succeeded_before_it_was_seen_starting_stays_succeeded(panel):
    await apply(panel, succeeded(), started(), progress(VM, "running", 0))

    assert (await shown(panel))["state"] == "succeeded"


async def test_a_deployment_that_succeeded_shows_complete_even_when_earlier_events_arrive_late(panel):
    await apply(panel, succeeded(), planned(), started(), progress(VM, "done", 1, eta=30.0))

    view = await shown(panel)
    assert view["state"] == "succeeded"
    assert view["percent"] == 100
    assert view["eta_seconds"] == 0.0


async def test_a_failed_deployment_stays_failed_with_its_reason_when_progress_arrives_late(panel):
    await apply(panel, failed(), started(), progress(VM, "running", 0))

    view = await shown(panel)
    assert view["state"] == "failed"
    assert view["reason"] == "no capacity"


async def test_a_plan_arriving_after_progress_keeps_the_progress_and_adds_the_step_details(panel):
    await apply(panel, progress(VM, "done", 1), planned())

    view = await shown(panel)
    assert view["state"] == "running"
    assert view["steps"][VM] | {"detail": ""} == {"state": "done", "kind": "vm", "service": "mastodon", "detail": ""}
    assert view["steps"][ACCOUNT]["state"] == "pending"


async def test_progress_counters_only_move_forward(panel):
    await apply(panel, progress(ACCOUNT, "done", 2, eta=0.0), progress(VM, "done", 1, eta=60.0))

    view = await shown(panel)
    assert (view["done"], view["eta_seconds"]) == (2, 0.0)


async def test_a_rejected_configuration_shows_the_problems_by_field(panel):
    rejected = SUBMITTED.caused(
        ConfigRejected, "configurator", revision=1, problems=(Problem(field="initialUser.email", message="not an e-mail"),)
    )
    await apply(panel, rejected)

    view = await shown(panel)
    assert view["state"] == "rejected"
    assert view["problems"] == [{"field": "initialUser.email", "message": "not an e-mail"}]


async def test_every_step_of_a_removal_is_shown_from_its_plan_and_done_once_it_succeeded_before_its_own_progress(panel):
    sweep = "acme/_/storage"
    removal = SUBMITTED.caused(
        PlanCreated, "configurator", deployment_id="dep-1", revision=1, domain="example.org", resources=(), origin="removal",
        changes=(Change(resource_id=VM, action="delete", kind="vm", service="mastodon", reason="removed"),
                 Change(resource_id=sweep, action="delete", kind="storage", service="_", reason="removed")),
    )  # fmt: skip
    await apply(panel, removal)

    steps = (await shown(panel))["steps"]
    assert {step: (info["state"], info["kind"]) for step, info in steps.items()} == {VM: ("pending", "vm"), sweep: ("pending", "storage")}

    await apply(panel, started(), succeeded())
    assert {step: info["state"] for step, info in (await shown(panel))["steps"].items()} == {VM: "done", sweep: "done"}
