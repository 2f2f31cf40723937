"""Plans and deployments in words an operator understands: what is created, changed and removed,
what happens to their data, and how far a deployment has come. No I/O."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from contracts.resources import Change

SERVICE_NAMES = {"mastodon": "Mastodon", "peertube": "PeerTube", "pixelfed": "Pixelfed"}
THINGS = {
    "vm": "virtual machine",
    "bucket": "media storage",
    "account": "admin account",
    "mail": "mail relay account",
    "dns": "DNS record",
    "sshkey": "deploy key",
    "nixos": "system configuration",
    "directory": "directory of people and groups",
    "storage": "everything else in storage",
    "machines": "every other machine",
}
KIND_ORDER = tuple(THINGS)
STEP_STATES = {"pending": "waiting", "running": "in progress", "done": "done", "failed": "failed"}
FINAL = ("succeeded", "failed", "rejected", "cancelled")
DEPLOYMENT_STATES = {
    "submitted": "sent to be planned",
    "planned": "planned, about to start",
    "running": "in progress",
    "succeeded": "succeeded",
    "failed": "failed",
    "rejected": "refused",
    "cancelled": "cancelled",
}


DATA_CHOICES = (("keep", "Keep its data"), ("delete", "Delete its data for good"))
"""What is asked about the data of a service being switched off (nothing is chosen for the operator)."""


OPERATOR_WIDE = "_"
"""The service part of the ids of what belongs to the operator as a whole (a deploy key, mail records)."""


def service_name(service: str) -> str:
    if service in ("", OPERATOR_WIDE):
        return "All your services"
    return SERVICE_NAMES.get(service, service.capitalize())


def _part(resource_id: str, index: int) -> str:
    parts = resource_id.split("/")
    return parts[index] if len(parts) > index else ""


def kind_of(resource_id: str) -> str:
    """Resource ids are <operator>/<service>/<kind>[/<role>] (see contracts.resources)."""
    return _part(resource_id, 2)


def service_of(resource_id: str) -> str:
    return _part(resource_id, 1)


def is_admin_account(resource_id: str) -> bool:
    return kind_of(resource_id) == "account"


def thing(kind: str) -> str:
    return THINGS.get(kind, kind)


@dataclass(frozen=True)
class PlanLine:
    action: str
    """create, update, replace, delete, or keep (access closed, data kept)."""
    text: str
    data: str | None = None
    """For data that stays or goes: "kept" or "deleted"."""


@dataclass(frozen=True)
class ServicePlan:
    service: str
    title: str
    lines: tuple[PlanLine, ...]
    unchanged: int


def _created(kind: str, spec: Mapping[str, Any], service: str) -> str:
    name = service_name(service)
    if kind == "vm" and spec:
        return (f"A virtual machine for {name}: {spec['cores']} cores, {spec['memory_mib'] / 1024:g} GiB memory, "
                f"{spec['disk_gib']} GiB disk")
    if kind == "bucket":
        quota = spec.get("quota_bytes") if spec else None
        limit = f", up to {quota / 1024**3:g} GiB" if quota else ""
        return f"Storage for {name}'s media{limit}"
    if kind == "account":
        user = f" “{spec['username']}”" if spec and spec.get("username") else ""
        return f"Your admin account{user} on {name}"
    if kind == "nixos":
        return f"{name} installed and set up"
    if kind == "dns" and spec:
        return f"The name {spec['name'].rstrip('.')} pointed at {name}"
    if kind == "mail":
        return f"A mail relay account so {name} can send e-mail"
    if kind == "sshkey":
        return "A deploy key so your machines can be updated"
    return f"A {thing(kind)} for {name}"


def _removed(kind: str, service: str, data: str | None) -> PlanLine:
    name = service_name(service)
    if kind == "bucket":
        if data == "delete":
            return PlanLine("delete", f"{name}'s stored media and data are deleted for good", "deleted")
        return PlanLine(
            "keep",
            f"{name}'s stored media and data are kept: access is closed, and switching {name} on again brings them back",
            "kept",
        )
    if kind == "vm" and data == "keep":
        return PlanLine(
            "keep", f"{name}'s machine is shut down and kept with its disk and database: switching {name} on again starts it", "kept"
        )
    if kind == "vm" and data == "delete":
        return PlanLine("delete", f"{name}'s machine is removed with its disk and database", "deleted")
    if kind == "nixos":
        return PlanLine("delete", f"{name} is switched off")
    if kind == "directory":
        return PlanLine("delete", "Your directory of people and groups, and the link to your own directory, are removed")
    if kind == "storage":
        return PlanLine(
            "delete",
            "Every other bucket and access key kept for you is removed with its media; buckets your provider assigned to you go back to them",
            "deleted",
        )
    if kind == "machines":
        return PlanLine(
            "delete",
            "Every machine of yours that is still there is deleted with its disk, including machines kept shut down "
            "with their data (switched off or replaced): their databases are gone for good",
            "deleted",
        )
    return PlanLine("delete", f"The {thing(kind)} of {name} is removed")


def _line(change: Change, spec: Mapping[str, Any]) -> PlanLine:
    kind = change.kind or kind_of(change.resource_id)
    service = change.service or service_of(change.resource_id)
    why = f" ({change.reason})" if change.reason else ""
    if change.action == "create":
        return PlanLine("create", _created(kind, spec, service))
    if change.action == "update":
        return PlanLine("update", f"The {thing(kind)} of {service_name(service)} changes{why}")
    if change.action == "replace":
        data = "kept" if kind != "bucket" else None
        old = "; the old one is shut down and kept with its disk, whose database is not moved over by itself" if kind == "vm" else ""
        return PlanLine("replace", f"The {thing(kind)} of {service_name(service)} is made anew{why}{old}", data)
    return _removed(kind, service, change.data)


def describe_plan(changes: Iterable[Change], resources: Iterable[Any] = ()) -> tuple[ServicePlan, ...]:
    """The plan grouped per service, in plain sentences; unchanged things are only counted."""
    specs = {r.id: r.spec.model_dump() for r in resources}
    per_service: dict[str, list[tuple[int, PlanLine]]] = {}
    unchanged: dict[str, int] = {}
    for change in changes:
        service = change.service or service_of(change.resource_id)
        per_service.setdefault(service, [])
        if change.action == "unchanged":
            unchanged[service] = unchanged.get(service, 0) + 1
            continue
        order = _step_order((change.resource_id, {"kind": change.kind, "service": service}))[1]
        per_service[service].append((order, _line(change, specs.get(change.resource_id) or change.spec or {})))
    return tuple(
        ServicePlan(service, service_name(service), tuple(line for _, line in sorted(lines, key=lambda x: x[0])), unchanged.get(service, 0))
        for service, lines in sorted(per_service.items(), key=lambda item: (item[0] in ("", OPERATOR_WIDE), item[0]))
    )


def plan_summary(plans: Iterable[ServicePlan]) -> str:
    lines = [line for plan in plans for line in plan.lines]
    words = {"create": "to create", "update": "to change", "replace": "to make anew", "delete": "to remove", "keep": "to close with its data kept"}
    counts = {action: sum(1 for line in lines if line.action == action) for action in words}
    parts = [f"{count} {words[action]}" for action, count in counts.items() if count]
    return ", ".join(parts) if parts else "Nothing changes"


# -- deployments ---------------------------------------------------------------------------------


def eta_words(seconds: float | None, state: str) -> str:
    if state == "succeeded":
        return "finished"
    if state in FINAL:
        return ""
    if seconds is None:
        return "estimating the time left…"
    if seconds < 60:
        return "less than a minute left"
    minutes = round(seconds / 60)
    return f"about {minutes} minute{'s' if minutes != 1 else ''} left"


def step_label(step_id: str, step: Mapping[str, Any]) -> str:
    kind = step.get("kind") or kind_of(step_id)
    service = step.get("service") or service_of(step_id)
    role = _part(step_id, 3)
    label = _first_upper(thing(kind)) + (f" ({role})" if role else "")
    return f"{label} for {service_name(service)}" if service not in ("", OPERATOR_WIDE) else label


def _step_order(item: tuple[str, Mapping[str, Any]]) -> tuple[str, int]:
    step_id, step = item
    kind = step.get("kind") or kind_of(step_id)
    return step.get("service") or service_of(step_id), KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def progress(view: Mapping[str, Any]) -> dict[str, Any]:
    """What the live progress page shows of a deployment (the read model's dict)."""
    steps = sorted(view["steps"].items(), key=_step_order)
    return {
        "state": view["state"],
        "state_text": DEPLOYMENT_STATES.get(view["state"], view["state"]),
        "final": view["state"] in FINAL,
        "percent": view["percent"],
        "eta": eta_words(view["eta_seconds"], view["state"]),
        "steps": [
            {
                "id": step_id,
                "label": step_label(step_id, step),
                "state": step.get("state", "pending"),
                "state_text": STEP_STATES.get(step.get("state", "pending"), step.get("state", "")),
                "detail": step.get("detail", ""),
            }
            for step_id, step in steps
        ],
    }


def failure_words(view: Mapping[str, Any]) -> list[str]:
    """What failed and why, one sentence per failed step (or the deployment's reason)."""
    failed = [
        f"{step_label(step_id, step)} could not be completed: {step.get('detail') or 'no reason was given'}."
        for step_id, step in view["steps"].items()
        if step.get("state") == "failed"
    ]
    if failed:
        return failed
    if view["state"] == "rejected":
        return [f"{p['field']}: {p['message']}" for p in view["problems"]] or ["The configuration was refused."]
    return [view.get("reason") or "The deployment stopped without a reason."]


def reason_words(reason: str) -> str:
    """A deployment's failure reason as the orchestrator gives it ("<step id>: <what happened>"), with the
    step named as the progress page names it."""
    step_id, colon, detail = reason.partition(": ")
    if not colon or step_id.count("/") < 2 or " " in step_id:
        return reason
    return f"{step_label(step_id, {})} could not be completed: {detail}"


def _first_upper(text: str) -> str:
    """Upper-cases the first letter only, so a DNS record is not called a "Dns record"."""
    return text[:1].upper() + text[1:]
