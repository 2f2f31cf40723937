"""After a failed deployment: trying it again (submitted at once), or going back to the last
configuration that worked (asks what happens to the data of the services it switches off, then shows
its plan for review like any change; Deploy submits it)."""

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse

from runtime import logs

from .. import recovery
from ..adapters.bus import Unavailable
from ..domain.wording import DATA_CHOICES
from .context import Context
from .render import Renderer
from .security import Guards, NotFound, Visitor

log = logs.get("panel")


def router(context: Context, render: Renderer, guards: Guards) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    def not_possible(request: Request, who: Visitor, deployment_id: str, code: int, title: str, text: str):
        return render.page(request, who, "message.html", code, title=title, text=text, link=(f"/deployments/{deployment_id}", "Back to the deployment"))

    @pages.post("/deployments/{deployment_id}/retry")
    async def retry(request: Request, deployment_id: str, who: Visitor = Depends(guards.operator_form)):
        """Deploys the failed deployment's configuration once more."""
        try:
            view = await recovery.resubmit(context, who.operator_id, deployment_id, recovery.RETRY, who.user.email, via="page")
        except recovery.NoSuchDeployment:
            raise NotFound() from None
        except recovery.NotNow as exc:
            return not_possible(request, who, deployment_id, status.HTTP_409_CONFLICT, "Not possible now", str(exc))
        log.info("failed deployment resubmitted", operator_id=who.operator_id, failed=deployment_id, deployment_id=view.id)
        return RedirectResponse(f"/deployments/{view.id}", status.HTTP_303_SEE_OTHER)

    @pages.post("/deployments/{deployment_id}/rollback")
    async def roll_back(request: Request, deployment_id: str, who: Visitor = Depends(guards.operator_form)):
        """Going back to the configuration that last worked: asks about the data of what it switches off, then shows its plan."""
        try:
            back = await recovery.going_back(context, who.operator_id, deployment_id)
        except recovery.NoSuchDeployment:
            raise NotFound() from None
        except recovery.NotNow as exc:
            return not_possible(request, who, deployment_id, status.HTTP_409_CONFLICT, "Not possible now", str(exc))
        try:
            plan = await context.planner.preview(who.operator_id, back.configuration.model_dump(mode="json", by_alias=True))
        except Unavailable:
            return not_possible(request, who, deployment_id, status.HTTP_503_SERVICE_UNAVAILABLE, "Try again in a moment",
                                "What going back would do cannot be worked out right now. Nothing was deployed.")
        at_stake = recovery.data_at_stake(back.configuration, plan.changes)
        posted = await request.form()
        chosen = {service: posted.get(f"{service}.dataOnDisable") for service in at_stake}
        if any(choice not in ("keep", "delete") for choice in chosen.values()):
            asked = "asked" in posted
            return render.page(
                request, who, "going_back.html", status.HTTP_422_UNPROCESSABLE_CONTENT if asked else status.HTTP_200_OK, back=back,
                services=at_stake, choices=DATA_CHOICES, chosen={k: v for k, v in chosen.items() if v in ("keep", "delete")},
                problem="Choose whether its data is kept or deleted." if asked else None,
            )
        await recovery.keep_for_review(context, who.operator_id, back, chosen)
        log.info("going back kept for review", operator_id=who.operator_id, failed=deployment_id, revision=back.revision)
        return RedirectResponse("/review", status.HTTP_303_SEE_OTHER)

    return pages
