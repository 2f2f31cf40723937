"""The operator's "Your directory" page: the connection identity keeps, the form to check or connect
it, "Sync now", and every sync's report. Mistakes are answered next to their field with what was
typed kept, except the bind password, which is never sent back."""

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse

from contracts.requests import DirectoryConnectionReply

from .. import directory
from ..domain import directory_form as words
from ..domain.form import FieldProblems
from .context import Context
from .render import Renderer
from .security import Guards, Visitor

PAGE = "page"
"""How an audit record says something was done from a page."""


def outcome(reply: DirectoryConnectionReply, connected: bool) -> dict:
    if not reply.ok:
        title = "Your directory could not be read:" if reply.problem else "No answer:"
        return {"ok": False, "title": title, "text": f"{(reply.error or '').rstrip('.')}. Nothing was saved."}
    if connected:
        return {"ok": True, "title": f"Connected: {directory.reached(reply)}.", "text": "Identity is syncing them now; the report appears below."}
    return {"ok": True, "title": f"Reached: {directory.reached(reply)}.", "text": "Nothing was saved: press Connect to keep it."}


def router(context: Context, render: Renderer, guards: Guards) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    async def show(request: Request, who: Visitor, code: int = 200, typed: dict | None = None, problems: dict | None = None,
                   result: dict | None = None, asked: str = ""):
        shown = await directory.overview(context, who.operator_id)
        connection = shown["connection"]
        values = {k: v for k, v in typed.items() if k != words.PASSWORD} if typed else words.values_of(connection and connection.parameters)
        return render.page(
            request, who, "directory.html", code, **shown, fields=words.FIELDS, labels=words.LABELS | {words.PASSWORD: "Bind password"},
            values=values, problems=problems or {}, outcome=result, asked=asked,
        )

    async def typed_in(request: Request) -> dict[str, str]:
        form = await request.form()
        return {f.name: str(form.get(f.name, "")) for f in words.FIELDS}

    async def answered(request: Request, who: Visitor, connecting: bool):
        typed = await typed_in(request)
        try:
            parameters, password = words.parameters_from(typed)
        except FieldProblems as exc:
            return await show(request, who, status.HTTP_422_UNPROCESSABLE_CONTENT, typed, exc.problems)
        if connecting:
            reply = await directory.connect(context, who.operator_id, who.user.email, parameters, password, via=PAGE)
        else:
            reply = await directory.check(context, who.operator_id, parameters, password)
        at_field = words.PROBLEM_FIELDS.get(reply.problem) if reply.problem else None
        problems = {at_field: reply.error or ""} if at_field else {}
        return await show(request, who, directory.answer_status(reply), typed, problems, outcome(reply, connecting))

    @pages.get("/directory")
    async def directory_page(request: Request, asked: str = "", who: Visitor = Depends(guards.operator)):
        """Your own directory: its connection, the form to check or change it, and the sync reports."""
        return await show(request, who, asked="sync" if asked == "sync" else "")

    @pages.post("/directory/check")
    async def check(request: Request, who: Visitor = Depends(guards.operator_form)):
        return await answered(request, who, connecting=False)

    @pages.post("/directory/connect")
    async def connect(request: Request, who: Visitor = Depends(guards.operator_form)):
        return await answered(request, who, connecting=True)

    @pages.post("/directory/sync")
    async def sync_now(request: Request, who: Visitor = Depends(guards.operator_form)):
        await directory.sync_now(context, who.operator_id, who.user.email, via=PAGE)
        return RedirectResponse("/directory?asked=sync", status.HTTP_303_SEE_OTHER)

    return pages
