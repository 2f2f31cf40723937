"""High-level configuration -> granular resources, and the changes against what came before.

Pure functions: no I/O. Same input, same plan.
"""

from collections.abc import Sequence

from pydantic import ValidationError

from contracts.configuration import OperatorConfiguration, problems_of
from contracts.resources import (
    AccountResource,
    AccountSpec,
    BucketResource,
    BucketSpec,
    Change,
    NixosResource,
    NixosSpec,
    Problem,
    Resource,
    VmResource,
    VmSpec,
)

from .policy import Policy

GIB = 1024**3


class InvalidConfiguration(ValueError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = tuple(problems)


def validate(document: dict) -> OperatorConfiguration:
    try:
        return OperatorConfiguration.model_validate(document)
    except ValidationError as exc:
        raise InvalidConfiguration([Problem(**problem) for problem in problems_of(exc)]) from None




def resource_id(operator: str, service: str, kind: str) -> str:
    return f"{operator}/{service}/{kind}"


def plan_resources(operator: str, config: OperatorConfiguration, policy: Policy) -> list[Resource]:
    resources: list[Resource] = []
    for service in config.enabled_services():
        resources.extend(_service_resources(operator, service, config, policy))
    return resources


def _service_resources(operator: str, service: str, config: OperatorConfiguration, policy: Policy) -> list[Resource]:
    rid = lambda kind: resource_id(operator, service, kind)  # noqa: E731
    size = policy.sizes[service]
    vm_name = f"{operator}-{service}"
    user = config.initial_user
    vm = VmResource(
        id=rid("vm"),
        service=service,
        spec=VmSpec(
            name=vm_name,
            cores=size.cores,
            memory_mib=size.memory_mib,
            disk_gib=size.disk_gib,
            tags=("fedi", f"fedi-op-{operator}", f"fedi-svc-{service}"),
        ),
    )
    account = AccountResource(
        id=rid("account"),
        service=service,
        spec=AccountSpec(username=user.username, email=str(user.email), display_name=user.display_name),
    )
    resources: list[Resource] = [vm, account]
    quota = policy.bucket_quota_gib.get(service)
    if quota is not None:
        resources.append(
            BucketResource(id=rid("bucket"), service=service, spec=BucketSpec(name=f"fedi-{operator}-{service}", quota_bytes=quota * GIB))
        )
    nixos_config = {
        "fediversity": {
            "operator": operator,
            "domain": config.domain,
            "vm": {"name": vm_name, "cores": size.cores, "memoryMiB": size.memory_mib, "diskGiB": size.disk_gib},
            "initialUser": config.initial_user.model_dump(mode="json", by_alias=True),
            **{name: {"enable": False} for name in ("mastodon", "peertube", "pixelfed")},
            service: {
                "enable": True,
                "hostName": f"{service}.{config.domain}",
                "options": config.service(service).model_dump(mode="json", by_alias=True, exclude={"enable", "data_on_disable"}),
            },
        }
    }
    resources.append(
        NixosResource(
            id=rid("nixos"),
            service=service,
            depends_on=tuple(r.id for r in resources),
            spec=NixosSpec(vm=vm.id, config=nixos_config),
        )
    )
    return resources


def changes(previous: Sequence[Resource], desired: Sequence[Resource]) -> list[Change]:
    """Create / update / unchanged / delete, comparing specs by id."""
    before = {r.id: r for r in previous}
    after = {r.id: r for r in desired}
    result = []
    for rid, resource in after.items():
        old = before.get(rid)
        if old is None:
            result.append(Change(resource_id=rid, action="create", reason="new"))
        elif old.spec != resource.spec:
            result.append(Change(resource_id=rid, action="update", reason="settings changed"))
        else:
            result.append(Change(resource_id=rid, action="unchanged"))
    for rid in before.keys() - after.keys():
        result.append(Change(resource_id=rid, action="delete", reason="service disabled"))
    return sorted(result, key=lambda change: change.resource_id)
