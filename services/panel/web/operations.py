"""The provider admin's operations pages: the bus's live health, and the audit log."""

from fastapi import APIRouter, Depends, Request, status

from .. import operations
from ..adapters.bus import Unavailable
from ..domain.wording import DEPLOYMENT_STATES
from .context import Context
from .render import Renderer
from .security import Guards, Visitor


def router(context: Context, render: Renderer, guards: Guards) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/admin/bus")
    async def bus_health(request: Request, who: Visitor = Depends(guards.admin)):
        """Each consumer's backlog, the dead letters, and deployments that went quiet; refreshes itself."""
        board = await operations.bus_board(context)
        return render.page(request, who, "admin_bus.html", **board, states=DEPLOYMENT_STATES, refresh=context.settings.bus_refresh_seconds)

    @pages.get("/admin/audit")
    async def audit(request: Request, who: Visitor = Depends(guards.admin)):
        """Who did what from the panel and the command line, newest first."""
        asked = request.query_params
        filters = {"actor": asked.get("actor", "")[:254], "action": asked.get("action", "")[:100], "days": operations.audit_days(asked.get("days"))}
        try:
            records, problem = await operations.audit_log(context, **filters), None
        except Unavailable as exc:
            records, problem = [], f"{str(exc).capitalize()}. Try again in a moment."
        code = status.HTTP_503_SERVICE_UNAVAILABLE if problem else status.HTTP_200_OK
        return render.page(request, who, "admin_audit.html", code, records=records, problem=problem, filters=filters, choices=operations.AUDIT_DAYS)

    return pages
