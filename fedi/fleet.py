"""`fedi fleet`: roll a policy change out to every operator it affects, in their maintenance windows
(US 2.3, 3.3) — see its impact first, then follow, pause, resume or cancel the campaign."""

import asyncio
import uuid
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated

import nats
import typer
import yaml
from rich.console import Console

from contracts import encode, subjects
from contracts.fleet import (
    FLEET,
    CampaignControlRequested,
    CampaignPreviewReply,
    CampaignPreviewRequest,
    CampaignRequested,
    CampaignStatus,
    CampaignStatusReply,
    CampaignStatusRequest,
    OperatorImpactSummary,
    Waves,
)

app = typer.Typer(help="Fleet-wide updates in the operators' maintenance windows.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)

Home = Annotated[Path, typer.Option(envvar="FEDI_HOME", help="Folder holding all local state.")]
NatsUrl = Annotated[str | None, typer.Option(envvar="FEDI_NATS_URL", help="Default: the running `fedi up`'s.")]


def _bus(home: Path, nats_url: str | None) -> tuple[str, dict]:
    from .cli import _bus as found

    return found(home, nats_url)


async def _ask(url: str, options: dict, subject: str, body, reply_model):
    connection = await nats.connect(url, **options)
    try:
        reply = await connection.request(subject, body.model_dump_json().encode(), timeout=30)
    finally:
        await connection.close()
    return reply_model.model_validate_json(reply.data)


async def _publish(url: str, options: dict, message) -> None:
    connection = await nats.connect(url, **options)
    try:
        await connection.jetstream().publish(message.type, encode(message), stream=subjects.STREAM,
                                              headers={"Nats-Msg-Id": str(message.event_id)})
    finally:
        await connection.close()


def _changes(changes_file: Path | None, release: str | None, template: int | None) -> dict:
    changes = (yaml.safe_load(changes_file.read_text()) or {}) if changes_file else {}
    if not isinstance(changes, dict):
        raise typer.BadParameter(f"{changes_file} must hold a mapping of policy settings")
    if release:
        changes["release"] = release
    if template:
        changes.setdefault("proxmox", {})["template"] = template
    if not changes:
        raise typer.BadParameter("say what changes: --changes FILE, --release or --template")
    return changes


def impact_lines(reply: CampaignPreviewReply) -> list[str]:
    if reply.problems:
        return ["the changed policy is not valid:", *(f"  {problem}" for problem in reply.problems)]
    fits = [item for item in reply.affected if not item.problems]
    lines = [f"{len(fits)} operators affected, {reply.unaffected} not affected"]
    lines += [f"  longest downtime: {max((i.downtime_minutes for i in fits), default=0)} minutes"]
    for item in reply.affected:
        lines += _operator_lines(item)
    return lines


def _operator_lines(item: OperatorImpactSummary) -> list[str]:
    if item.problems:
        return [f"{item.operator_id}: no longer fits this policy (left out)", *(f"    {p}" for p in item.problems)]
    return [f"{item.operator_id}: about {item.downtime_minutes} min downtime", *(f"    {line}" for line in item.changes)]


@app.command("update")
def update(
    title: Annotated[str, typer.Option(help="What operators see, e.g. 'Fediversity 25.05'.")],
    reason: Annotated[str, typer.Option(help="Why: what operators are told.")],
    deadline: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="YYYY-MM-DD (UTC midnight).")],
    changes_file: Annotated[Path | None, typer.Option(
        "--changes", help="YAML with the policy settings that change, e.g. `sizes: {mastodon: {memory_mib: 8192}}`, "
        "or `ssh_keys: {generation: 2}` to rekey every operator.")] = None,
    release: Annotated[str | None, typer.Option(help="Shortcut: a new Fediversity release.")] = None,
    template: Annotated[int | None, typer.Option(help="Shortcut: a new Proxmox template VM id.")] = None,
    category: Annotated[str, typer.Option(help="routine, or security (forced at the deadline).")] = "routine",
    notice_days: Annotated[float, typer.Option(help="Days between the notice and the first update.")] = 7,
    canary: int = 1,
    growth: float = 4.0,
    soak_minutes: int = 60,
    failure_threshold: Annotated[float, typer.Option(help="Percent of a wave that may fail before the campaign halts.")] = 20,
    yes: Annotated[bool, typer.Option("--yes", help="Send the notices without asking.")] = False,
    home: Home = Path("var"),
    nats_url: NatsUrl = None,
) -> None:
    """Show the impact of a policy change on every operator, then (confirmed) notify them and roll it out."""
    if category not in ("routine", "security"):
        raise typer.BadParameter("category is routine or security")
    url, options = _bus(home, nats_url)
    changes = _changes(changes_file, release, template)
    preview = asyncio.run(_ask(url, options, subjects.CAMPAIGN_PREVIEW, CampaignPreviewRequest(policy_changes=changes), CampaignPreviewReply))
    for line in impact_lines(preview):
        console.print(line)
    if preview.problems:
        raise typer.Exit(1)
    if not any(not item.problems for item in preview.affected):
        console.print("nobody is affected: nothing to roll out")
        raise typer.Exit(0)
    if not yes and not typer.confirm("Send the notices and roll this out?"):
        raise typer.Exit(1)
    import getpass

    campaign_id = f"camp-{uuid.uuid4()}"
    request = CampaignRequested(
        correlation_id=campaign_id, operator_id=FLEET, producer="panel", title=title, reason=reason, category=category,
        policy_changes=changes, notice_days=notice_days, deadline=datetime.combine(deadline.date(), time(0), tzinfo=UTC),
        waves=Waves(canary=canary, growth=growth, soak_minutes=soak_minutes, failure_threshold=failure_threshold / 100),
        requested_by=getpass.getuser(),
    )
    asyncio.run(_publish(url, options, request))
    console.print(f"campaign {campaign_id} requested; follow it with `fedi fleet show {campaign_id}`")
    from .audit import note

    note(url, options, "campaign.requested", campaign_id, title=title, category=category)


@app.command("list")
def list_campaigns(home: Home = Path("var"), nats_url: NatsUrl = None) -> None:
    """Every campaign, newest first."""
    url, options = _bus(home, nats_url)
    reply = asyncio.run(_ask(url, options, subjects.CAMPAIGN_STATUS, CampaignStatusRequest(), CampaignStatusReply))
    if not reply.campaigns:
        console.print("no campaigns")
    for campaign in reply.campaigns:
        console.print(f"{campaign.campaign_id}  {campaign.state:<10} {campaign.category:<8} {campaign.title}  "
                      f"(deadline {campaign.deadline:%Y-%m-%d})")


@app.command("show")
def show(campaign_id: str, home: Home = Path("var"), nats_url: NatsUrl = None) -> None:
    """One campaign: its waves and every operator's part in it."""
    url, options = _bus(home, nats_url)
    reply = asyncio.run(_ask(url, options, subjects.CAMPAIGN_STATUS, CampaignStatusRequest(campaign_id=campaign_id), CampaignStatusReply))
    if not reply.campaigns:
        console.print(f"[red]no campaign {campaign_id}[/red]")
        raise typer.Exit(1)
    for line in status_lines(reply.campaigns[0]):
        console.print(line)


def status_lines(campaign: CampaignStatus) -> list[str]:
    counts: dict[str, int] = {}
    for part in campaign.operators:
        counts[part.state] = counts.get(part.state, 0) + 1
    lines = [
        f"{campaign.title} ({campaign.category}): {campaign.state}" + (f" - {campaign.state_reason}" if campaign.state_reason else ""),
        f"  earliest start {campaign.earliest_start:%Y-%m-%d %H:%M} UTC, deadline {campaign.deadline:%Y-%m-%d %H:%M} UTC",
        f"  waves {'/'.join(map(str, campaign.wave_sizes))}, {campaign.open_waves} open; "
        + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())),
    ]
    for part in campaign.operators:
        planned = f"planned {part.planned_start:%Y-%m-%d %H:%M} UTC" if part.planned_start else ""
        lines.append(f"  wave {part.wave + 1:<3} {part.operator_id:<24} {part.state:<16} {planned} {part.reason}".rstrip())
    return lines


def _control(action: str):
    def command(campaign_id: str, home: Home = Path("var"), nats_url: NatsUrl = None) -> None:
        import getpass

        url, options = _bus(home, nats_url)
        asyncio.run(_publish(url, options, CampaignControlRequested(
            correlation_id=campaign_id, operator_id=FLEET, producer="panel", campaign_id=campaign_id, action=action,
            requested_by=getpass.getuser(),
        )))
        console.print(f"{action} asked for {campaign_id}")
        from .audit import note

        note(url, options, f"campaign.{action}", campaign_id)

    command.__doc__ = {"pause": "Start nothing more until resumed.", "resume": "Go on (also after a halt).",
                       "cancel": "Withdraw the change: nothing more starts, new plans use the policy without it."}[action]
    return command


for _action in ("pause", "resume", "cancel"):
    app.command(_action)(_control(_action))
