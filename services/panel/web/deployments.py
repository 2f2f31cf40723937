"""Following deployments: history, the live progress page (Server-Sent Events), the trace of a
deployment's events, and the one-time reveal of admin passwords."""

import json

from fastapi import APIRouter, Depends, Request, status
from sse_starlette import EventSourceResponse

from runtime import logs
from runtime.event_chain import chain

from .. import credentials, recovery
from ..adapters.bus import Unavailable
from ..adapters.maintenance import Fleetwide
from ..adapters.store import DeploymentView, Panel
from ..domain import wording
from .context import Context
from .render import Renderer
from .security import Guards, NotFound, Visitor

log = logs.get("panel")


async def own_view(context: Context, operator_id: str, deployment_id: str) -> DeploymentView:
    async with context.units.database.reader() as session:
        view = await Panel(session).deployment(operator_id, deployment_id)
    if view is None:
        raise NotFound()
    return view


def router(context: Context, render: Renderer, guards: Guards) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/deployments")
    async def history(request: Request, who: Visitor = Depends(guards.operator)):
        """Every deployment of the operator, newest first."""
        async with context.units.database.reader() as session:
            views = [view.as_dict() for view in await Panel(session).deployments(who.operator_id)]
            titles = await Fleetwide(session).titles({view["campaign_id"] for view in views if view["campaign_id"]})
        return render.page(request, who, "deployments.html", deployments=views, states=wording.DEPLOYMENT_STATES, titles=titles)

    @pages.get("/deployments/{deployment_id}")
    async def deployment(request: Request, deployment_id: str, who: Visitor = Depends(guards.operator)):
        """One deployment: live progress, then its URLs and admin passwords, or what failed."""
        view = (await own_view(context, who.operator_id, deployment_id)).as_dict()
        async with context.units.database.reader() as session:
            panel = Panel(session)
            accounts = [c for c in await panel.admin_accounts(who.operator_id) if c.service in view["urls"]]
            titles = await Fleetwide(session).titles({view["campaign_id"]} if view["campaign_id"] else set())
            can_retry, good_revision = await recovery.choices(panel, who.operator_id, deployment_id)
        failed = view["state"] in ("failed", "rejected", "cancelled")
        return render.page(
            request, who, "deployment.html", view=view, shown=wording.progress(view),
            failure=wording.failure_words(view) if failed else [], accounts=accounts,
            title=titles.get(view["campaign_id"]), can_retry=can_retry, good_revision=good_revision,
        )

    @pages.get("/deployments/{deployment_id}/events")
    async def live(request: Request, deployment_id: str, who: Visitor = Depends(guards.operator)):
        """Server-Sent Events: the progress page's content, whenever it changes, until the deployment ends."""
        await own_view(context, who.operator_id, deployment_id)

        async def updates():
            last = None
            while True:
                shown = wording.progress((await own_view(context, who.operator_id, deployment_id)).as_dict())
                if shown != last:
                    yield {"event": "progress", "data": json.dumps(shown)}
                    last = shown
                if shown["final"]:
                    return
                await context.changes.wait(context.settings.live_poll_seconds)

        return EventSourceResponse(updates(), ping=15, headers={"Cache-Control": "no-store"})

    @pages.get("/deployments/{deployment_id}/trace")
    async def trace(request: Request, deployment_id: str, who: Visitor = Depends(guards.operator)):
        """The deployment's events as they caused each other (as `fedi trace` prints them)."""
        view = await own_view(context, who.operator_id, deployment_id)
        try:
            links = chain(await context.trail.events(deployment_id))
        except Unavailable as exc:
            return render.page(request, who, "message.html", status.HTTP_503_SERVICE_UNAVAILABLE, title="Trace unavailable", text=str(exc), link=None)
        return render.page(request, who, "trace.html", view=view.as_dict(), links=links)

    @pages.post("/credentials/{service}/reveal")
    async def reveal(request: Request, service: str, who: Visitor = Depends(guards.operator_form)):
        """Shows the service's admin password, once."""
        try:
            account, password = await credentials.reveal_audited(context, who.operator_id, service, who.user.email, via="page")
        except credentials.NoSuchCredential:
            raise NotFound() from None
        except credentials.AlreadyRevealed as exc:
            text = f"{exc}. It is not shown again; if you lost it, reset it from the service's own log-in page."
            return render.page(request, who, "message.html", status.HTTP_410_GONE, title="Already shown", text=text, link=("/", "Back"))
        except Unavailable:
            return render.page(
                request, who, "message.html", status.HTTP_503_SERVICE_UNAVAILABLE, title="Try again in a moment",
                text="The password could not be fetched just now. It was not shown, so you can still see it once.", link=("/", "Back"),
            )
        log.info("admin password revealed", operator_id=who.operator_id, service=service)
        return render.page(request, who, "revealed.html", account=account, password=password)

    return pages
