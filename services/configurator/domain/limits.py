"""What the provider allows an operator: domains under its parent domains, and quotas.

Problems are in the operator's words, with the numbers: "Mastodon and PeerTube need 12 GiB of
memory; your plan allows 8 GiB".
"""

from collections.abc import Callable, Sequence

from contracts.configuration import OperatorConfiguration
from contracts.resources import Problem, Resource

from .naming import OPERATOR_WIDE, listing
from .policy import Policy, Quota


def domain_problems(config: OperatorConfiguration, policy: Policy) -> list[Problem]:
    parents = policy.allowed_parent_domains
    if not parents or any(config.domain.endswith("." + parent) for parent in parents):
        return []
    example = f"{config.domain.split('.')[0]}.{parents[0]}"
    return [
        Problem(
            field="domain",
            message=f"must be under {_either(parents)}, the domains this provider hosts (for example {example})",
        )
    ]


def quota_problems(resources: Sequence[Resource], quota: Quota) -> list[Problem]:
    vms = [r for r in resources if r.kind == "vm"]
    buckets = [r for r in resources if r.kind == "bucket"]
    memory_limit = None if quota.memory_gib is None else quota.memory_gib * 1024
    checks: list[tuple[float | None, list[Resource], Callable[[Resource], float], str, Callable[[float], str]]] = [
        (quota.vms, vms, lambda r: 1, "{} VM{s}", _number),
        (quota.cores, vms, lambda r: r.spec.cores, "{} CPU core{s}", _number),
        (memory_limit, vms, lambda r: r.spec.memory_mib, "{} of memory", _gib),
        (quota.disk_gib, vms, lambda r: r.spec.disk_gib, "{} GiB of disk", _number),
        (quota.buckets, buckets, lambda r: 1, "{} bucket{s}", _number),
    ]
    problems = []
    for limit, using, amount, phrase, show in checks:
        needed = sum(amount(r) for r in using)
        if limit is not None and needed > limit:
            services = _services_of(using)
            verb = "needs" if len(services) == 1 else "need"
            allowed = show(limit) + (" GiB" if "GiB of" in phrase else "")
            problems.append(
                Problem(
                    field="services",
                    message=f"{listing(services)} {verb} {phrase.format(show(needed), s='' if needed == 1 else 's')}; "
                    f"your plan allows {allowed}",
                )
            )
    return problems


def _services_of(resources: Sequence[Resource]) -> list[str]:
    services: list[str] = []
    for resource in resources:
        tags = resource.spec.tags if resource.kind == "vm" else ()
        named = [t.removeprefix("fedi-svc-") for t in tags if t.startswith("fedi-svc-")] or [resource.service]
        services += [s for s in named if s != OPERATOR_WIDE and s not in services]
    return services


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


def _gib(mib: float) -> str:
    return f"{_number(mib / 1024)} GiB"


def _either(parents: Sequence[str]) -> str:
    return parents[0] if len(parents) == 1 else ", ".join(parents[:-1]) + " or " + parents[-1]
