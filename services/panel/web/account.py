"""The operator's home page, API tokens, and deleting the account."""

import json

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse

from contracts.configuration import SERVICES

from .. import accounts, operators
from ..adapters.store import Operator, Panel
from ..domain.accounts import PROVIDER_ADMIN
from ..domain.wording import DEPLOYMENT_STATES
from .context import Context
from .render import Renderer
from .security import Guards, Visitor


async def overview(context: Context, operator_id: str) -> dict:
    """What the home page shows: services and their addresses, the latest deployment, passwords not yet shown."""
    async with context.units.database.reader() as session:
        panel = Panel(session)
        operator = await session.get(Operator, operator_id)
        configuration = await operators.current_configuration(session, operator_id)
        latest = await panel.latest(operator_id)
        good = latest if latest is None or latest.state == "succeeded" else await panel.last_succeeded(operator_id)
        credentials = await panel.admin_accounts(operator_id)
        usage = await panel.usage(operator_id)
    urls = json.loads(good.urls_json) if good else {}
    services = [
        {"name": name, "enabled": configuration.service(name).enable, "url": urls.get(name)}
        for name in SERVICES
    ] if configuration else []
    return {
        "operator": operator,
        "configuration": configuration,
        "services": services,
        "latest": latest.as_dict() if latest else None,
        "accounts": credentials,
        "usage": usage,
        "states": DEPLOYMENT_STATES,
    }


def router(context: Context, render: Renderer, guards: Guards) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/")
    async def home(request: Request, who: Visitor = Depends(guards.visitor)):
        """The operator's home page (admins go to their operator list)."""
        if who.user is None:
            return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
        if who.user.role == PROVIDER_ADMIN:
            return RedirectResponse("/admin/operators", status.HTTP_303_SEE_OTHER)
        return render.page(request, who, "home.html", **await overview(context, who.operator_id))

    @pages.get("/account/token")
    async def token_page(request: Request, who: Visitor = Depends(guards.user)):
        """Make an API token for automation."""
        return render.page(request, who, "token.html", token=None)

    @pages.post("/account/token")
    async def token(request: Request, who: Visitor = Depends(guards.user_form)):
        async with context.units.database.session() as session:
            value = await accounts.create_token(session, who.user)
        await context.auditor.record(who.user.email, "api_token.created", who.user.operator_id or "")
        return render.page(request, who, "token.html", token=value)

    @pages.get("/account/delete")
    async def delete_page(request: Request, who: Visitor = Depends(guards.operator)):
        """Delete the account and everything it runs: asks for confirmation first."""
        return render.page(request, who, "delete_account.html", problem=None)

    @pages.post("/account/delete")
    async def delete(request: Request, who: Visitor = Depends(guards.operator_form)):
        form = await request.form()
        if str(form.get("confirm", "")).strip() != who.operator_id:
            return render.page(
                request, who, "delete_account.html", status.HTTP_422_UNPROCESSABLE_CONTENT,
                problem=f"Type your operator name, {who.operator_id}, to confirm.",
            )
        async with context.units() as uow:
            await operators.request_removal(who.operator_id, str(form.get("reason", ""))[:500], uow)
        await context.auditor.record(who.user.email, "account.removal_requested", who.operator_id, via="page")
        return RedirectResponse("/", status.HTTP_303_SEE_OTHER)

    return pages
