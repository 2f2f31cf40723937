"""The operator's maintenance page: notices of provider updates, where each stands, and the choices
(weekly window, apply now, defer). Every choice is a CSRF-checked form; mistakes are answered next
to their field with what was typed kept."""

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse

from runtime import logs

from .. import maintenance
from ..domain.form import FieldProblems
from ..domain.maintenance import DAYS, time_zones
from .context import Context
from .render import Renderer
from .security import Guards, NotFound, Visitor

log = logs.get("panel")
WINDOW_FIELDS = ("day", "start", "duration_minutes", "timezone")


def window_values(shown: dict) -> dict[str, str]:
    window = shown["window"]
    if window is None:
        return {"day": "sunday", "start": "02:00", "duration_minutes": "240", "timezone": "UTC"}
    return {name: str(getattr(window, name)) for name in WINDOW_FIELDS}


def router(context: Context, render: Renderer, guards: Guards) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    async def show(request: Request, who: Visitor, code: int = 200, typed: dict | None = None, problems: dict | None = None,
                   deferral: tuple[str, str, str] | None = None):
        shown = await maintenance.overview(context, who.operator_id)
        response = render.page(
            request, who, "maintenance.html", code, **shown, values=typed or window_values(shown), problems=problems or {},
            deferral=deferral, days=DAYS, zones=time_zones(), minimum=context.settings.minimum_window_minutes,
        )
        await maintenance.mark_read(context, who.operator_id, shown["newest_notice"])
        return response

    def back() -> RedirectResponse:
        return RedirectResponse("/maintenance", status.HTTP_303_SEE_OTHER)

    def too_late(request: Request, who: Visitor, exc: Exception):
        text = f"{str(exc).capitalize()}."
        return render.page(request, who, "message.html", status.HTTP_409_CONFLICT, title="Nothing to choose", text=text,
                           link=("/maintenance", "Maintenance"))

    @pages.get("/maintenance")
    async def maintenance_page(request: Request, who: Visitor = Depends(guards.operator)):
        """Notices of provider updates, where each stands, and your maintenance choices."""
        return await show(request, who)

    @pages.post("/maintenance/window")
    async def choose_window(request: Request, who: Visitor = Depends(guards.operator_form)):
        form = await request.form()
        typed = {name: str(form.get(name, "")) for name in WINDOW_FIELDS}
        try:
            await maintenance.choose_window(context, who.operator_id, who.user.email, typed)
        except FieldProblems as exc:
            return await show(request, who, status.HTTP_422_UNPROCESSABLE_CONTENT, typed=typed, problems=exc.problems)
        log.info("maintenance window chosen", operator_id=who.operator_id)
        return back()

    @pages.post("/maintenance/{campaign_id}/apply-now")
    async def apply_now(request: Request, campaign_id: str, who: Visitor = Depends(guards.operator_form)):
        try:
            await maintenance.apply_now(context, who.operator_id, who.user.email, campaign_id)
        except maintenance.NoSuchUpdate:
            raise NotFound() from None
        except maintenance.NotWaiting as exc:
            return too_late(request, who, exc)
        return back()

    @pages.post("/maintenance/{campaign_id}/defer")
    async def defer(request: Request, campaign_id: str, who: Visitor = Depends(guards.operator_form)):
        typed = str((await request.form()).get("defer_until", ""))
        try:
            await maintenance.defer(context, who.operator_id, who.user.email, campaign_id, typed)
        except maintenance.NoSuchUpdate:
            raise NotFound() from None
        except maintenance.NotWaiting as exc:
            return too_late(request, who, exc)
        except FieldProblems as exc:
            return await show(request, who, status.HTTP_422_UNPROCESSABLE_CONTENT, deferral=(campaign_id, typed, exc.problems["defer_until"]))
        return back()

    return pages
