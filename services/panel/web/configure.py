"""Changing the configuration: the form, switching a service off, reviewing the plan, deploying."""

import json

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from contracts.configuration import SERVICES, OperatorConfiguration
from runtime import logs

from .. import operators, recovery
from ..adapters.bus import Unavailable
from ..adapters.store import Panel
from ..domain import form
from ..domain.wording import DATA_CHOICES, describe_plan, plan_summary, service_name
from .context import Context
from .render import Renderer
from .security import Guards, NotFound, Visitor

log = logs.get("panel")


def router(context: Context, render: Renderer, guards: Guards) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    def see(path: str) -> RedirectResponse:
        return RedirectResponse(path, status.HTTP_303_SEE_OTHER)

    def show_form(request: Request, who: Visitor, values: dict, problems: dict, code: int = 200):
        return render.page(
            request, who, "configure.html", code, groups=context.form, values=values, problems=problems,
            service_problem=problems.get(form.SERVICE_LEVEL),
        )

    @pages.get("/configure")
    async def configure_page(request: Request, who: Visitor = Depends(guards.operator)):
        """The configuration form, filled with the draft under review or what was submitted last (to fix it, if it failed)."""
        async with context.units.database.reader() as session:
            draft = await Panel(session).draft(who.operator_id)
            current = await operators.latest_configuration(session, who.operator_id)
        if draft is not None:
            document = json.loads(draft.configuration_json)
        else:
            document = current.model_dump(mode="json", by_alias=True) if current else {}
        return show_form(request, who, form.values_of(document, context.form), {})

    @pages.post("/configure")
    async def configure(request: Request, who: Visitor = Depends(guards.operator_form)):
        values = form.posted_values(await request.form(), context.form)
        try:
            configuration = OperatorConfiguration.model_validate(form.document_from(values, context.form))
        except ValidationError as exc:
            return show_form(request, who, values, form.problems_by_field(exc), status.HTTP_422_UNPROCESSABLE_CONTENT)
        async with context.units.database.session() as session:
            await operators.save_draft(session, who.operator_id, configuration, "Apply this configuration")
        return see("/review")

    @pages.get("/services/{service}/disable")
    async def disable_page(request: Request, service: str, who: Visitor = Depends(guards.operator)):
        """Switch a service off: asks what happens to its data first."""
        await _enabled(context, who.operator_id, service)
        return render.page(request, who, "disable.html", service=service, choices=DATA_CHOICES, problem=None)

    @pages.post("/services/{service}/disable")
    async def disable(request: Request, service: str, who: Visitor = Depends(guards.operator_form)):
        current = await _enabled(context, who.operator_id, service)
        choice = (await request.form()).get("data")
        if choice not in ("keep", "delete"):
            return render.page(
                request, who, "disable.html", status.HTTP_422_UNPROCESSABLE_CONTENT, service=service,
                choices=DATA_CHOICES, problem="Choose whether its data is kept or deleted.",
            )
        document = current.model_dump(mode="json", by_alias=True)
        document[service] |= {"enable": False, "dataOnDisable": choice}
        try:
            configuration = OperatorConfiguration.model_validate(document)
        except ValidationError as exc:
            problem = form.problems_by_field(exc).get(form.SERVICE_LEVEL) or str(exc)
            return render.page(
                request, who, "disable.html", status.HTTP_422_UNPROCESSABLE_CONTENT, service=service, choices=DATA_CHOICES,
                problem=f"{service_name(service)} is your only service ({problem}). To remove everything, delete your account.",
            )
        kept = "keeping its data" if choice == "keep" else "deleting its data for good"
        async with context.units.database.session() as session:
            await operators.save_draft(session, who.operator_id, configuration, f"Switch off {service_name(service)}, {kept}")
        return see("/review")

    @pages.get("/review")
    async def review(request: Request, who: Visitor = Depends(guards.operator)):
        """The plan of the draft, in words, before anything is deployed."""
        async with context.units.database.reader() as session:
            draft = await Panel(session).draft(who.operator_id)
        if draft is None:
            return see("/configure")
        document = json.loads(draft.configuration_json)
        try:
            plan = await context.planner.preview(who.operator_id, document)
        except Unavailable:
            return render.page(request, who, "review.html", status.HTTP_503_SERVICE_UNAVAILABLE, draft=draft, unavailable=True)
        if plan.problems:
            problems = {problem.field: problem.message for problem in plan.problems}
            return show_form(request, who, form.values_of(document, context.form), problems, status.HTTP_422_UNPROCESSABLE_CONTENT)
        services = describe_plan(plan.changes, plan.resources)
        return render.page(
            request, who, "review.html", draft=draft, unavailable=False, services=services,
            summary=plan_summary(services), reviewed=operators.draft_digest(draft),
        )

    @pages.post("/deploy")
    async def deploy(request: Request, who: Visitor = Depends(guards.operator_form)):
        reviewed = str((await request.form()).get("reviewed", ""))
        try:
            view = await recovery.deploy_reviewed(context, who.operator_id, reviewed, who.user.email, via="page")
        except operators.StaleDraft as exc:
            return render.page(request, who, "message.html", status.HTTP_409_CONFLICT, title="Review again", text=str(exc), link=("/review", "Review the plan"))
        except recovery.NotNow as exc:
            return render.page(request, who, "message.html", status.HTTP_409_CONFLICT, title="Not possible now", text=str(exc),
                               link=("/deployments", "Your history"))
        log.info("configuration deployed", operator_id=who.operator_id, deployment_id=view.id, revision=view.revision)
        return see(f"/deployments/{view.id}")

    return pages


async def _enabled(context: Context, operator_id: str, service: str) -> OperatorConfiguration:
    if service not in SERVICES:
        raise NotFound()
    async with context.units.database.session() as session:
        current = await operators.current_configuration(session, operator_id)
    if current is None or not current.service(service).enable:
        raise NotFound()
    return current
