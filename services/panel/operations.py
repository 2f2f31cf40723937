"""What the provider's admins watch: the bus's live health (each consumer's backlog, the dead letters,
deployments that have gone quiet) and the audit log of who did what."""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from runtime.audit import AuditRecord
from runtime.bus_health import LAGGING

from .adapters.bus import DeadLetter, Unavailable
from .adapters.store import DeploymentView, Provider, aware, now
from .web.context import Context

AUDIT_DAYS = (1, 7, 30, 365)
"""How far back the audit log page can look (it reads the audit stream from there on)."""


@dataclass(frozen=True)
class Stuck:
    deployment_id: str
    operator_id: str
    revision: int
    state: str
    last_event_type: str
    last_event_step: str
    last_event_at: datetime
    quiet_minutes: int


def _stuck(view: DeploymentView, moment: datetime) -> Stuck:
    heard = aware(view.last_event_at)
    return Stuck(view.id, view.operator_id, view.revision, view.state, view.last_event_type or "not recorded",
                 view.last_event_step or "", heard, int((moment - heard).total_seconds() // 60))


async def bus_board(context: Context) -> dict:
    """The bus-health page's content; what the bus does not answer is said, the panel's own part still shown."""
    moment = now()
    health, answered = None, True
    letters: list[DeadLetter] = []
    try:
        health = await context.watch.health()
        letters = await context.watch.dead_letters() if health.dead_letters else []
    except Unavailable:
        answered = False
    async with context.units.database.reader() as session:
        quiet = await Provider(session).stuck(moment - timedelta(minutes=context.settings.stuck_minutes))
    stuck = [_stuck(view, moment) for view in quiet]
    return {
        "answered": answered,
        "health": health,
        "letters": letters,
        "stuck": stuck,
        "stuck_minutes": context.settings.stuck_minutes,
        "lagging": LAGGING,
        "healthy": answered and health.healthy and not stuck,
        "checked_at": moment,
    }


def board_json(board: dict) -> dict:
    health = board["health"]
    return {
        "healthy": board["healthy"],
        "answered": board["answered"],
        "stored_messages": health.stored_messages if health else None,
        "consumers": [asdict(c) | {"lagging": c.lagging} for c in health.consumers] if health else [],
        "dead_letters": [asdict(letter) for letter in board["letters"]],
        "stuck": [asdict(s) | {"last_event_at": s.last_event_at.isoformat()} for s in board["stuck"]],
        "stuck_minutes": board["stuck_minutes"],
    }


def audit_days(typed: str | int | None) -> int:
    """The look-back the audit log page offers nearest to what was asked (a week when nothing was)."""
    try:
        asked = int(typed or 7)
    except ValueError:
        asked = 7
    return min(AUDIT_DAYS, key=lambda days: abs(days - asked))


async def audit_log(context: Context, actor: str = "", action: str = "", days: int = 7) -> list[AuditRecord]:
    """The newest records first (raises Unavailable)."""
    since = now() - timedelta(days=days)
    return await context.auditor.newest(actor=actor.strip() or None, action=action.strip() or None, since=since)
