"""A plan: the desired state plus the changes against what was applied. The one entry point for
a submitted configuration, an account removal, a preview and a policy's impact."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.configuration import OperatorConfiguration
from contracts.resources import Change, Problem, Resource

from .diff import Intent, diff
from .limits import domain_problems, quota_problems
from .naming import OPERATOR_WIDE, resource_id
from .planning import InvalidConfiguration, plan_resources, validate
from .policy import Policy


@dataclass(frozen=True)
class Plan:
    resources: tuple[Resource, ...]
    changes: tuple[Change, ...]
    configuration: OperatorConfiguration | None = None

    @property
    def effective(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.action != "unchanged")


def plan_configuration(
    operator: str, document: dict, policy: Policy, applied: Sequence[Resource] = (), leftovers: Sequence[Resource] = ()
) -> Plan:
    """Raises InvalidConfiguration with every problem: the form's, the domain's, the quota's."""
    config = validate(document)
    resources = plan_resources(operator, config, policy)
    problems = domain_problems(config, policy) + quota_problems(resources, policy.quota_for(operator))
    if problems:
        raise InvalidConfiguration(problems)
    return Plan(tuple(resources), tuple(diff(applied, resources, Intent.of(config), leftovers)), config)


DIRECTORY = "directory"
"""The kind of one of the removal's last steps: what identity keeps for the operator as a whole (its
subtree with synced people and groups, the link to their own directory, its secrets)."""
STORAGE = "storage"
"""The kind of another: whatever storage still holds for the operator after the planned buckets
went (a bucket or key an interrupted deployment left, a kept bucket whose desired state is gone)."""
MACHINES = "machines"
"""The kind of the last: every VM on Proxmox still carrying the operator's tag after the planned VMs
went (one kept when its service was switched off, one a replacement took the place of, one an
interrupted deployment left), destroyed by the orchestrator with its disks."""
SWEEPS = {
    DIRECTORY: "the operator's account is removed: its directory, synced people and groups, and their secrets go",
    STORAGE: "the operator's account is removed: every bucket and key storage still holds for it goes, emptied; "
    "buckets the provider assigned go back to the provider",
    MACHINES: "the operator's account is removed: every machine still tagged as its own goes with its disks, "
    "kept and replaced ones included",
}


def plan_removal(operator: str, applied: Sequence[Resource], leftovers: Sequence[Resource] = ()) -> Plan:
    """Everything the operator has goes, data included (US 6.3); after its accounts its directory at
    identity, after its buckets the rest of what storage holds for it, and after its VMs every other
    machine of it on Proxmox, which all exist whether or not a plan knows them."""
    sweeps = tuple(
        Change(resource_id=resource_id(operator, OPERATOR_WIDE, kind), action="delete", kind=kind, service=OPERATOR_WIDE, reason=reason)
        for kind, reason in SWEEPS.items()
    )
    return Plan((), tuple(sorted((*diff(applied, (), Intent.removal(), leftovers), *sweeps), key=lambda c: c.resource_id)))


def removed_items(plan: Plan) -> list[dict]:
    """What a removal record keeps: each resource removed, without secrets (specs hold none)."""
    return [
        {"resource_id": c.resource_id, "kind": c.kind, "service": c.service, "data": c.data,
         "name": (c.spec or {}).get("name") or (c.spec or {}).get("username")}
        for c in plan.changes
    ]


def retained_until(moment: datetime, policy: Policy) -> datetime:
    return moment + timedelta(days=policy.removal.retention_days)


@dataclass(frozen=True)
class OperatorImpact:
    operator: str
    changes: tuple[Change, ...] = ()
    problems: tuple[Problem, ...] = ()


def policy_impact(policy: Policy, operators: Iterable[tuple[str, dict, Sequence[Resource]]]) -> list[OperatorImpact]:
    """For every (operator, its configuration, what is applied for it): the changes the policy
    implies, or why its configuration no longer fits. The input of fleet-wide updates."""
    impacts = []
    for operator, document, applied in sorted(operators, key=lambda item: item[0]):
        try:
            plan = plan_configuration(operator, document, policy, applied)
        except InvalidConfiguration as exc:
            impacts.append(OperatorImpact(operator, problems=exc.problems))
            continue
        impacts.append(OperatorImpact(operator, changes=plan.effective))
    return impacts
