"""The provider admin's pages for fleet-wide updates: every campaign, a new one (form, then the
configurator's preview, then sending the notices), and each campaign's dashboard with pause,
resume and cancel."""

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse

from runtime import logs

from .. import campaigns
from ..adapters.bus import Unavailable
from ..domain import fleet_words
from ..domain.campaign_form import DEFAULTS, EXAMPLES, FIELDS, checked_campaign, digest
from ..domain.form import FieldProblems
from .context import Context
from .render import Renderer
from .security import Guards, NotFound, Visitor

log = logs.get("panel")


def router(context: Context, render: Renderer, guards: Guards) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    def new_form(request: Request, who: Visitor, values: dict, code: int = 200, problems: dict | None = None, **shown):
        shown = {"preview": None, "previewed": "", "note": ""} | shown
        return render.page(request, who, "campaign_new.html", code, values=values, problems=problems or {}, examples=EXAMPLES, **shown)

    async def checked(request: Request, who: Visitor):
        """(what was typed, the campaign's fields or None, the form again with its problems or None)."""
        form = await request.form()
        typed = {name: str(form.get(name, "")) for name in FIELDS}
        try:
            return typed, checked_campaign(typed, datetime.now(UTC).date()), None
        except FieldProblems as exc:
            return typed, None, new_form(request, who, typed, status.HTTP_422_UNPROCESSABLE_CONTENT, exc.problems)

    async def previewed(request: Request, who: Visitor, typed: dict, fields: dict, note: str = ""):
        try:
            preview = await context.fleet.preview(fields["policy_changes"])
        except Unavailable as exc:
            note = f"{str(exc).capitalize()}; nothing was sent. Try again in a moment."
            return new_form(request, who, typed, status.HTTP_503_SERVICE_UNAVAILABLE, note=note)
        return new_form(
            request, who, typed, preview=preview, previewed=digest(fields), note=note, downtime=fleet_words.downtime_words,
            affected=[o for o in preview.affected if not o.problems], unfit=[o for o in preview.affected if o.problems],
        )

    @pages.get("/admin/campaigns")
    async def campaign_list(request: Request, who: Visitor = Depends(guards.admin)):
        """Every fleet-wide update, newest first."""
        return render.page(request, who, "admin_campaigns.html", **await campaigns.listing(context))

    @pages.get("/admin/campaigns/new")
    async def new_campaign(request: Request, who: Visitor = Depends(guards.admin)):
        """A new fleet-wide update: what changes, why, by when, how fast."""
        deadline = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
        return new_form(request, who, DEFAULTS | {"deadline": deadline})

    @pages.post("/admin/campaigns/preview")
    async def preview(request: Request, who: Visitor = Depends(guards.admin_form)):
        typed, fields, refused = await checked(request, who)
        return refused or await previewed(request, who, typed, fields)

    @pages.post("/admin/campaigns")
    async def send_notices(request: Request, who: Visitor = Depends(guards.admin_form)):
        typed, fields, refused = await checked(request, who)
        if refused:
            return refused
        if str((await request.form()).get("previewed", "")) != digest(fields):
            return await previewed(request, who, typed, fields, note="The form changed since its preview: check this preview, then send.")
        campaign_id = await campaigns.request(context, who.user.email, fields)
        log.info("campaign requested", campaign_id=campaign_id)
        return RedirectResponse(f"/admin/campaigns/{campaign_id}", status.HTTP_303_SEE_OTHER)

    @pages.get("/admin/campaigns/{campaign_id}")
    async def campaign_page(request: Request, campaign_id: str, who: Visitor = Depends(guards.admin)):
        """One campaign: its state and why, its waves, every operator's part, what is left; pause, resume, cancel."""
        try:
            board = await campaigns.dashboard(context, campaign_id)
        except campaigns.NoSuchCampaign:
            raise NotFound() from None
        return render.page(request, who, "campaign.html", **board, refresh=context.settings.campaign_refresh_seconds)

    @pages.post("/admin/campaigns/{campaign_id}/control")
    async def control(request: Request, campaign_id: str, who: Visitor = Depends(guards.admin_form)):
        action = str((await request.form()).get("action", ""))
        try:
            board = await campaigns.dashboard(context, campaign_id)
        except campaigns.NoSuchCampaign:
            raise NotFound() from None
        if action not in board["actions"]:
            text = f"A campaign that is {board['state_text']} cannot be told to {action or 'do nothing'}."
            return render.page(request, who, "message.html", status.HTTP_409_CONFLICT, title="Not now", text=text,
                               link=(f"/admin/campaigns/{campaign_id}", "Back to the campaign"))
        await campaigns.control(context, who.user.email, campaign_id, action)
        return RedirectResponse(f"/admin/campaigns/{campaign_id}", status.HTTP_303_SEE_OTHER)

    return pages
