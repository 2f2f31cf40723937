"""The provider's view: every operator with their deployments' states and resource use (what their
last succeeded deployment holds, and the storage they use)."""

from fastapi import APIRouter, Depends, Request

from .. import operators
from ..adapters.accounts import Accounts
from ..adapters.store import Operator, Panel, Provider
from ..domain.wording import DEPLOYMENT_STATES
from .context import Context
from .render import Renderer
from .security import Guards, NotFound, Visitor


async def operator_detail(context: Context, operator_id: str) -> dict:
    async with context.units.database.reader() as session:
        operator = await session.get(Operator, operator_id)
        if operator is None:
            raise NotFound()
        panel = Panel(session)
        user = await Accounts(session).user_of_operator(operator_id)
        good = await panel.last_succeeded(operator_id)
        return {
            "operator": operator,
            "email": user.email if user else "",
            "configuration": await operators.current_configuration(session, operator_id),
            "deployments": [view.as_dict() for view in await panel.deployments(operator_id)],
            "usage": await panel.usage(operator_id),
            "holds": good.as_dict()["holds"] if good else None,
        }


def router(context: Context, render: Renderer, guards: Guards) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/admin/operators")
    async def operator_list(request: Request, who: Visitor = Depends(guards.admin)):
        """Every operator, the state of their latest deployment, what it holds and what storage they use."""
        async with context.units.database.reader() as session:
            rows = await Provider(session).operators()
        return render.page(request, who, "admin_operators.html", operators=rows, states=DEPLOYMENT_STATES)

    @pages.get("/admin/operators/{operator_id}")
    async def operator_page(request: Request, operator_id: str, who: Visitor = Depends(guards.admin)):
        """One operator: configuration, deployments, resources held, storage use."""
        return render.page(request, who, "admin_operator.html", states=DEPLOYMENT_STATES, **await operator_detail(context, operator_id))

    return pages
