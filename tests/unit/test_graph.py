"""The orchestrator's view of a plan as a graph: what can start now, and how long the rest takes."""

import pytest

from services.orchestrator.domain.graph import StepView, remaining_seconds, runnable

TYPICAL = {"vm": 60.0, "account": 5.0, "bucket": 2.0, "nixos": 120.0}


def steps(vm="pending", account="pending", bucket="pending", nixos="pending", vm_elapsed=0.0, nixos_elapsed=0.0):
    return [
        StepView("acme/mastodon/vm", "vm", vm, (), elapsed=vm_elapsed),
        StepView("acme/mastodon/account", "account", account, ()),
        StepView("acme/mastodon/bucket", "bucket", bucket, ()),
        StepView(
            "acme/mastodon/nixos",
            "nixos",
            nixos,
            ("acme/mastodon/vm", "acme/mastodon/account", "acme/mastodon/bucket"),
            elapsed=nixos_elapsed,
        ),
    ]


def ids(views) -> list[str]:
    return [view.id for view in views]


# -- runnable --------------------------------------------------------------------------------------


def test_steps_without_dependencies_can_all_start_at_once_in_plan_order():
    assert ids(runnable(steps())) == ["acme/mastodon/vm", "acme/mastodon/account", "acme/mastodon/bucket"]


def test_a_step_waits_until_every_dependency_is_done():
    assert ids(runnable(steps(vm="done", account="done", bucket="running"))) == []
    assert ids(runnable(steps(vm="done", account="done", bucket="failed"))) == []
    assert ids(runnable(steps(vm="done", account="done", bucket="done"))) == ["acme/mastodon/nixos"]


def test_steps_already_running_or_done_are_not_started_again():
    assert ids(runnable(steps(vm="running", account="done"))) == ["acme/mastodon/bucket"]


def test_nothing_is_runnable_once_everything_is_done():
    assert runnable(steps("done", "done", "done", "done")) == []


# -- remaining time --------------------------------------------------------------------------------


def test_the_estimate_is_the_longest_chain_of_typical_durations():
    # vm (60) is the slowest prerequisite of nixos (120); account and bucket run alongside the vm.
    assert remaining_seconds(steps(), TYPICAL) == pytest.approx(180.0)


def test_a_running_step_counts_only_the_time_it_still_needs():
    assert remaining_seconds(steps(vm="running", vm_elapsed=45.0), TYPICAL) == pytest.approx(135.0)


def test_a_step_waiting_on_an_external_service_also_counts_its_elapsed_time():
    assert remaining_seconds(steps("done", "done", "done", nixos="waiting", nixos_elapsed=100.0), TYPICAL) == pytest.approx(20.0)


def test_a_step_running_longer_than_usual_adds_nothing_rather_than_going_negative():
    assert remaining_seconds(steps(vm="running", account="done", bucket="done", vm_elapsed=500.0), TYPICAL) == pytest.approx(120.0)


def test_done_steps_take_no_more_time():
    assert remaining_seconds(steps(vm="done", account="done", bucket="done"), TYPICAL) == pytest.approx(120.0)
    assert remaining_seconds(steps("done", "done", "done", "done"), TYPICAL) == 0.0


def test_the_estimate_is_unknown_when_a_remaining_step_is_of_a_kind_never_measured():
    assert remaining_seconds(steps(), {"vm": 60.0, "account": 5.0, "bucket": 2.0}) is None


def test_an_unmeasured_kind_does_not_matter_once_its_steps_are_done():
    assert remaining_seconds(steps(vm="done", account="done", bucket="done"), {"nixos": 120.0}) == pytest.approx(120.0)


def test_an_empty_plan_takes_no_time():
    assert remaining_seconds([], TYPICAL) == 0.0
    assert runnable([]) == []
